package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * A bound on the bytes (by a weigher) that a buffer holds between {@code add} and the end of the
 * flush: producers acquire an item's weight before it enters the channel, the loop releases it once
 * the item is flushed or rejected. An item heavier than the whole bound is admitted only when the
 * gate is empty, so it waits its turn but never deadlocks. Thread-safe.
 *
 * @param <T> the item type
 */
public final class MemoryGate<T> {
  /*
   * Protocol (as the channel's full-wait): a producer that cannot acquire increments `waiting`,
   * adds itself to `parked`, re-tries, and only then parks; release() subtracts (a full fence) and
   * then reads `waiting`, unparking every parked producer when it is non-zero. Either the re-try
   * sees the released bytes or the release sees the waiter.
   */
  private final Weigher<? super T> weigher;
  private final long limit;
  private final TimeSource time;
  private final AtomicLong used = new AtomicLong();
  private final AtomicInteger waiting = new AtomicInteger();
  private final ParkedThreads parked = new ParkedThreads();

  /**
   * Creates an empty gate.
   *
   * @param weigher the size of an item
   * @param limit the most bytes held at once, at least 1
   * @param time the clock of timed waits
   */
  public MemoryGate(Weigher<? super T> weigher, long limit, TimeSource time) {
    this.weigher = weigher;
    this.limit = limit;
    this.time = time;
  }

  /**
   * Weighs an item.
   *
   * @param item the item
   * @return its weight
   * @throws IllegalArgumentException if the weigher returns a negative weight
   */
  public long weightOf(T item) {
    long w = weigher.weigh(item);
    if (w < 0) {
      throw new IllegalArgumentException("the maxBufferedBytes weigher returned " + w + " for "
          + Dispatcher.describe(item) + " (must be >= 0): not added");
    }
    return w;
  }

  /**
   * Takes {@code w} bytes if they fit (or the gate is empty).
   *
   * @param w the weight
   * @return true if taken
   */
  public boolean tryAcquire(long w) {
    for (; ; ) {
      long u = used.get();
      if (u != 0 && u + w > limit) {
        return false;
      }
      if (used.compareAndSet(u, u + w)) {
        return true;
      }
    }
  }

  /**
   * Takes {@code w} bytes, waiting for room.
   *
   * @param w the weight
   * @param timed whether to give up at {@code deadline}
   * @param deadline when to give up, in the clock's nanoseconds (absolute), if timed
   * @param closed true once the buffer stops admitting; the wait then ends without the bytes
   * @return true if taken; false on timeout or close
   * @throws InterruptedException if interrupted while waiting
   */
  public boolean acquire(long w, boolean timed, long deadline, BooleanSupplier closed)
      throws InterruptedException {
    if (tryAcquire(w)) {
      return true;
    }
    Thread me = Thread.currentThread();
    waiting.incrementAndGet();
    parked.add(me);
    try {
      for (; ; ) {
        if (tryAcquire(w)) {
          return true;
        }
        if (closed.getAsBoolean()) {
          return false;
        }
        if (Thread.interrupted()) {
          throw new InterruptedException();
        }
        if (timed) {
          if (deadline - time.nanoTime() <= 0) {
            return false;
          }
          time.parkUntil(this, deadline);
        } else {
          time.park(this);
        }
      }
    } finally {
      parked.remove(me);
      waiting.decrementAndGet();
    }
  }

  /**
   * Gives back {@code w} bytes and wakes waiting producers.
   *
   * @param w the weight taken earlier
   */
  public void release(long w) {
    if (w != 0) {
      used.addAndGet(-w);
    }
    if (waiting.get() != 0) {
      wakeAll();
    }
  }

  /** Wakes every waiting producer, so each re-checks (used on close). */
  public void wakeAll() {
    parked.unparkAll();
  }

  /**
   * Returns the bytes held now: a snapshot, for monitoring and tests.
   *
   * @return the bytes acquired and not yet released
   */
  public long used() {
    return used.get();
  }

  /**
   * Returns how many producers wait for bytes now.
   *
   * @return a snapshot
   */
  public int waiting() {
    return waiting.get();
  }

}
