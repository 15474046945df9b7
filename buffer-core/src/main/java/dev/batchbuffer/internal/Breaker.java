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
    lock.lock();
    try {
      for (; ; ) {
        if (!open) {
          return 0;
        }
        long left = coolDownNanos - (time.nanoTime() - openedAt);
        if (left <= 0 && !probing) {
          probing = true;
          return 0;
        }
        if (!wait) {
          return Math.max(1, left);
        }
        if (probing) {
          probed.await(); // record() signals when the probe's outcome is known
        } else {
          long until = openedAt + coolDownNanos;
          lock.unlock();
          try {
            Waits.sleep(time, until - time.nanoTime());
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
