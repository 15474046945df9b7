package dev.batchbuffer.internal;

import dev.batchbuffer.FlowControl;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.internal.jfr.Events;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The state of one buffer's {@link FlowControl}: the AIMD limit on flushes in flight, the adapted
 * rate and its pacing. Thread-safe: the loop reports outcomes and reserves the rate, flush threads
 * report throttled attempts (a retry inside a flush).
 *
 * <p>Windows. {@code generation} counts the cuts. A flush remembers the generation it started in;
 * a throttle it reports cuts only if no cut happened since (its generation is current), so the
 * flushes already in flight at a cut (a burst of throttled calls) cut once. After reporting, the
 * flush belongs to the current generation: its next attempt (a retry) is a new sample. Growth:
 * every {@code limit} successes make a window, after which the limit and the rate grow by a step.
 *
 * <p>Pacing (a virtual scheduling time, as GCRA): {@code nextFree} is when the next batch may be
 * handed over; handing over {@code n} items pushes it {@code n / rate} seconds on. A batch may go
 * as soon as {@code nextFree} has come, so the first batch after an idle period goes at once and
 * the items over any stretch of time stay within one batch of the rate.
 */
public final class FlowLimiter {
  private final FlowControl config;
  private final TimeSource time;
  private final String name;
  private final ReentrantLock lock = new ReentrantLock();

  // Guarded by lock; the volatile copies are for readers that take no lock (stats, dispatch).
  private int limit;
  private double rate;
  private long successes;
  private long generation;
  private long throttled;
  private long nextFree;
  private boolean paced;
  private volatile int limitView;
  private volatile double rateView;
  private volatile long throttledView;

  /**
   * Creates the state of a flow control, at its initial limit and rate.
   *
   * @param config the settings
   * @param time the buffer's clock, for pacing
   * @param name the buffer's name, for JFR events
   */
  public FlowLimiter(FlowControl config, TimeSource time, String name) {
    this.config = config;
    this.time = time;
    this.name = name;
    this.limit = config.initialLimit();
    this.rate = config.initialRate();
    this.limitView = limit;
    this.rateView = rate;
  }

  /**
   * Returns the current limit on flushes in flight. Any thread.
   *
   * @return in [minLimit, maxLimit]
   */
  public int limit() {
    return limitView;
  }

  /**
   * Returns the current rate. Any thread.
   *
   * @return items per second, or 0 if the rate is not adapted
   */
  public double rate() {
    return rateView;
  }

  /**
   * Returns how many throttled flushes or attempts were reported (whether they cut or not). Any
   * thread.
   *
   * @return the count
   */
  public long throttledCount() {
    return throttledView;
  }

  /**
   * Returns the generation a flush starting now belongs to. Any thread.
   *
   * @return the number of cuts so far
   */
  public long generation() {
    lock.lock();
    try {
      return generation;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Returns whether {@code failure} (or a cause) counts as throttling.
   *
   * @param failure what a flush or attempt threw
   * @return true if throttled
   */
  public boolean isThrottled(@Nullable Throwable failure) {
    return config.isThrottled(failure);
  }

  /** A flush succeeded: one more success in the window; a full window grows the limit and rate. */
  public void succeeded() {
    int newLimit;
    double newRate;
    lock.lock();
    try {
      if (++successes < limit) {
        return;
      }
      successes = 0;
      newLimit = Math.min(config.maxLimit(), limit + config.increase());
      newRate = config.hasRate() ? Math.min(config.maxRate(), rate + config.rateIncrease()) : 0;
      if (newLimit == limit && newRate == rate) {
        return;
      }
      limit = newLimit;
      rate = newRate;
      limitView = newLimit;
      rateView = newRate;
    } finally {
      lock.unlock();
    }
    record(newLimit, newRate, "increase");
  }

  /**
   * A flush or attempt of {@code startedIn} was throttled: cuts the limit and rate unless a cut
   * happened since that generation.
   *
   * @param startedIn the generation the flush or attempt belonged to
   * @return the current generation, the next attempt's
   */
  public long throttled(long startedIn) {
    int newLimit;
    double newRate;
    long now;
    lock.lock();
    try {
      throttled++;
      throttledView = throttled;
      if (startedIn != generation) {
        return generation; // its window was already cut
      }
      generation++;
      successes = 0;
      newLimit = Math.max(config.minLimit(), (int) (limit * config.decreaseFactor()));
      newRate = config.hasRate() ? Math.max(config.minRate(), rate * config.decreaseFactor()) : 0;
      limit = newLimit;
      rate = newRate;
      limitView = newLimit;
      rateView = newRate;
      now = generation;
    } finally {
      lock.unlock();
    }
    record(newLimit, newRate, "throttled");
    return now;
  }

  /**
   * Reserves the rate for a batch: returns how long to wait before it may be handed over, or 0
   * and takes its items' time. Loop thread.
   *
   * @param items the batch's size
   * @return nanoseconds to wait (then ask again); 0 when it may go now
   */
  public long reserve(int items) {
    if (!config.hasRate()) {
      return 0;
    }
    long now = time.nanoTime();
    lock.lock();
    try {
      if (!paced) {
        paced = true;
        nextFree = now;
      }
      long wait = nextFree - now;
      if (wait > 0) {
        return wait;
      }
      long cost = (long) Math.ceil(items * 1e9 / rate);
      nextFree = Math.max(nextFree, now) + cost; // no credit for idle time
      return 0;
    } finally {
      lock.unlock();
    }
  }

  private void record(int newLimit, double newRate, String cause) {
    if (Events.PRESENT) {
      Events.flowLimit(name, newLimit, newRate, cause);
    }
  }
}
