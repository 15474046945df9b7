package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;

/** Sleeping on a {@link TimeSource}, so tests drive backoff and rate limits by hand; joining. */
public final class Waits {
  private Waits() {}

  /**
   * Waits for {@code t} to end, ignoring interrupts meanwhile and restoring the interrupt status
   * afterwards.
   *
   * @param t the thread
   */
  public static void joinUninterruptibly(Thread t) {
    boolean interrupted = false;
    for (; ; ) {
      try {
        t.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

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
