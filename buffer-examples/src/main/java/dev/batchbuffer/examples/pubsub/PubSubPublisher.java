package dev.batchbuffer.examples.pubsub;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.Config;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Options;
import dev.batchbuffer.Presets;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;

/**
 * Publishes messages to one Pub/Sub topic, one REST {@code publish} request per batch: the class to
 * copy. Batches are sized by {@link Presets#pubSubPublish} (1,000 messages, 10 MB per request and
 * per message), weighed by {@link PubSubMessage#encodedBytes()}: the JSON the request carries,
 * base64 included, so the limit holds on the HTTP body itself.
 *
 * <p>Why REST through {@code java.net.http} and not Google's client library: the library's
 * {@code Publisher} batches by itself (element count, bytes, delay) and would batch our batches
 * again, with its own linger, its own buffer and its own idea of failure; a user who wants this
 * buffer's policies, futures, dead-letter hook and stats would have to turn all of that off. REST
 * keeps one batching layer, keeps the request visible (one batch is one HTTP body the test can
 * measure), and adds no dependency (gRPC, protobuf, Guava) to the examples. For the real service,
 * {@link PubSubSettings#google} takes a supplier of access tokens.
 *
 * <p>A {@code publish} request is all or nothing: there are no per-message failures to retry alone.
 * A refused request is retried whole when the status says a later attempt may succeed (429, 5xx)
 * or the service could not be reached; a 4xx such as a missing topic (404) fails the batch at once.
 * A failed batch reaches the dead-letter hook and its futures fail with a
 * {@link DeliveryException} whose cause is the {@link PubSubException} or {@link IOException}. A
 * retried request whose first attempt did reach Pub/Sub may publish its messages twice: Pub/Sub is
 * at-least-once, and subscribers dedupe by message id or by a key of their own.
 */
public final class PubSubPublisher implements AutoCloseable {
  /** The bytes of a publish body around its messages: {@code {"messages":[]}}, less one comma. */
  static final long ENVELOPE_BYTES = 14;

  /** One weigher object, so every byte limit on it keeps one running weight. */
  private static final Weigher<PubSubMessage> WEIGHER = PubSubMessage::encodedBytes;

  private final Buffer<PubSubMessage> buffer;

  private PubSubPublisher(Buffer<PubSubMessage> buffer) {
    this.buffer = buffer;
  }

  /**
   * Starts a publisher.
   *
   * @param rest the REST client; the publisher uses it and does not close it
   * @param topic the topic id
   * @param policy the sizing: {@link #policy()} or {@link #policy(long)}
   * @param linger how long a partial batch waits for more messages
   * @param retry attempts and backoff; its {@code retryOn} is replaced by {@link #retryable}
   * @param deadLetter gets each batch that failed for good, with the failure, and each message over
   *     the size limit alone: the messages to keep somewhere (the futures also fail)
   * @param time the clock of the linger and the backoff ({@link TimeSource#system()})
   * @return the running publisher
   */
  public static PubSubPublisher start(PubSubRest rest, String topic,
      FlushPolicy<PubSubMessage> policy, Duration linger, RetryPolicy.Builder retry,
      BiConsumer<Exception, List<PubSubMessage>> deadLetter, TimeSource time) {
    Objects.requireNonNull(deadLetter, "deadLetter must not be null");
    FlushFunc<PubSubMessage> flush = FlushMiddleware.chain(publish(rest, topic),
        FlushMiddleware.retry(retry.retryOn(PubSubPublisher::retryable).build(), time));
    Config<PubSubMessage> config = Config.builder(flush)
        .policy(policy.or(FlushPolicy.age(linger)))
        .onFlushError(deadLetter)
        .onReject(tooBig -> deadLetter.accept(new IllegalArgumentException("a message of "
            + tooBig.encodedBytes() + " bytes (as JSON) is over the limit"), List.of(tooBig)))
        .build();
    return new PubSubPublisher(Buffer.start(config,
        Options.<PubSubMessage>builder().name("pubsub-" + topic).timeSource(time).build()));
  }

  /**
   * Returns the preset: 1,000 messages and 10 MB per request body, 10 MB per message, weighed as
   * JSON.
   *
   * @return the policy
   */
  public static FlushPolicy<PubSubMessage> policy() {
    return policy(Presets.PUBSUB_MAX_REQUEST_BYTES);
  }

  /**
   * Returns the preset with a smaller request limit (the whole HTTP body stays within it).
   *
   * @param maxRequestBytes the largest publish body, at most 10 MB
   * @return the policy
   */
  public static FlushPolicy<PubSubMessage> policy(long maxRequestBytes) {
    return Presets.pubSubPublish(WEIGHER)
        .or(FlushPolicy.bytes(WEIGHER, maxRequestBytes - ENVELOPE_BYTES));
  }

  /**
   * Returns the flush function: one {@code publish} request for the batch.
   *
   * @param rest the REST client
   * @param topic the topic id
   * @return the flush function
   */
  public static FlushFunc<PubSubMessage> publish(PubSubRest rest, String topic) {
    Objects.requireNonNull(rest, "rest must not be null");
    Objects.requireNonNull(topic, "topic must not be null");
    return batch -> rest.publish(topic, batch); // checks one message id per message
  }

  /**
   * Returns whether a failed request is worth another attempt: a status Google's libraries retry
   * (429, 500, 502, 503, 504) or no answer at all (an {@link IOException}).
   *
   * @param failure the failure of one attempt
   * @return true to retry
   */
  public static boolean retryable(Exception failure) {
    if (failure instanceof PubSubException e) {
      return e.retryable();
    }
    return failure instanceof IOException;
  }

  /**
   * Publishes a message, after at most the linger.
   *
   * @param message the message
   * @return completes when Pub/Sub has accepted it; or exceptionally with a
   *     {@link DeliveryException}: {@code FAILED} (after the retries) or {@code REJECTED} (over the
   *     size limit)
   * @throws InterruptedException if interrupted while waiting for room in the buffer
   * @throws IllegalStateException if the publisher is closed
   */
  public CompletableFuture<Void> publish(PubSubMessage message) throws InterruptedException {
    return buffer.submit(Objects.requireNonNull(message, "message must not be null"));
  }

  /**
   * Returns the buffer's counters.
   *
   * @return a snapshot
   */
  public BufferStats stats() {
    return buffer.stats();
  }

  /** Publishes everything accepted (with its retries) and returns after the last request. */
  @Override
  public void close() {
    buffer.close();
  }
}
