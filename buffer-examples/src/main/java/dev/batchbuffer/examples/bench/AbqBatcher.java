package dev.batchbuffer.examples.bench;

import dev.batchbuffer.FlushFunc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The hand-written baseline users would otherwise write: an {@link ArrayBlockingQueue}, a consumer
 * thread that polls for the first item of a batch, {@code drainTo}s the rest, and flushes on count or
 * linger. Same contract as the benchmarked {@code Buffer}: blocking producers, a fresh list per
 * batch, a drain on close. Thread-safe for producers; one consumer.
 *
 * @param <T> the item type
 */
public final class AbqBatcher<T> implements Contender<T> {
  private final ArrayBlockingQueue<T> queue;
  private final FlushFunc<T> flush;
  private final int capacity;
  private final long lingerNanos;
  private final Thread consumer;
  /** Guards {@link #idle} and the close's wake-up; never held while waiting or flushing. */
  private final Object wake = new Object();
  private volatile boolean closed;
  /** Whether the consumer waits for the first item of a batch, where close may interrupt it. */
  private boolean idle;

  /**
   * Starts the consumer on a virtual thread, as {@code Buffer} does.
   *
   * @param flush receives each batch
   * @param capacity items per batch
   * @param queueSize the queue bound
   * @param lingerNanos the longest a partial batch waits
   */
  public AbqBatcher(FlushFunc<T> flush, int capacity, int queueSize, long lingerNanos) {
    this.queue = new ArrayBlockingQueue<>(queueSize);
    this.flush = flush;
    this.capacity = capacity;
    this.lingerNanos = lingerNanos;
    this.consumer = Thread.ofVirtual().start(this::run);
  }

  /**
   * Adds an item, blocking while the queue is full.
   *
   * @param item the item
   * @throws InterruptedException if interrupted while waiting
   */
  @Override
  public void add(T item) throws InterruptedException {
    queue.put(item);
  }

  private void run() {
    List<T> batch = new ArrayList<>(capacity);
    long deadline = 0;
    try {
      while (!closed || !queue.isEmpty()) {
        T first = batch.isEmpty()
            ? pollIdle()
            : queue.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
        if (first != null) {
          if (batch.isEmpty()) {
            deadline = System.nanoTime() + lingerNanos;
          }
          batch.add(first);
          queue.drainTo(batch, capacity - batch.size());
        }
        if (batch.size() >= capacity || (!batch.isEmpty() && System.nanoTime() - deadline >= 0)) {
          flush.flush(batch);
          batch = new ArrayList<>(capacity);
        }
      }
      if (!batch.isEmpty()) {
        flush.flush(batch);
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Waits up to 100 ms for the first item of a batch; {@link #close()} cuts the wait short with an
   * interrupt, which only lands here (any that arrives as the wait ends is cleared before a flush).
   */
  private @Nullable T pollIdle() {
    synchronized (wake) {
      if (closed) {
        return queue.poll();
      }
      idle = true;
    }
    try {
      return queue.poll(100, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      return queue.poll(); // close() woke the consumer: the loop's condition decides
    } finally {
      synchronized (wake) {
        idle = false;
        Thread.interrupted();
      }
    }
  }

  /** Drains, flushes and waits for the consumer; an idle consumer is woken, not waited for. */
  @Override
  public void close() {
    synchronized (wake) {
      closed = true;
      if (idle) {
        consumer.interrupt();
      }
    }
    Joins.joinUninterruptibly(consumer);
  }
}
