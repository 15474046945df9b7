package dev.batchbuffer.internal;

import dev.batchbuffer.DeliveryTimeoutException;
import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The delivery timeout of a buffer's items: validation at build time and the tests the dispatcher
 * and the middleware make against it. What is measured: a batch's items share one deadline, the
 * moment the batch took its first item (on the loop, from the channel) plus the timeout; so a
 * later item of the batch expires no later than its own timeout would say, but time an item spent
 * in the channel before the loop took it is not counted.
 */
public final class Deadlines {
  /** The longest delivery timeout: far beyond any use, and safe to add to a nanoTime. */
  public static final Duration MAX = Duration.ofDays(365);

  private Deadlines() {}

  /**
   * Checks a delivery timeout against the linger of the batches it bounds: a batch that lingers
   * its full time must still have time left for its first send, so the timeout must be longer.
   *
   * @param timeout the delivery timeout
   * @param linger the longest a partial batch waits
   * @param lingerName what the linger is, for the message ("flushInterval", "the policy's maxAge")
   * @return the timeout in nanoseconds
   * @throws IllegalArgumentException if the timeout is not longer than the linger
   */
  public static long check(Duration timeout, Duration linger, String lingerName) {
    if (timeout.compareTo(linger) <= 0) {
      throw new IllegalArgumentException("deliveryTimeout (" + timeout + ") must be longer than "
          + "the linger (" + lingerName + " " + linger + "): a batch that waits its full linger "
          + "would expire before it is sent");
    }
    return timeout.toNanos();
  }

  /**
   * Resolves a buffer's delivery timeout against its linger.
   *
   * @param timeout the delivery timeout, or null for none
   * @param flushInterval the configured linger
   * @param lingerNanos the linger that applies: {@code flushInterval}, or a policy's shorter age
   * @return the timeout in nanoseconds, or 0 for none
   * @throws IllegalArgumentException if the timeout is not longer than the linger
   */
  public static long of(@Nullable Duration timeout, Duration flushInterval, long lingerNanos) {
    if (timeout == null) {
      return 0;
    }
    return lingerNanos < flushInterval.toNanos()
        ? check(timeout, Duration.ofNanos(lingerNanos), "the policy's maxAge")
        : check(timeout, flushInterval, "flushInterval");
  }

  /**
   * Checks a delivery timeout on its own, as a builder's setter does.
   *
   * @param timeout the timeout
   * @return the timeout
   * @throws IllegalArgumentException if it is not in {@code (0, MAX]}
   */
  public static Duration range(Duration timeout) {
    Objects.requireNonNull(timeout, "deliveryTimeout must not be null");
    if (!timeout.isPositive() || timeout.compareTo(MAX) > 0) {
      throw new IllegalArgumentException(
          "deliveryTimeout must be in (0, " + MAX + "] (was " + timeout + ")");
    }
    return timeout;
  }

  /**
   * Returns whether a flush's failure says its items expired: a {@link DeliveryTimeoutException}
   * anywhere in its chain of causes (a retry's, a rate limit's, as wrapped by other middleware).
   *
   * @param failure what the flush threw
   * @return true if it carries an expiry
   */
  static boolean isExpiry(@Nullable Throwable failure) {
    Throwable t = failure;
    for (int depth = 0; t != null && depth < 16; depth++, t = t.getCause()) {
      if (t instanceof DeliveryTimeoutException) {
        return true;
      }
    }
    return false;
  }

  /**
   * The exception of items that expired.
   *
   * @param timeoutNanos the timeout
   * @param waitedNanos how long they waited
   * @param items how many
   * @param cause the last failure of their flush, or null
   * @return the exception
   */
  static DeliveryTimeoutException expired(long timeoutNanos, long waitedNanos, int items,
      @Nullable Throwable cause) {
    return new DeliveryTimeoutException(Duration.ofNanos(timeoutNanos),
        Duration.ofNanos(Math.max(0, waitedNanos)), items, cause);
  }
}
