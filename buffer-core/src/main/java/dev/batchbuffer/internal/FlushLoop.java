package dev.batchbuffer.internal;

import dev.batchbuffer.Config;
import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.TimeSource;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.RandomAccess;
import java.util.concurrent.ExecutionException;
import java.util.function.BiConsumer;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * The consumer side of a buffer: the only owner of the batch, the policies and the flush function.
 * Runs on one thread; not thread-safe, by design.
 *
 * @param <T> the item type
 */
public final class FlushLoop<T> implements Runnable {
  /*
   * One iteration: drain up to BURST items from the channel through the per-item logic; wake the
   * producers a full channel parked; flush if the linger deadline has passed; if the channel is
   * closed, drain the rest, flush and stop; otherwise park until enough items arrive or the
   * deadline. The deadline is armed when an item enters an empty batch and disarmed by every flush,
   * so it measures how long the oldest item of the batch has waited.
   *
   * While a partial batch waits under the default count policy alone (no willOverflow, no canAdd),
   * the loop asks the channel to wake it only once enough items for a full batch (or half the
   * channel) have arrived; an empty batch asks for one item, because the first item starts the
   * deadline. Any per-item policy makes every arrival worth a look.
   */

  /** Items processed between two looks at the clock and the close flag. */
  private static final int BURST = 1024;

  /** The largest batch array allocated up front; a larger batch grows as it fills. */
  private static final int MAX_PREALLOCATION = 8192;

  private final Channel<T> channel;
  private final TimeSource time;
  private final Problems problems;
  private final FlushFunc<T> flushFunc;
  private final BiPredicate<List<T>, T> willOverflow;
  private final BiPredicate<List<T>, T> canAdd;
  private final Consumer<T> onReject;
  private final Predicate<List<T>> shouldFlush;
  private final BiConsumer<Exception, List<T>> onFlushError;
  private final boolean checksOverflow;
  private final boolean checksCanAdd;
  /** The count limit when shouldFlush is the default, else 0. */
  private final int countLimit;
  private final int initialLength;
  /**
   * True when only the count can end a batch early (default shouldFlush, no willOverflow, no canAdd):
   * then a partial batch need not look at items one by one as they arrive.
   */
  private final boolean sparseWakeUps;
  private final long intervalNanos;
  private final BatchView view = new BatchView();

  private Object[] items;
  private int size;
  private boolean armed;
  private long deadline;

  /**
   * Creates the loop of one buffer.
   *
   * @param config the validated configuration
   * @param channel the channel it consumes
   * @param time its clock
   * @param problems where callback failures go
   */
  public FlushLoop(Config<T> config, Channel<T> channel, TimeSource time, Problems problems) {
    this.channel = channel;
    this.time = time;
    this.problems = problems;
    this.flushFunc = config.flush();
    this.willOverflow = config.willOverflow();
    this.canAdd = config.canAdd();
    this.onReject = config.onReject();
    this.shouldFlush = config.shouldFlush();
    this.onFlushError = config.onFlushError();
    this.checksOverflow = !Defaults.isNever(willOverflow);
    this.checksCanAdd = !Defaults.isAlways(canAdd);
    this.countLimit = shouldFlush instanceof Defaults.SizeAtLeast<?> s ? s.capacity() : 0;
    this.initialLength = Math.min(config.capacity(), MAX_PREALLOCATION);
    this.sparseWakeUps = countLimit > 0 && !checksOverflow && !checksCanAdd;
    this.intervalNanos = config.flushInterval().toNanos();
    this.items = new Object[initialLength];
  }

  @Override
  public void run() {
    for (; ; ) {
      int n = 0;
      T item;
      while (n < BURST && (item = channel.poll()) != null) {
        accept(item);
        n++;
      }
      if (n > 0) {
        channel.signalProducers();
      }
      if (armed && time.nanoTime() - deadline >= 0) {
        flush();
      }
      if (n == BURST) {
        continue;
      }
      if (channel.isClosed()) {
        // producerIndex is final now: poll() returns null only once every claimed item is taken.
        while ((item = channel.poll()) != null) {
          accept(item);
        }
        flush();
        return;
      }
      park();
    }
  }

  private void park() {
    // A callback may have interrupted this thread; a pending interrupt would turn park into a spin.
    if (Thread.interrupted()) {
      problems.report(Problems.Kind.LOOP_INTERRUPTED,
          "a callback interrupted the loop thread; the interrupt was cleared", null);
    }
    int minItems = 1;
    if (size > 0 && sparseWakeUps) {
      minItems = Math.max(1, Math.min(countLimit - size, channel.bound() / 2));
    }
    if (armed) {
      long remaining = deadline - time.nanoTime();
      if (remaining > 0) {
        channel.await(minItems, true, remaining);
      }
    } else {
      channel.await(minItems, false, 0L);
    }
  }

  /** The per-item logic of the contract. */
  private void accept(T item) {
    if (checksOverflow && size > 0) {
      int overflow = test(willOverflow, item, "willOverflow");
      if (overflow == THREW) {
        reject(item);
        return;
      }
      if (overflow == TRUE) {
        flush();
      }
    }
    if (checksCanAdd && test(canAdd, item, "canAdd") != TRUE) {
      reject(item);
      return;
    }
    if (size == items.length) {
      items = Arrays.copyOf(items, Math.max(8, size + (size >> 1)));
    }
    items[size++] = item;
    if (size == 1) {
      armed = true;
      deadline = time.nanoTime() + intervalNanos;
    }
    if (countLimit > 0 ? size >= countLimit : shouldFlushNow()) {
      flush();
    }
  }

  private static final int FALSE = 0;
  private static final int TRUE = 1;
  private static final int THREW = 2;

  /**
   * Calls a per-item policy. A policy that throws refuses the item (the caller hands it to
   * onReject), so the item is never lost without a trace.
   */
  private int test(BiPredicate<List<T>, T> policy, T item, String name) {
    try {
      return policy.test(view, item) ? TRUE : FALSE;
    } catch (Throwable t) {
      Problems.rethrowIfFatal(t);
      problems.report(Problems.Kind.POLICY_FAILED,
          name + " threw; the item is handed to onReject", t);
      return THREW;
    }
  }

  /** A shouldFlush that throws flushes: the conservative choice when a limit cannot be checked. */
  private boolean shouldFlushNow() {
    try {
      return shouldFlush.test(view);
    } catch (Throwable t) {
      Problems.rethrowIfFatal(t);
      problems.report(Problems.Kind.POLICY_FAILED, "shouldFlush threw; flushing the batch now", t);
      return true;
    }
  }

  private void reject(T item) {
    try {
      onReject.accept(item);
    } catch (Throwable t) {
      Problems.rethrowIfFatal(t);
      problems.report(Problems.Kind.ON_REJECT_FAILED,
          "onReject threw; the rejected item is dropped: " + describe(item), t);
    }
  }

  /** Hands the batch to the flush function; a no-op on an empty batch. */
  private void flush() {
    armed = false;
    if (size == 0) {
      return;
    }
    channel.signalProducers();
    Batch<T> batch = new Batch<>(items, size);
    items = new Object[initialLength];
    size = 0;
    try {
      flushFunc.flush(batch);
    } catch (Throwable t) {
      Problems.rethrowIfFatal(t);
      Exception e = t instanceof Exception ex ? ex : new ExecutionException(t);
      try {
        onFlushError.accept(e, batch);
      } catch (Throwable t2) {
        Problems.rethrowIfFatal(t2);
        problems.report(Problems.Kind.ON_FLUSH_ERROR_FAILED,
            "onFlushError threw while handling a failed flush of " + batch.size()
                + " items; the batch is dropped",
            t2);
      }
    }
  }

  /**
   * Returns how many items the batch holds: read by the buffer's failure report only after the loop
   * thread has ended.
   *
   * @return the number of items in the current batch
   */
  public int pendingInBatch() {
    return size;
  }

  private static String describe(Object item) {
    String s;
    try {
      s = String.valueOf(item);
    } catch (RuntimeException e) {
      s = item.getClass().getName() + " (toString threw)";
    }
    return s.length() > 200 ? s.substring(0, 200) + "..." : s;
  }

  /** The live batch as policies see it: read-only, valid during the call. */
  private final class BatchView extends AbstractList<T> implements RandomAccess {
    @Override
    @SuppressWarnings("unchecked")
    public T get(int index) {
      Objects.checkIndex(index, size);
      return (T) items[index];
    }

    @Override
    public int size() {
      return size;
    }
  }
}
