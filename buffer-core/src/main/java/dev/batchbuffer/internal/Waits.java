package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;

/** Sleeping on a {@link TimeSource}, so tests drive backoff and rate limits by hand. */
public final class Waits {
  private Waits() {}

  /**
   * Sleeps {@code nanos} of the source's time.
   *
   * @param time the clock
   * @param nanos how long; returns at once if not positive
   * @throws InterruptedException if interrupted; the status is cleared
   */
  public static void sleep(TimeSource time, long nanos) throws InterruptedException {
    long deadline = time.nanoTime() + nanos;
    for (long left = nanos; left > 0; left = deadline - time.nanoTime()) {
      if (Thread.interrupted()) {
        throw new InterruptedException();
      }
      time.parkUntil(Waits.class, deadline);
    }
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
  }
}
