package dev.batchbuffer.examples.results;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Options;
import dev.batchbuffer.Presets;
import dev.batchbuffer.ResultBuffer;
import dev.batchbuffer.ResultFlushFunc;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.examples.results.FakeSqs.Entry;
import dev.batchbuffer.examples.results.FakeSqs.Failed;
import dev.batchbuffer.examples.results.FakeSqs.SendMessageBatchRequest;
import dev.batchbuffer.examples.results.FakeSqs.SendMessageBatchResponse;
import dev.batchbuffer.examples.results.FakeSqs.Successful;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * Sends messages to one queue in {@code SendMessageBatch} requests of up to ten entries and answers
 * each {@link #send} with the message id the queue gave it. An entry the response lists as failed
 * fails on its own ({@link SqsEntryException}, with the code); the retry middleware then sends only
 * the failed entries again, unless the failure is the sender's fault, and the ids of the retry
 * complete their futures. A request that fails as a whole is retried whole.
 *
 * <p>The retry decides on a partial failure by its first failed entry: in a batch where a
 * sender-fault entry comes before a throttled one, neither is retried.
 */
public final class SqsSender implements AutoCloseable {

  /** An entry the queue refused, with the response's code. */
  public static final class SqsEntryException extends Exception {
    private static final long serialVersionUID = 1L;

    /** The response's code, e.g. {@code RequestThrottled}. */
    private final String code;
    /** Whether the sender is at fault: sending the entry again cannot help. */
    private final boolean senderFault;

    SqsEntryException(String code, boolean senderFault) {
      super(code + (senderFault ? " (sender fault)" : ""));
      this.code = code;
      this.senderFault = senderFault;
    }

    /**
     * Returns the response's code.
     *
     * @return the code
     */
    public String code() {
      return code;
    }

    /**
     * Returns whether the sender is at fault.
     *
     * @return true if retrying cannot help
     */
    public boolean senderFault() {
      return senderFault;
    }
  }

  private final ResultBuffer<String, String> buffer;

  private SqsSender(ResultBuffer<String, String> buffer) {
    this.buffer = buffer;
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
  public static SqsSender start(FakeSqs sqs, String queueUrl, Duration linger, int maxAttempts,
      Duration backoff, TimeSource time) {
    Objects.requireNonNull(sqs, "sqs must not be null");
    Objects.requireNonNull(queueUrl, "queueUrl must not be null");
    RetryPolicy notSenderFaults = RetryPolicy.builder()
        .maxAttempts(maxAttempts)
        .backoff(backoff, backoff.multipliedBy(16))
        .retryOn(e -> !(e instanceof SqsEntryException s && s.senderFault()))
        .build();
    ResultBuffer<String, String> buffer = ResultBuffer.builder(sendBatch(sqs, queueUrl))
        .config(c -> c.policy(Presets.<String>sqsSendMessageBatch(SqsSender::bytes)
            .or(FlushPolicy.age(linger))))
        .options(Options.<String>builder().timeSource(time).build())
        .middleware(FlushMiddleware.retry(notSenderFaults, time))
        .start();
    return new SqsSender(buffer);
  }

  /** One request per batch; each entry is answered by its id in the response. */
  static ResultFlushFunc<String, String> sendBatch(FakeSqs sqs, String queueUrl) {
    return (bodies, results) -> {
      List<Entry> entries = new ArrayList<>(bodies.size());
      for (int i = 0; i < bodies.size(); i++) {
        entries.add(new Entry(Integer.toString(i), bodies.get(i)));  // the id is the index
      }
      SendMessageBatchResponse response =
          sqs.sendMessageBatch(new SendMessageBatchRequest(queueUrl, entries));
      for (Successful ok : response.successful()) {
        results.succeed(Integer.parseInt(ok.id()), ok.messageId());
      }
      for (Failed failed : response.failed()) {
        results.fail(Integer.parseInt(failed.id()),
            new SqsEntryException(failed.code(), failed.senderFault()));
      }
    };  // an entry the response does not mention fails with an IllegalStateException
  }

  private static long bytes(String body) {
    return body.getBytes(StandardCharsets.UTF_8).length;
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
    return buffer.submit(Objects.requireNonNull(body, "body must not be null"));
  }

  /** Sends everything accepted and returns after the last request. */
  @Override
  public void close() {
    buffer.close();
  }
}
