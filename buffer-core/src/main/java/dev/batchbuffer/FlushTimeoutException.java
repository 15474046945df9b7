package dev.batchbuffer;

import java.time.Duration;

/** A flush that did not return within {@link FlushMiddleware#timeout}'s limit; it was interrupted. */
public class FlushTimeoutException extends Exception {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param limit the time the flush was given
   * @param items the size of the batch
   */
  public FlushTimeoutException(Duration limit, int items) {
    super("flush of " + items + " items did not return within " + limit + "; interrupted");
  }
}
