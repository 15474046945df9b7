package dev.batchbuffer.examples.results;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.examples.sqs.SqsEntryException;
import dev.batchbuffer.examples.sqs.SqsMessage;
import dev.batchbuffer.examples.sqs.SqsPublisher;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import software.amazon.awssdk.services.sqs.SqsClient;

/**
 * Sends messages to one queue in {@code SendMessageBatch} requests of up to ten entries and answers
 * each {@link #send} with the message id the queue gave it: the per-item results side of
 * {@link SqsPublisher}, which does the work (the same code runs against ElasticMQ in
 * {@code SqsIT}; {@code SqsSenderTest} runs it against {@link FakeSqs} on a manual clock). An entry
 * the response lists as failed fails on its own ({@link SqsEntryException}, with the code); the
 * retry middleware then sends only the failed entries again, unless the failure is the sender's
 * fault, and the ids of the retry complete their futures. A request that fails as a whole is
 * retried whole.
 *
 * <p>The retry decides on a partial failure by its first failed entry: in a batch where a
 * sender-fault entry comes before a throttled one, neither is retried.
 */
public final class SqsSender implements AutoCloseable {
  private final SqsPublisher publisher;

  private SqsSender(SqsPublisher publisher) {
    this.publisher = publisher;
  }

  /**
   * Starts a sender.
   *
   * @param sqs the queue service
   * @param queueUrl the queue
   * @param linger how long a partial batch waits for more messages
   * @param maxAttempts the most requests an entry is sent in (1: no retry)
   * @param backoff the wait before the first retry, doubled for each next one (with 20 % jitter)
   * @param time the clock of the linger and the backoff
   * @return the running sender
   */
  public static SqsSender start(SqsClient sqs, String queueUrl, Duration linger, int maxAttempts,
      Duration backoff, TimeSource time) {
    return new SqsSender(SqsPublisher.builder(sqs, queueUrl).linger(linger)
        .maxAttempts(maxAttempts).backoff(backoff).timeSource(time).start());
  }

  /**
   * Sends a message.
   *
   * @param body the message body
   * @return completes with the message id; or exceptionally with a {@link DeliveryException}
   *     ({@code FAILED}) whose cause is the entry's {@link SqsEntryException}, or the request's
   *     failure, after the retries
   * @throws InterruptedException if interrupted while waiting for room
   * @throws IllegalStateException if the sender is closed
   */
  public CompletableFuture<String> send(String body) throws InterruptedException {
    return publisher.send(SqsMessage.of(Objects.requireNonNull(body, "body must not be null")));
  }

  /** Sends everything accepted and returns after the last request. */
  @Override
  public void close() {
    publisher.close();
  }
}
