package dev.batchbuffer;

import dev.batchbuffer.internal.SystemTimeSource;

/**
 * Where a buffer reads time and waits for deadlines: the linger deadline of a partial batch and the
 * timeout of {@link Buffer#offer(Object, java.time.Duration)}.
 *
 * <p>The {@linkplain #system() system} source reads {@link System#nanoTime()} and parks with
 * {@link java.util.concurrent.locks.LockSupport}. Tests use
 * {@link dev.batchbuffer.testing.ManualTimeSource}, whose time moves only when the test advances it,
 * so deadlines fire deterministically and no test sleeps. An implementation must be thread-safe: the
 * loop and every blocked producer call it concurrently.
 */
public interface TimeSource {

  /**
   * Returns the current time in nanoseconds from an arbitrary origin, like {@link System#nanoTime()}.
   * Only differences between two values are meaningful.
   *
   * @return the current time in nanoseconds
   */
  long nanoTime();

  /**
   * Parks the calling thread until it is unparked, it is interrupted, or for no reason at all, like
   * {@link java.util.concurrent.locks.LockSupport#park(Object)}. Callers re-check their condition.
   *
   * @param blocker the object the thread waits on, for diagnostics
   */
  void park(Object blocker);

  /**
   * Parks the calling thread until {@code nanos} of this source's time have passed, it is unparked,
   * it is interrupted, or for no reason at all, like
   * {@link java.util.concurrent.locks.LockSupport#parkNanos(Object, long)}. Callers re-check their
   * condition and the time.
   *
   * @param blocker the object the thread waits on, for diagnostics
   * @param nanos the longest wait in this source's nanoseconds; returns at once if not positive
   */
  void parkNanos(Object blocker, long nanos);

  /**
   * Parks the calling thread until this source's time reaches {@code deadline}, it is unparked, it
   * is interrupted, or for no reason at all. Callers re-check their condition and the time. The
   * default parks for {@code deadline - nanoTime()}; a source whose time can jump (a manual clock)
   * overrides it, so that a jump between the caller's reading of the time and its parking is never
   * missed.
   *
   * @param blocker the object the thread waits on, for diagnostics
   * @param deadline the time, in this source's nanoseconds, to wait until; returns at once if it
   *     has passed
   */
  default void parkUntil(Object blocker, long deadline) {
    long nanos = deadline - nanoTime();
    if (nanos > 0) {
      parkNanos(blocker, nanos);
    }
  }

  /**
   * Returns the time source backed by {@link System#nanoTime()} and
   * {@link java.util.concurrent.locks.LockSupport}.
   *
   * @return the shared system time source
   */
  static TimeSource system() {
    return SystemTimeSource.INSTANCE;
  }
}
