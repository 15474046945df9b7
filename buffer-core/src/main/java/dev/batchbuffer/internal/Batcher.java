package dev.batchbuffer.internal;

import dev.batchbuffer.Oversize;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.function.BiConsumer;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * The per-item logic of the contract, applied to any {@link BatchState}: the one code path behind
 * {@code Buffer} (one batch) and {@code KeyedBuffer} (a batch per key). Owned by the loop thread;
 * not thread-safe.
 *
 * @param <T> the item type
 */
public final class Batcher<T> {

  /**
   * Where a finished batch goes.
   *
   * @param <T> the item type
   */
  @FunctionalInterface
  public interface Sink<T> {
    /**
     * Writes a batch.
     *
     * @param state the batch's state (its key, for a keyed buffer)
     * @param batch the items, owned by the callee
     * @throws Exception if the write failed
     */
    void flush(BatchState<T> state, List<T> batch) throws Exception;
  }

  private static final int FALSE = 0;
  private static final int TRUE = 1;
  private static final int THREW = 2;

  private final Channel<T> channel;
  private final TimeSource time;
  private final Problems problems;
  private final Sink<T> sink;
  private final Consumer<T> onReject;
  private final BiConsumer<Exception, List<T>> onFlushError;
  private final @Nullable MemoryGate<T> memory;
  private final Consumer<BatchState<T>> onArm;
  /** Items in every batch of this loop. */
  private long bufferedItems;

  /**
   * Creates the logic of one loop.
   *
   * @param channel the channel whose blocked producers a flush wakes first
   * @param time the clock of the linger deadlines
   * @param problems where callback failures go
   * @param sink where finished batches go
   * @param onReject receives refused items
   * @param onFlushError receives failed batches
   * @param memory the byte bound on buffered items, or null
   * @param onArm told when a batch takes its first item (its deadline is set)
   */
  public Batcher(Channel<T> channel, TimeSource time, Problems problems, Sink<T> sink,
      Consumer<T> onReject, BiConsumer<Exception, List<T>> onFlushError,
      @Nullable MemoryGate<T> memory, Consumer<BatchState<T>> onArm) {
    this.channel = channel;
    this.time = time;
    this.problems = problems;
    this.sink = sink;
    this.onReject = onReject;
    this.onFlushError = onFlushError;
    this.memory = memory;
    this.onArm = onArm;
  }

  /**
   * Returns how many items the batches of this loop hold.
   *
   * @return the item count across batches
   */
  public long bufferedItems() {
    return bufferedItems;
  }

  /**
   * Applies the per-item logic: overflow flush, admission, append, full flush.
   *
   * @param s the batch the item belongs to
   * @param item the item
   */
  public void accept(BatchState<T> s, T item) {
    Limits<T> limits = s.limits;
    long w = 0;
    long m = memory == null ? 0 : memory.weightOf(item);
    Weigher<? super T> weigher = limits.weigher();
    if (weigher != null) {
      try {
        w = weigher.weigh(item);
        if (w < 0) {
          throw new IllegalArgumentException("weigher returned " + w + " (must be >= 0)");
        }
        if (w > s.maxWeightSeen) {
          s.maxWeightSeen = w;
        }
      } catch (Throwable t) {
        Problems.rethrowIfFatal(t);
        problems.report(Problems.Kind.POLICY_FAILED, "weigher threw; the item is handed to onReject", t);
        reject(item, m);
        return;
      }
      if (w > limits.maxItemBytes()) {
        if (limits.oversize() == Oversize.SEND_ALONE && admitted(s, item)) {
          flush(s);
          append(s, item, w, m);
          flush(s);
        } else {
          if (limits.oversize() != Oversize.SEND_ALONE) {
            problems.report(Problems.Kind.OVERSIZE, "an item of " + w + " bytes is above the per-item "
                + "limit of " + limits.maxItemBytes() + "; handed to onReject: " + describe(item), null);
          }
          reject(item, m);
        }
        return;
      }
    }
    if (s.size > 0) {
      boolean overflow = weigher != null && s.bytes + w > limits.maxBytes();
      List<BiPredicate<List<T>, T>> overflows = limits.overflows();
      for (int i = 0; !overflow && i < overflows.size(); i++) {
        int r = test(s, overflows.get(i), item, "willOverflow");
        if (r == THREW) {
          reject(item, m);
          return;
        }
        overflow = r == TRUE;
      }
      if (overflow) {
        flush(s);
      }
    }
    if (!admitted(s, item)) {
      reject(item, m);
      return;
    }
    append(s, item, w, m);
    if (s.size >= limits.countLimit() || s.bytes >= limits.maxBytes()
        || (!limits.fulls().isEmpty() && shouldFlushNow(s))) {
      flush(s);
    }
  }

  private boolean admitted(BatchState<T> s, T item) {
    List<BiPredicate<List<T>, T>> admissions = s.limits.admissions();
    for (int i = 0; i < admissions.size(); i++) {
      if (test(s, admissions.get(i), item, "canAdd") != TRUE) {
        return false;
      }
    }
    return true;
  }

  private void append(BatchState<T> s, T item, long w, long m) {
    if (s.size == s.items.length) {
      s.items = Arrays.copyOf(s.items, Math.max(8, s.size + (s.size >> 1)));
    }
    s.items[s.size++] = item;
    s.bytes += w;
    s.held += m;
    bufferedItems++;
    if (s.size == 1) {
      s.armed = true;
      s.lastUsed = time.nanoTime();
      s.deadline = s.lastUsed + s.limits.intervalNanos();
      onArm.accept(s);
    }
  }

  /**
   * Calls a per-item policy. A policy that throws refuses the item (the caller hands it to
   * onReject), so the item is never lost without a trace.
   */
  private int test(BatchState<T> s, BiPredicate<List<T>, T> policy, T item, String name) {
    try {
      return policy.test(s.view, item) ? TRUE : FALSE;
    } catch (Throwable t) {
      Problems.rethrowIfFatal(t);
      problems.report(Problems.Kind.POLICY_FAILED, name + " threw; the item is handed to onReject", t);
      return THREW;
    }
  }

  /** A shouldFlush that throws flushes: the conservative choice when a limit cannot be checked. */
  private boolean shouldFlushNow(BatchState<T> s) {
    List<Predicate<List<T>>> fulls = s.limits.fulls();
    for (int i = 0; i < fulls.size(); i++) {
      try {
        if (fulls.get(i).test(s.view)) {
          return true;
        }
      } catch (Throwable t) {
        Problems.rethrowIfFatal(t);
        problems.report(Problems.Kind.POLICY_FAILED, "shouldFlush threw; flushing the batch now", t);
        return true;
      }
    }
    return false;
  }

  /**
   * Hands an item to onReject, whatever onReject does.
   *
   * @param item the refused item
   * @param m its weight held by the memory gate, given back here
   */
  public void reject(T item, long m) {
    try {
      onReject.accept(item);
    } catch (Throwable t) {
      Problems.rethrowIfFatal(t);
      problems.report(Problems.Kind.ON_REJECT_FAILED,
          "onReject threw; the rejected item is dropped: " + describe(item), t);
    } finally {
      if (memory != null) {
        memory.release(m);
      }
    }
  }

  /**
   * Flushes the batch now: a no-op when it is empty.
   *
   * @param s the batch
   */
  public void flush(BatchState<T> s) {
    s.armed = false;
    if (s.size == 0) {
      return;
    }
    channel.signalProducers();
    Batch<T> batch = new Batch<>(s.items, s.size);
    long release = s.held;
    bufferedItems -= s.size;
    s.items = new Object[s.limits.initialLength()];
    s.size = 0;
    s.bytes = 0;
    s.held = 0;
    s.epoch++;
    s.lastUsed = time.nanoTime();
    try {
      sink.flush(s, batch);
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
    } finally {
      if (memory != null) {
        memory.release(release);
      }
    }
  }

  /**
   * Renders an item for a log line, briefly and safely.
   *
   * @param item the item
   * @return at most 200 characters
   */
  public static String describe(Object item) {
    String s;
    try {
      s = String.valueOf(item);
    } catch (RuntimeException e) {
      s = item.getClass().getName() + " (toString threw)";
    }
    return s.length() > 200 ? s.substring(0, 200) + "..." : s;
  }
}
