package dev.batchbuffer.examples.sqs;

import dev.batchbuffer.BufferStats;
import dev.batchbuffer.CloseResult;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Options;
import dev.batchbuffer.Presets;
import dev.batchbuffer.ResultBuffer;
import dev.batchbuffer.ResultFlushFunc;
import dev.batchbuffer.Results;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.services.sqs.SqsClient;
import software.amazon.awssdk.services.sqs.model.BatchResultErrorEntry;
import software.amazon.awssdk.services.sqs.model.MessageAttributeValue;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequest;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequestEntry;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchResponse;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchResultEntry;

/**
 * Sends messages to one SQS queue, each batch as one {@code SendMessageBatch} request sized by
 * {@link Presets#sqsSendMessageBatch(dev.batchbuffer.Weigher, int, long, long)} (10 entries, 1 MiB
 * for the request and per message, by default), and answers each {@link #send} with the message id
 * the queue gave it.
 *
 * <p>Each entry's id is its position in the batch, so the response's per-entry results map back to
 * the batch's items. An entry the response lists as failed fails on its own
 * ({@link SqsEntryException}, with the code); {@link FlushMiddleware#retry} then sends only the
 * failed entries again, in their order, unless the queue says the sender is at fault (a body with
 * characters SQS forbids, say): those are not retried. A request that fails as a whole (the
 * network, a 5xx, throttling) is retried whole; one refused for a client error (4xx other than
 * throttling, such as a queue that does not exist) is not. What is still failed after the last
 * attempt completes its future exceptionally and reaches the dead-letter hook, with the cause.
 * The retry decides on a partial failure by its first failed entry: in a batch where a
 * sender-fault entry comes before a throttled one, neither is retried.
 *
 * <p>Thread-safe: any number of producers may call {@link #send}. The client is the caller's: the
 * publisher does not close it. Build one with {@link SqsConnection#newClient}.
 */
public final class SqsPublisher implements AutoCloseable {
  private final ResultBuffer<SqsMessage, String> buffer;

  private SqsPublisher(ResultBuffer<SqsMessage, String> buffer) {
    this.buffer = buffer;
  }

  /**
   * Starts a builder.
   *
   * @param sqs the client
   * @param queueUrl the queue's URL
   * @return a builder with the defaults
   */
  public static Builder builder(SqsClient sqs, String queueUrl) {
    return new Builder(Objects.requireNonNull(sqs, "sqs must not be null"),
        Objects.requireNonNull(queueUrl, "queueUrl must not be null"));
  }

  /**
   * Sends a message.
   *
   * @param message the message
   * @return completes with the message id; or exceptionally with a {@link DeliveryException}
   *     ({@code FAILED}) whose cause is the entry's {@link SqsEntryException}, or the request's
   *     failure, after the retries; or ({@code REJECTED}) if the message is larger than the
   *     per-message limit
   * @throws InterruptedException if interrupted while waiting for room
   * @throws IllegalStateException if the publisher is closed
   */
  public CompletableFuture<String> send(SqsMessage message) throws InterruptedException {
    return buffer.submit(Objects.requireNonNull(message, "message must not be null"));
  }

  /**
   * Returns the buffer's counters: how many messages were accepted, delivered, failed, rejected.
   *
   * @return a snapshot
   */
  public BufferStats stats() {
    return buffer.stats();
  }

  /** Sends everything accepted and returns after the last request. */
  @Override
  public void close() {
    buffer.close();
  }

  /**
   * Sends what it can within {@code timeout}; what is left is returned and its futures fail.
   *
   * @param timeout how long the drain may take
   * @return whether everything was drained, and what was not
   */
  public CloseResult<SqsMessage> close(Duration timeout) {
    return buffer.close(timeout);
  }

  /**
   * Returns the {@code SendMessageBatch} request of {@code messages}: entry {@code i} has the id
   * {@code "i"}.
   *
   * @param queueUrl the queue's URL
   * @param messages the batch, at most 10
   * @return the request
   */
  public static SendMessageBatchRequest request(String queueUrl, List<SqsMessage> messages) {
    List<SendMessageBatchRequestEntry> entries = new ArrayList<>(messages.size());
    for (int i = 0; i < messages.size(); i++) {
      SqsMessage m = messages.get(i);
      var entry = SendMessageBatchRequestEntry.builder().id(Integer.toString(i)).messageBody(m.body());
      if (!m.attributes().isEmpty()) {
        Map<String, MessageAttributeValue> attributes = new java.util.HashMap<>();
        m.attributes().forEach((name, value) -> attributes.put(name,
            MessageAttributeValue.builder().dataType(SqsMessage.STRING).stringValue(value).build()));
        entry.messageAttributes(attributes);
      }
      entries.add(entry.build());
    }
    return SendMessageBatchRequest.builder().queueUrl(queueUrl).entries(entries).build();
  }

  /**
   * Answers each entry of a batch from the response: a successful one with its message id, a
   * failed one with its {@link SqsEntryException}. An entry the response does not mention is left
   * unanswered, and the buffer fails it (so the retry sends it again). An id the request never had
   * (not a number, or outside the batch) is ignored, and an entry listed twice keeps its first
   * answer, successes first: throwing instead would fail the whole batch and send the entries the
   * queue did take a second time.
   *
   * @param response the response to {@link #request}
   * @param results the batch's answers
   */
  public static void answer(SendMessageBatchResponse response, Results<String> results) {
    boolean[] answered = new boolean[results.size()];
    for (SendMessageBatchResultEntry ok : response.successful()) {
      int i = position(ok.id(), answered);
      if (i >= 0) {
        answered[i] = true;
        results.succeed(i, ok.messageId());
      }
    }
    for (BatchResultErrorEntry failed : response.failed()) {
      int i = position(failed.id(), answered);
      if (i >= 0) {
        answered[i] = true;
        results.fail(i, entryException(failed));
      }
    }
  }

  /**
   * Returns the positions of the entries a response does not report as queued, ascending: those it
   * lists as failed and those it does not mention (never assume an entry arrived). Ids the request
   * never had are ignored; an id listed twice counts once.
   *
   * @param response the response to {@link #request}
   * @param entries how many entries the request had
   * @return the positions to report failed, e.g. in a {@code PartialFlushException}
   */
  public static List<Integer> notQueued(SendMessageBatchResponse response, int entries) {
    boolean[] queued = new boolean[entries];
    for (SendMessageBatchResultEntry ok : response.successful()) {
      int i = position(ok.id(), queued);
      if (i >= 0) {
        queued[i] = true;
      }
    }
    List<Integer> failed = new ArrayList<>();
    for (int i = 0; i < entries; i++) {
      if (!queued[i]) {
        failed.add(i);
      }
    }
    return failed;
  }

  /** The entry an id names, or -1 for an id the request never had or one already answered. */
  private static int position(@Nullable String id, boolean[] answered) {
    if (id == null || id.isEmpty() || id.length() > 9
        || !id.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return -1;
    }
    int i = Integer.parseInt(id);
    return i < answered.length && !answered[i] ? i : -1;
  }

  /**
   * Returns the exception of one failed entry.
   *
   * @param failed the response's entry
   * @return the exception, with the code and whether the sender is at fault
   */
  public static SqsEntryException entryException(BatchResultErrorEntry failed) {
    String code = Objects.requireNonNullElse(failed.code(), "Unknown");
    return new SqsEntryException(code, Objects.requireNonNullElse(failed.message(), code),
        Boolean.TRUE.equals(failed.senderFault()));
  }

  /**
   * Returns whether a failure may pass if sent again: not an entry refused by the sender's fault,
   * nor a request refused for a client error other than throttling.
   *
   * @param failure an entry's or a request's failure
   * @return true if a retry may help
   */
  public static boolean retryable(Exception failure) {
    if (failure instanceof SqsEntryException entry) {
      return !entry.senderFault();
    }
    if (failure instanceof AwsServiceException service) {
      int status = service.statusCode();
      return status >= 500 || status == 429 || service.isThrottlingException();
    }
    return true;  // the network, a timeout: the request may not have arrived
  }

  /** One request per batch; each entry is answered by its result in the response. */
  static ResultFlushFunc<SqsMessage, String> sendBatch(SqsClient sqs, String queueUrl) {
    return (messages, results) -> answer(sqs.sendMessageBatch(request(queueUrl, messages)), results);
  }

  /** Settings of a publisher; every one has a default. */
  public static final class Builder {
    private final SqsClient sqs;
    private final String queueUrl;
    private Duration linger = Duration.ofMillis(100);
    private int maxAttempts = 3;
    private Duration backoff = Duration.ofMillis(100);
    private TimeSource time = TimeSource.system();
    private BiConsumer<? super Exception, ? super List<SqsMessage>> deadLetter = (e, batch) -> { };
    private int maxEntries = Presets.SQS_MAX_ENTRIES;
    private long maxRequestBytes = Presets.SQS_MAX_REQUEST_BYTES;
    private long maxMessageBytes = Presets.SQS_MAX_MESSAGE_BYTES;

    private Builder(SqsClient sqs, String queueUrl) {
      this.sqs = sqs;
      this.queueUrl = queueUrl;
    }

    /**
     * Sets how long a partial batch waits for more messages; 100 ms by default.
     *
     * @param linger the wait
     * @return this builder
     */
    public Builder linger(Duration linger) {
      this.linger = Objects.requireNonNull(linger, "linger must not be null");
      return this;
    }

    /**
     * Sets the most requests an entry is sent in (1: no retry); 3 by default.
     *
     * @param maxAttempts the attempts
     * @return this builder
     */
    public Builder maxAttempts(int maxAttempts) {
      this.maxAttempts = maxAttempts;
      return this;
    }

    /**
     * Sets the wait before the first retry, doubled for each next one up to 16 times it (with
     * jitter); 100 ms by default.
     *
     * @param backoff the first wait
     * @return this builder
     */
    public Builder backoff(Duration backoff) {
      this.backoff = Objects.requireNonNull(backoff, "backoff must not be null");
      return this;
    }

    /**
     * Sets the clock of the linger and the backoff; the system's by default.
     *
     * @param time the clock
     * @return this builder
     */
    public Builder timeSource(TimeSource time) {
      this.time = Objects.requireNonNull(time, "time must not be null");
      return this;
    }

    /**
     * Sets the dead-letter hook: it receives each message still failed after the last attempt,
     * with the failure (a message refused as too large goes to its future only). Nothing by
     * default: the futures say it too.
     *
     * @param deadLetter the hook
     * @return this builder
     */
    public Builder deadLetter(BiConsumer<? super Exception, ? super List<SqsMessage>> deadLetter) {
      this.deadLetter = Objects.requireNonNull(deadLetter, "deadLetter must not be null");
      return this;
    }

    /**
     * Sets the queue's limits, for an endpoint whose limits differ from the SQS defaults (10
     * entries, 1 MiB per request and per message).
     *
     * @param maxEntries entries per request
     * @param maxRequestBytes bytes per request, all messages together
     * @param maxMessageBytes bytes per message
     * @return this builder
     * @throws IllegalArgumentException as {@link Presets#sqsSendMessageBatch(dev.batchbuffer.Weigher,
     *     int, long, long)} does
     */
    public Builder limits(int maxEntries, long maxRequestBytes, long maxMessageBytes) {
      Presets.sqsSendMessageBatch(SqsMessage::sizeInBytes, maxEntries, maxRequestBytes,
          maxMessageBytes);  // validates
      this.maxEntries = maxEntries;
      this.maxRequestBytes = maxRequestBytes;
      this.maxMessageBytes = maxMessageBytes;
      return this;
    }

    /**
     * Starts the publisher.
     *
     * @return the running publisher
     */
    public SqsPublisher start() {
      RetryPolicy retry = RetryPolicy.builder()
          .maxAttempts(maxAttempts)
          .backoff(backoff, backoff.multipliedBy(16))
          .retryOn(SqsPublisher::retryable)
          .build();
      FlushPolicy<SqsMessage> policy = Presets.<SqsMessage>sqsSendMessageBatch(
              SqsMessage::sizeInBytes, maxEntries, maxRequestBytes, maxMessageBytes)
          .or(FlushPolicy.age(linger));
      ResultBuffer<SqsMessage, String> buffer = ResultBuffer.builder(sendBatch(sqs, queueUrl))
          .config(c -> c.policy(policy).onFlushError(deadLetter))
          .options(Options.<SqsMessage>builder().timeSource(time).name("sqs " + queueUrl).build())
          .middleware(FlushMiddleware.retry(retry, time))
          .start();
      return new SqsPublisher(buffer);
    }
  }
}
