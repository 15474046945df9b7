package dev.batchbuffer.examples.pubsub;

/**
 * A REST call that Pub/Sub answered with an error status: the whole request failed (a
 * {@code publish} request is all or nothing).
 */
public final class PubSubException extends Exception {
  private static final long serialVersionUID = 1L;

  /** The HTTP status. */
  private final int status;

  /**
   * Creates the exception.
   *
   * @param status the HTTP status
   * @param body the error body (Google's JSON error with its {@code status} name)
   */
  public PubSubException(int status, String body) {
    super("HTTP " + status + ": " + body);
    this.status = status;
  }

  /**
   * Returns the HTTP status.
   *
   * @return e.g. 404 for a missing topic, 429 when throttled
   */
  public int status() {
    return status;
  }

  /**
   * Returns whether a later attempt may succeed: 429 (resource exhausted), 500, 502, 503, 504, as
   * Google's client libraries retry {@code publish}.
   *
   * @return true to retry
   */
  public boolean retryable() {
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
  }
}
