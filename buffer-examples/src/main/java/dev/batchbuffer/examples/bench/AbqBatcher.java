package dev.batchbuffer.examples.bench;

import dev.batchbuffer.FlushFunc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The hand-written baseline users would otherwise write: an {@link ArrayBlockingQueue}, a consumer
 * thread that polls for the first item of a batch, {@code drainTo}s the rest, and flushes on count or
 * linger. Same contract as the benchmarked {@code Buffer}: blocking producers, a fresh list per
 * batch, a drain on close. Thread-safe for producers; one consumer.
 *
 * @param <T> the item type
 */
public final class AbqBatcher<T> implements AutoCloseable {
  private final ArrayBlockingQueue<T> queue;
  private final FlushFunc<T> flush;
  private final int capacity;
  private final long lingerNanos;
  private final Thread consumer;
  private volatile boolean closed;

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
  public void add(T item) throws InterruptedException {
    queue.put(item);
  }

  private void run() {
    List<T> batch = new ArrayList<>(capacity);
    long deadline = 0;
    try {
      while (!closed || !queue.isEmpty()) {
        T first = batch.isEmpty()
            ? queue.poll(100, TimeUnit.MILLISECONDS)
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

  /** Drains, flushes and waits for the consumer. */
  @Override
  public void close() {
    closed = true;
    boolean interrupted = false;
    while (consumer.isAlive()) {
      try {
        consumer.join();
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
