package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/** A circuit breaker's state machine: CLOSED -> OPEN -> HALF_OPEN (one probe) -> CLOSED or OPEN. Thread-safe. */
public final class Breaker {
  private final ReentrantLock lock = new ReentrantLock();
  /** Signalled when a recorded outcome may let waiting callers go. */
  private final Condition probed = lock.newCondition();
  private final int threshold;
  private final long coolDownNanos;
  private final TimeSource time;
  private int failures;
  private boolean open;
  private boolean probing;
  private long openedAt;

  /**
   * Creates a closed breaker.
   *
   * @param threshold consecutive failures that open it
   * @param coolDownNanos how long it stays open before a probe
   * @param time the clock of the cool-down
   */
  public Breaker(int threshold, long coolDownNanos, TimeSource time) {
    this.threshold = threshold;
    this.coolDownNanos = coolDownNanos;
    this.time = time;
  }

  /**
   * Asks for a call. Without {@code wait}, answers at once; with it, waits until a call may go:
   * through the cool-down on the clock, and while another call probes the backend, parked until
   * that probe's outcome is recorded (never spinning).
   *
   * @param wait whether to wait while the circuit is open
   * @return 0 if the call may go; else (only without {@code wait}) the nanoseconds until a probe may
   * @throws InterruptedException if interrupted while waiting
   */
  public long acquire(boolean wait) throws InterruptedException {
    return acquire(wait, Long.MAX_VALUE);
  }

  /** What {@link #acquire(boolean, long)} returns when the wait would cross the caller's deadline. */
  public static final long GAVE_UP = -1;

  /**
   * As {@link #acquire(boolean)}, but a waiting caller gives up once {@code timeLeftNanos} have
   * passed on the clock (its delivery timeout) without a call being permitted.
   *
   * @param wait whether to wait while the circuit is open
   * @param timeLeftNanos how long the caller may wait, or {@link Long#MAX_VALUE} for no limit
   * @return 0 if the call may go; {@link #GAVE_UP} if the caller's time ran out while it waited;
   *     else (only without {@code wait}) the nanoseconds until a probe may
   * @throws InterruptedException if interrupted while waiting
   */
  public long acquire(boolean wait, long timeLeftNanos) throws InterruptedException {
    long start = time.nanoTime();
    lock.lock();
    try {
      for (; ; ) {
        if (!open) {
          return 0;
        }
        long now = time.nanoTime();
        long left = coolDownNanos - (now - openedAt);
        if (left <= 0 && !probing) {
          probing = true;
          return 0;
        }
        if (!wait) {
          return Math.max(1, left);
        }
        long budget = timeLeftNanos == Long.MAX_VALUE ? Long.MAX_VALUE
            : timeLeftNanos - (now - start);
        if (budget <= 0) {
          return GAVE_UP;
        }
        if (probing) {
          probed.await(); // record() signals when the probe's outcome is known
        } else {
          lock.unlock();
          try {
            Waits.sleep(time, Math.min(left, budget));
          } finally {
            lock.lock();
          }
        }
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Records the outcome of a permitted call.
   *
   * @param success whether it succeeded
   */
  public void record(boolean success) {
    lock.lock();
    try {
      if (success) {
        failures = 0;
        open = false;
      } else if (probing || ++failures >= threshold) {
        open = true;
        openedAt = time.nanoTime();
        failures = Math.max(failures, threshold);
      }
      probing = false;
      probed.signalAll();
    } finally {
      lock.unlock();
    }
  }
}
