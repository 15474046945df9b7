package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;
import java.util.concurrent.locks.ReentrantLock;

/** A circuit breaker's state machine: CLOSED -> OPEN -> HALF_OPEN (one probe) -> CLOSED or OPEN. Thread-safe. */
public final class Breaker {
  private final ReentrantLock lock = new ReentrantLock();
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
   * Asks whether a call may go now.
   *
   * @return 0 if it may, else how long until a probe may, in nanoseconds
   */
  public long permit() {
    lock.lock();
    try {
      if (!open) {
        return 0;
      }
      long left = coolDownNanos - (time.nanoTime() - openedAt);
      if (left <= 0 && !probing) {
        probing = true;
        return 0;
      }
      return Math.max(1, left);
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
    } finally {
      lock.unlock();
    }
  }
}
