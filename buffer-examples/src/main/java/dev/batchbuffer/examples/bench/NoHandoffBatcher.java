package dev.batchbuffer.examples.bench;

import dev.batchbuffer.FlushFunc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The reference without a hand-off: each producer thread fills its own batch and calls the flush
 * itself at {@code capacity} items; close flushes every thread's partial batch. No queue, no
 * batching thread, no wake-up, and no linger either: nothing runs between two adds, so a partial
 * batch waits for the thread's next items or the close. What is left of the other contenders'
 * throughput once the hand-off is gone, and the price in latency of having no timer.
 *
 * <p>{@link #close()} reads every thread's batch, so it must happen-after each producer's last add
 * (a join, or the end of a JMH iteration).
 *
 * @param <T> the item type
 */
public final class NoHandoffBatcher<T> implements Contender<T> {
  /** One thread's partial batch; only its thread touches it until close. */
  private static final class Local<T> {
    List<T> batch;

    Local(int capacity) {
      this.batch = new ArrayList<>(capacity);
    }
  }

  private final FlushFunc<T> flush;
  private final int capacity;
  private final ConcurrentLinkedQueue<Local<T>> locals = new ConcurrentLinkedQueue<>();
  private final ThreadLocal<Local<T>> mine;

  /**
   * Creates the batcher; nothing starts.
   *
   * @param flush receives each batch, on the thread whose add filled it (or the closing thread)
   * @param settings the capacity; queue size and linger do not apply
   */
  public NoHandoffBatcher(FlushFunc<T> flush, Contender.Settings settings) {
    this.flush = flush;
    this.capacity = settings.capacity();
    this.mine = ThreadLocal.withInitial(() -> {
      Local<T> local = new Local<>(capacity);
      locals.add(local);
      return local;
    });
  }

  /**
   * Adds the item to this thread's batch and flushes it, on this thread, when it is full.
   *
   * @param item the item
   * @throws IllegalStateException if the flush failed
   */
  @Override
  public void add(T item) {
    Local<T> local = mine.get();
    local.batch.add(item);
    if (local.batch.size() >= capacity) {
      List<T> full = local.batch;
      local.batch = new ArrayList<>(capacity);
      flush(full);
    }
  }

  private void flush(List<T> batch) {
    try {
      flush.flush(batch);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Flushes every thread's partial batch, on the calling thread. */
  @Override
  public void close() {
    for (Local<T> local : locals) {
      if (!local.batch.isEmpty()) {
        List<T> rest = local.batch;
        local.batch = new ArrayList<>(0);
        flush(rest);
      }
    }
    mine.remove();
  }
}
