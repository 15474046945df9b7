package dev.batchbuffer.examples.results;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * An in-memory stand-in for the SQS {@code SendMessageBatch} call, with its shape: a request holds
 * entries with an id unique within the request, and the response lists the entries that succeeded
 * (with the message id the queue gave each) and those that failed (with a code, and whether the
 * sender is at fault), by entry id. A failed entry does not fail the request. Thread-safe.
 *
 * <p>What it fails: an entry whose body is empty ({@code InvalidMessageContents}, the sender's
 * fault, so retrying it is pointless); the next delivery of a body given to {@link #throttleOnce}
 * ({@code RequestThrottled}, not the sender's fault); and the next request after
 * {@link #failNextRequest} as a whole, with the given exception.
 */
public final class FakeSqs {

  /** One message of a request: {@code id} names it in the response. */
  public record Entry(String id, String body) {}

  /** A {@code SendMessageBatch} request. */
  public record SendMessageBatchRequest(String queueUrl, List<Entry> entries) {}

  /** An entry that was queued, with the id the queue gave its message. */
  public record Successful(String id, String messageId) {}

  /** An entry that was not queued. */
  public record Failed(String id, String code, boolean senderFault) {}

  /** A {@code SendMessageBatch} response. */
  public record SendMessageBatchResponse(List<Successful> successful, List<Failed> failed) {}

  private final List<SendMessageBatchRequest> requests = new CopyOnWriteArrayList<>();
  private final List<String> queued = new CopyOnWriteArrayList<>();
  private final Set<String> throttled = new HashSet<>();
  private final List<Exception> requestFailures = new ArrayList<>();
  private long nextMessageId;

  /**
   * Sends a batch of messages to a queue.
   *
   * @param request the queue and the entries
   * @return which entries were queued (with their message ids) and which failed
   * @throws IOException a request failure given to {@link #failNextRequest}
   */
  public synchronized SendMessageBatchResponse sendMessageBatch(SendMessageBatchRequest request)
      throws IOException {
    requests.add(request);
    if (!requestFailures.isEmpty()) {
      Exception e = requestFailures.remove(0);
      if (e instanceof IOException io) {
        throw io;
      }
      throw (RuntimeException) e;
    }
    List<Successful> ok = new ArrayList<>();
    List<Failed> failed = new ArrayList<>();
    for (Entry entry : request.entries()) {
      if (entry.body().isEmpty()) {
        failed.add(new Failed(entry.id(), "InvalidMessageContents", true));
      } else if (throttled.remove(entry.body())) {
        failed.add(new Failed(entry.id(), "RequestThrottled", false));
      } else {
        queued.add(entry.body());
        ok.add(new Successful(entry.id(), "msg-" + nextMessageId++));
      }
    }
    return new SendMessageBatchResponse(List.copyOf(ok), List.copyOf(failed));
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
   * @param failure what the request throws: an {@link IOException} or a runtime exception
   */
  public synchronized void failNextRequest(Exception failure) {
    if (!(failure instanceof IOException) && !(failure instanceof RuntimeException)) {
      throw new IllegalArgumentException("an IOException or a RuntimeException: " + failure);
    }
    requestFailures.add(failure);
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
}
