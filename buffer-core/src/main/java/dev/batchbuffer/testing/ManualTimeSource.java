package dev.batchbuffer.testing;

import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A {@link TimeSource} whose time moves only when a test {@linkplain #advance(Duration) advances}
 * it. Threads waiting for a deadline wake when an advance reaches it; nothing depends on the wall
 * clock, so a linger test neither sleeps nor flakes. Thread-safe.
 *
 * {@snippet file="dev/batchbuffer/snippets/TestKitSnippetsTest.java" region="manual-time"}
 */
public final class ManualTimeSource implements TimeSource {
  /** The longest single advance: what a {@code long} of nanoseconds holds (about 292 years). */
  private static final Duration MAX_ADVANCE = Duration.ofNanos(Long.MAX_VALUE);

  private final AtomicLong now;
  /** Threads parked on this source, and whether each waits for a deadline. */
  private final Map<Thread, Boolean> parked = new ConcurrentHashMap<>();

  /** Creates a source that starts at time 0. */
  public ManualTimeSource() {
    this(0L);
  }

  /**
   * Creates a source that starts at {@code startNanos}; a large value checks that code compares
   * times by difference, as {@link System#nanoTime()} requires.
   *
   * @param startNanos the initial {@link #nanoTime()}
   */
  public ManualTimeSource(long startNanos) {
    this.now = new AtomicLong(startNanos);
  }

  @Override
  public long nanoTime() {
    return now.get();
  }

  /**
   * Moves time forward and wakes every thread parked on this source, so each re-checks its
   * deadline. A thread it wakes stops counting as a {@linkplain #waiters() waiter} at once and
   * counts again only when it parks again: so after an advance, {@link #awaitTimedWaiters} and
   * {@link #awaitWaiters} return only once the woken threads have handled the new time and parked
   * again, and a test can check that something did <em>not</em> happen (nothing was flushed yet)
   * without racing a thread that has not run since the advance.
   *
   * @param amount how far, not negative, at most {@code Long.MAX_VALUE} nanoseconds
   * @throws IllegalArgumentException if {@code amount} is negative or longer than that
   */
  public void advance(Duration amount) {
    Objects.requireNonNull(amount, "amount must not be null");
    if (amount.isNegative()) {
      throw new IllegalArgumentException("amount must be >= 0 (was " + amount + ")");
    }
    if (amount.compareTo(MAX_ADVANCE) > 0) {
      throw new IllegalArgumentException("amount must be <= " + MAX_ADVANCE + " (was " + amount
          + ")");
    }
    advanceNanos(amount.toNanos());
  }

  /**
   * Moves time forward by {@code amount} {@code unit}s; see {@link #advance(Duration)}.
   *
   * @param amount how far, not negative, at most {@code Long.MAX_VALUE} nanoseconds
   * @param unit the unit of {@code amount}
   * @throws IllegalArgumentException if {@code amount} is negative or longer than that
   */
  public void advance(long amount, TimeUnit unit) {
    Objects.requireNonNull(unit, "unit must not be null");
    if (amount < 0) {
      throw new IllegalArgumentException("amount must be >= 0 (was " + amount + ")");
    }
    if (amount > unit.convert(Long.MAX_VALUE, TimeUnit.NANOSECONDS)) {
      throw new IllegalArgumentException("amount must be <= " + MAX_ADVANCE + " (was " + amount
          + " " + unit + ")");
    }
    advanceNanos(unit.toNanos(amount));
  }

  private void advanceNanos(long nanos) {
    now.addAndGet(nanos);
    // Each woken thread is unregistered before it is woken: it counts again once it parks again.
    // (The map's iterators are weakly consistent: removing through one is safe.)
    for (Iterator<Thread> it = parked.keySet().iterator(); it.hasNext(); ) {
      Thread t = it.next();
      it.remove();
      LockSupport.unpark(t);
    }
  }

  /**
   * Returns how many threads are parked on this source waiting for a deadline (a buffer loop with a
   * partial batch, a producer in a timed offer): a test waits for this before it advances time.
   * A thread woken by an {@link #advance} is not counted until it parks again; one woken otherwise
   * (an unpark) is counted until it runs.
   *
   * @return the number of threads in a timed wait
   */
  public int timedWaiters() {
    int n = 0;
    for (Boolean timed : parked.values()) {
      if (timed) {
        n++;
      }
    }
    return n;
  }

  /**
   * Returns how many threads are parked on this source, with or without a deadline.
   *
   * @return the number of parked threads
   */
  public int waiters() {
    return parked.size();
  }

  /**
   * Waits, in real time, until at least {@code n} threads are parked on this source waiting for a
   * deadline (see {@link #timedWaiters()}): a test calls it before it {@linkplain #advance advances}
   * time, so the advance reaches a deadline that is already armed. Returns as soon as the count is
   * reached, at once if it already is; it checks about every millisecond.
   *
   * @param n how many timed waiters to wait for, at least 0
   * @param timeout the longest wait, in real time
   * @throws TimeoutException if fewer than {@code n} threads wait for a deadline when the timeout
   *     passes; the message gives the counts seen
   * @throws InterruptedException if the calling thread is interrupted while waiting
   * @throws IllegalArgumentException if {@code n} is negative
   */
  public void awaitTimedWaiters(int n, Duration timeout)
      throws InterruptedException, TimeoutException {
    awaitCount(n, timeout, true);
  }

  /**
   * Waits, in real time, until at least {@code n} threads are parked on this source, with or without
   * a deadline (see {@link #waiters()}): for instance a producer blocked in {@code add} on a full
   * channel, or a loop waiting for its first item. Returns as soon as the count is reached, at once
   * if it already is; it checks about every millisecond.
   *
   * @param n how many parked threads to wait for, at least 0
   * @param timeout the longest wait, in real time
   * @throws TimeoutException if fewer than {@code n} threads are parked when the timeout passes;
   *     the message gives the counts seen
   * @throws InterruptedException if the calling thread is interrupted while waiting
   * @throws IllegalArgumentException if {@code n} is negative
   */
  public void awaitWaiters(int n, Duration timeout) throws InterruptedException, TimeoutException {
    awaitCount(n, timeout, false);
  }

  private void awaitCount(int n, Duration timeout, boolean timed)
      throws InterruptedException, TimeoutException {
    Objects.requireNonNull(timeout, "timeout must not be null");
    if (n < 0) {
      throw new IllegalArgumentException("n must be >= 0 (was " + n + ")");
    }
    long start = System.nanoTime();
    long limit = timeout.isNegative() ? 0 : saturatedNanos(timeout);
    while ((timed ? timedWaiters() : waiters()) < n) {
      if (System.nanoTime() - start >= limit) {
        throw new TimeoutException("expected at least " + n
            + (timed ? " thread(s) waiting for a deadline" : " parked thread(s)") + " within "
            + timeout + "; got " + timedWaiters() + " waiting for a deadline, " + waiters()
            + " parked in all (" + this + ")");
      }
      Thread.sleep(1);
    }
  }

  private static long saturatedNanos(Duration d) {
    try {
      return d.toNanos();
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  @Override
  public void park(Object blocker) {
    Thread me = Thread.currentThread();
    parked.put(me, Boolean.FALSE);
    try {
      LockSupport.park(blocker);
    } finally {
      parked.remove(me);
    }
  }

  @Override
  public void parkNanos(Object blocker, long nanos) {
    if (nanos > 0) {
      parkUntil(blocker, now.get() + nanos);
    }
  }

  /**
   * Parks until this source's time reaches {@code deadline}, or an {@link #advance} wakes the
   * thread. The deadline is absolute, so an advance between the caller's reading of the time and
   * this call is never missed: the caller wakes as soon as the deadline has passed.
   *
   * @param blocker the object the thread waits on, for diagnostics
   * @param deadline the time to wait until
   */
  @Override
  public void parkUntil(Object blocker, long deadline) {
    Thread me = Thread.currentThread();
    parked.put(me, Boolean.TRUE);
    try {
      // Registered before the check: an advance after it unparks us, so no wake-up is lost.
      if (now.get() - deadline < 0) {
        LockSupport.park(blocker);
      }
    } finally {
      parked.remove(me);
    }
  }

  @Override
  public String toString() {
    return "ManualTimeSource[nanoTime=" + now.get() + "]";
  }
}
