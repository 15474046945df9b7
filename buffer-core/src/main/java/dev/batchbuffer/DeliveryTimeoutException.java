package dev.batchbuffer;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * Items whose delivery timeout ({@link Options.Builder#deliveryTimeout},
 * {@link KeyedBuffer.Builder#deliveryTimeout}) passed before a flush of them succeeded: they are
 * not sent again (or at all, if their batch waited past it for a flush slot, its key's previous
 * flush or a rate limit). {@code onFlushError} receives it (or, when only some items of a batch
 * expired, a {@link PartialFlushException} caused by it), and their futures fail with
 * {@link DeliveryException.Reason#EXPIRED}.
 */
public class DeliveryTimeoutException extends Exception {
  private static final long serialVersionUID = 1L;

  /** The configured delivery timeout. */
  private final Duration timeout;
  /** How long the items had waited when they expired. */
  private final Duration waited;

  /**
   * Creates the exception.
   *
   * @param timeout the delivery timeout
   * @param waited how long the items had waited, from the moment their batch took its first item
   * @param items how many items expired
   * @param cause the last failure of a flush of them, if they were sent before, or null
   */
  public DeliveryTimeoutException(Duration timeout, Duration waited, int items,
      @Nullable Throwable cause) {
    super("delivery timeout of " + timeout + " passed for " + items + " items: they had waited "
        + waited + " since their batch took its first item; not sent again", cause);
    this.timeout = timeout;
    this.waited = waited;
  }

  /**
   * Returns the delivery timeout that passed.
   *
   * @return the configured timeout
   */
  public Duration timeout() {
    return timeout;
  }

  /**
   * Returns how long the items had waited when they expired, measured from the moment their
   * batch took its first item.
   *
   * @return at least {@link #timeout()}, or a little less when a retry stopped because the
   *     timeout would pass during its backoff
   */
  public Duration waited() {
    return waited;
  }
}
