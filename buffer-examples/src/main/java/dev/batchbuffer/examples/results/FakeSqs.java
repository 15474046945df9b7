package dev.batchbuffer.examples.results;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import software.amazon.awssdk.services.sqs.SqsClient;
import software.amazon.awssdk.services.sqs.model.BatchResultErrorEntry;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequest;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequestEntry;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchResponse;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchResultEntry;

/**
 * An in-memory {@link SqsClient} that answers {@code SendMessageBatch} only (every other call
 * throws {@link UnsupportedOperationException}), as SQS does: the response lists the entries that
 * succeeded (with the message id the queue gave each) and those that failed (with a code, and
 * whether the sender is at fault), by entry id. A failed entry does not fail the request.
 * Thread-safe.
 *
 * <p>What it fails: an entry whose body is empty ({@code InvalidMessageContents}, the sender's
 * fault, so retrying it is pointless); the next delivery of a body given to {@link #throttleOnce}
 * ({@code RequestThrottled}, not the sender's fault); and the next request after
 * {@link #failNextRequest} as a whole, with the given exception.
 */
public final class FakeSqs implements SqsClient {
  private final List<SendMessageBatchRequest> requests = new CopyOnWriteArrayList<>();
  private final List<String> queued = new CopyOnWriteArrayList<>();
  private final Set<String> throttled = new HashSet<>();
  private final List<RuntimeException> requestFailures = new ArrayList<>();
  private long nextMessageId;

  /**
   * Sends a batch of messages to a queue.
   *
   * @param request the queue and the entries
   * @return which entries were queued (with their message ids) and which failed
   */
  @Override
  public synchronized SendMessageBatchResponse sendMessageBatch(SendMessageBatchRequest request) {
    requests.add(request);
    if (!requestFailures.isEmpty()) {
      throw requestFailures.remove(0);
    }
    List<SendMessageBatchResultEntry> ok = new ArrayList<>();
    List<BatchResultErrorEntry> failed = new ArrayList<>();
    for (SendMessageBatchRequestEntry entry : request.entries()) {
      if (entry.messageBody().isEmpty()) {
        failed.add(BatchResultErrorEntry.builder().id(entry.id()).code("InvalidMessageContents")
            .message("empty body").senderFault(true).build());
      } else if (throttled.remove(entry.messageBody())) {
        failed.add(BatchResultErrorEntry.builder().id(entry.id()).code("RequestThrottled")
            .message("slow down").senderFault(false).build());
      } else {
        queued.add(entry.messageBody());
        ok.add(SendMessageBatchResultEntry.builder().id(entry.id())
            .messageId("msg-" + nextMessageId++).build());
      }
    }
    return SendMessageBatchResponse.builder().successful(ok).failed(failed).build();
  }

  /**
   * Fails the next delivery of {@code body} with {@code RequestThrottled}.
   *
   * @param body the message body
   */
  public synchronized void throttleOnce(String body) {
    throttled.add(Objects.requireNonNull(body));
  }

  /**
   * Fails the next request as a whole, as a network error or a 5xx would.
   *
   * @param failure what the request throws
   */
  public synchronized void failNextRequest(RuntimeException failure) {
    requestFailures.add(Objects.requireNonNull(failure));
  }

  /**
   * Returns every request received, in order.
   *
   * @return the requests
   */
  public List<SendMessageBatchRequest> requests() {
    return List.copyOf(requests);
  }

  /**
   * Returns the bodies queued, in order.
   *
   * @return the queued bodies
   */
  public List<String> queued() {
    return List.copyOf(queued);
  }

  @Override
  public String serviceName() {
    return SERVICE_NAME;
  }

  @Override
  public void close() {}
}
