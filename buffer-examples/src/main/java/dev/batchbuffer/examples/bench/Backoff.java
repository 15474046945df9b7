package dev.batchbuffer.examples.bench;

import java.util.concurrent.locks.LockSupport;

/**
 * How the lock-free contenders wait without a lock to wait on: spin, then yield, then park for a
 * fixed time, as JCTools' and Agrona's idle strategies do. A thread calls {@link #pause} with the
 * number of failed attempts so far and starts again from zero after a success.
 */
final class Backoff {
  /** Attempts that only spin. */
  static final int SPINS = 100;
  /** Attempts after the spins that yield the processor. */
  static final int YIELDS = 10;
  /** What a producer parks for once spinning and yielding did not help: "briefly". */
  static final long PRODUCER_PARK_NANOS = 10_000;

  private Backoff() {}

  /**
   * Waits a little, more the more attempts failed.
   *
   * @param attempt failed attempts so far, from 0
   * @param parkNanos what to park for past the spins and yields
   */
  // Yielding is the point of a backoff: it is what a competent hand-written spin loop does.
  @SuppressWarnings("ThreadPriorityCheck")
  static void pause(int attempt, long parkNanos) {
    if (attempt < SPINS) {
      Thread.onSpinWait();
    } else if (attempt < SPINS + YIELDS) {
      Thread.yield();
    } else {
      LockSupport.parkNanos(parkNanos);
    }
  }
}
