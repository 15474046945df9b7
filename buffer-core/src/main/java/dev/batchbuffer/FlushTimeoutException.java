package dev.batchbuffer;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

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

  /**
   * Creates the exception for a call that answered the interrupt with {@code cause}.
   *
   * @param limit the time limit
   * @param items the batch size
   * @param cause what the interrupted call threw
   */
  public FlushTimeoutException(Duration limit, int items, @Nullable Throwable cause) {
    super("flush of " + items + " items did not return within " + limit + "; interrupted", cause);
  }
}
