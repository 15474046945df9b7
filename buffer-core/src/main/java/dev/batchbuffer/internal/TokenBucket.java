package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;
import java.util.concurrent.locks.ReentrantLock;

/** A token bucket that lets its balance go negative and reports the wait that repays it. Thread-safe. */
public final class TokenBucket {
  private final ReentrantLock lock = new ReentrantLock();
  private final double perNano;
  private final double capacity;
  private final TimeSource time;
  private double tokens;
  private long last;

  /**
   * Creates a full bucket.
   *
   * @param perSecond the refill rate and the burst size
   * @param time the clock of the refill
   */
  public TokenBucket(double perSecond, TimeSource time) {
    this.perNano = perSecond / 1e9;
    this.capacity = Math.max(1, perSecond);
    this.time = time;
    this.tokens = capacity;
    this.last = time.nanoTime();
  }

  /**
   * Takes {@code n} tokens.
   *
   * @param n the tokens
   * @return how long to wait before using them, in nanoseconds
   */
  public long take(double n) {
    if (Double.isInfinite(perNano)) {
      return 0;
    }
    lock.lock();
    try {
      long now = time.nanoTime();
      tokens = Math.min(capacity, tokens + (now - last) * perNano);
      last = now;
      tokens -= n;
      return tokens >= 0 ? 0 : (long) Math.ceil(-tokens / perNano);
    } finally {
      lock.unlock();
    }
  }
}

