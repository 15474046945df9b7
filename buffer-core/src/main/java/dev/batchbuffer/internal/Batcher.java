package dev.batchbuffer.internal;

import dev.batchbuffer.FlushReason;
import dev.batchbuffer.Oversize;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * The per-item logic of the contract, applied to any {@link BatchState}: overflow flush,
 * admission, append, full flush. The one code path behind {@code Buffer} (one batch) and
 * {@code KeyedBuffer} (a batch per key); what happens to a batch once it is flushed, and to a
 * refused item, is the {@link Dispatcher}'s. Owned by the loop thread; not thread-safe.
 *
 * @param <T> the item type
 */
public final class Batcher<T> {

  private static final int FALSE = 0;
  private static final int TRUE = 1;
  private static final int THREW = 2;

  private final Channel<?> channel;
  private final TimeSource time;
  private final Problems problems;
  private final Dispatcher<T> dispatcher;
  private final Consumer<BatchState<T>> onArm;
  /** Items in every batch of this loop. */
  private long bufferedItems;
  /** What the last policy call that returned THREW threw. */
  private @Nullable Throwable threw;

  /**
   * Creates the logic of one loop.
   *
   * @param channel the channel whose blocked producers a flush wakes first
   * @param time the clock of the linger deadlines
   * @param problems where callback failures go
   * @param dispatcher where flushed batches and refused items go
   * @param onArm told when a batch takes its first item (its deadline is set)
   */
  public Batcher(Channel<?> channel, TimeSource time, Problems problems, Dispatcher<T> dispatcher,
      Consumer<BatchState<T>> onArm) {
    this.channel = channel;
    this.time = time;
    this.problems = problems;
    this.dispatcher = dispatcher;
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
   * @param m the bytes it holds under the memory bound (0 without one)
   * @param future the item's future, if its producer asked for one
   */
  public void accept(BatchState<T> s, T item, long m, @Nullable CompletableFuture<?> future) {
    // Kept small so the JIT inlines it into the loop: the common cases never leave this method
    // and the two below it; everything else takes the general path.
    if (m == 0 && future == null) {
      if (s.countOnly) {
        appendPlain(s, item, 0);
        return;
      }
      if (s.bytesOnly && acceptByWeight(s, item)) {
        return;
      }
    }
    acceptChecked(s, item, m, future);
  }

  /**
   * The byte fast path: one weigh. Returns false, having changed nothing, when anything is
   * unusual (a throw, a negative or oversize weight): the general path weighs again and reports it.
   */
  private boolean acceptByWeight(BatchState<T> s, T item) {
    Weigher<? super T> weigher = Objects.requireNonNull(s.weigher); // bytesOnly: it has one
    channel.releaseSlots(); // the weigher is user code and may block
    long w;
    try {
      w = weigher.weigh(item);
    } catch (Throwable t) {
      return false;
    }
    return appendWeighed(s, item, w);
  }

  /** The byte fast path once the item is weighed; false, having changed nothing, if unusual. */
  private boolean appendWeighed(BatchState<T> s, T item, long w) {
    if (Long.compareUnsigned(w, s.maxItemBytes) > 0) { // not in [0, maxItemBytes]
      return false;
    }
    if (w > s.maxWeightSeen) {
      s.maxWeightSeen = w;
    }
    // An empty batch never overflows here: w <= maxItemBytes <= maxBytes.
    if (s.bytes + w > s.overflowBytes) {
      flush(s, FlushReason.OVERFLOW);
    }
    appendPlain(s, item, w);
    return true;
  }

  /** Appends to a batch that only a count and a byte limit can end, and flushes it when full. */
  private void appendPlain(BatchState<T> s, T item, long w) {
    if (s.size == s.items.length) {
      grow(s);
    }
    s.items[s.size++] = item;
    s.bytes += w;
    bufferedItems++;
    if (s.size == 1) {
      arm(s);
    }
    if (s.size >= s.countLimit) {
      flush(s, FlushReason.COUNT);
    } else if (s.bytes >= s.maxBytes) {
      flush(s, FlushReason.BYTES);
    }
  }

  private static void grow(BatchState<?> s) {
    int length = s.items.length == 0 ? Math.max(1, s.limits.initialLength())
        : Math.max(8, s.size + (s.size >> 1));
    s.items = Arrays.copyOf(s.items, length);
    if (s.futures != null) {
      s.futures = Arrays.copyOf(s.futures, s.items.length);
    }
  }

  /** The general per-item logic: memory, futures, oversize rules and custom conditions. */
  private void acceptChecked(BatchState<T> s, T item, long m,
      @Nullable CompletableFuture<?> future) {
    channel.releaseSlots(); // user code may run and block below: keep the bound exact
    Limits<T> limits = s.limits;
    long w = 0;
    Weigher<? super T> weigher = limits.weigher();
    if (weigher != null) {
      try {
        w = weigher.weigh(item);
        if (w < 0) {
          throw new IllegalArgumentException("weigher returned " + w + " (must be >= 0)");
        }
      } catch (Throwable t) {
        problems.caught(t);
        problems.report(Problems.Kind.POLICY_FAILED, "weigher threw; the item is handed to onReject", t);
        reject(item, m, future, "the weigher failed on the item: " + t, t);
        return;
      }
      if (w > limits.maxItemBytes()) {
        if (limits.oversize() == Oversize.SEND_ALONE) {
          // Alone: the batch it would have joined goes first, and it is admitted to the empty one.
          flush(s, FlushReason.OVERFLOW);
          if (admitted(s, item, m, future)) {
            append(s, item, w, m, future);
            flush(s, FlushReason.OVERSIZE);
          }
          return;
        }
        String why = "the item weighs " + w + " bytes, above the per-item limit of "
            + limits.maxItemBytes() + " (Oversize." + limits.oversize() + ")";
        problems.report(Problems.Kind.OVERSIZE, why + "; handed to onReject: "
            + Dispatcher.describe(item), null);
        reject(item, m, future, why, null);
        return;
      }
      // Only in-range weights: a producer always wakes the loop for an oversize item (it hints
      // UNWEIGHED), and one counted here would make every later arrival wake it.
      if (w > s.maxWeightSeen) {
        s.maxWeightSeen = w;
      }
    }
    if (s.size > 0) {
      boolean overflow = weigher != null && s.bytes + w > limits.overflowBytes();
      List<BiPredicate<List<T>, T>> overflows = limits.overflows();
      for (int i = 0; !overflow && i < overflows.size(); i++) {
        int r = test(s, overflows.get(i), item, "willOverflow");
        if (r == THREW) {
          Throwable t = threw;
          reject(item, m, future, "willOverflow threw on the item: " + t, t);
          return;
        }
        overflow = r == TRUE;
      }
      if (overflow) {
        flush(s, FlushReason.OVERFLOW);
      }
    }
    if (!admitted(s, item, m, future)) {
      return;
    }
    append(s, item, w, m, future);
    if (s.size >= limits.countLimit()) {
      flush(s, FlushReason.COUNT);
    } else if (s.bytes >= limits.maxBytes()) {
      flush(s, FlushReason.BYTES);
    } else if (!limits.fulls().isEmpty() && shouldFlushNow(s)) {
      flush(s, FlushReason.CONDITION);
    }
  }

  /** Asks every admission condition; a refusal rejects the item, saying which and why. */
  private boolean admitted(BatchState<T> s, T item, long m,
      @Nullable CompletableFuture<?> future) {
    List<BiPredicate<List<T>, T>> admissions = s.limits.admissions();
    for (int i = 0; i < admissions.size(); i++) {
      int r = test(s, admissions.get(i), item, "canAdd");
      if (r == FALSE) {
        reject(item, m, future, "canAdd refused the item (batch of " + s.size
            + " items)", null);
        return false;
      }
      if (r == THREW) {
        Throwable t = threw;
        reject(item, m, future, "canAdd threw on the item: " + t, t);
        return false;
      }
    }
    return true;
  }

  private void append(BatchState<T> s, T item, long w, long m,
      @Nullable CompletableFuture<?> future) {
    if (s.size == s.items.length) {
      grow(s);
    }
    if (future != null) {
      if (s.futures == null) {
        s.futures = new Object[s.items.length];
      }
      s.futures[s.size] = future;
    }
    s.items[s.size++] = item;
    s.bytes += w;
    s.held += m;
    bufferedItems++;
    if (s.size == 1) {
      arm(s);
    }
  }

  /** Starts the linger of a batch that just took its first item. */
  private void arm(BatchState<T> s) {
    s.armed = true;
    s.lastUsed = time.nanoTime();
    s.armedAt = s.lastUsed;
    s.deadline = s.lastUsed + s.limits.intervalNanos();
    onArm.accept(s);
  }

  /**
   * Calls a per-item policy. A policy that throws refuses the item (the caller hands it to
   * onReject with what it threw), so the item is never lost without a trace.
   */
  private int test(BatchState<T> s, BiPredicate<List<T>, T> policy, T item, String name) {
    try {
      return policy.test(s.view, item) ? TRUE : FALSE;
    } catch (Throwable t) {
      problems.caught(t);
      problems.report(Problems.Kind.POLICY_FAILED, name + " threw; the item is handed to onReject", t);
      threw = t;
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
        problems.caught(t);
        problems.report(Problems.Kind.POLICY_FAILED, "shouldFlush threw; flushing the batch now", t);
        return true;
      }
    }
    return false;
  }

  /**
   * Refuses an item (onReject, its future, the listener): the slots the loop emptied are published
   * first, so onReject runs with the refused item's slot free (an onReject that offers a
   * replacement finds room) and a slow onReject keeps no emptied slot from waiting producers.
   *
   * @param item the item
   * @param m the bytes it holds under the memory bound
   * @param future its future, if tracked
   * @param why what refused it
   * @param cause the exception of the callback that failed, if any
   */
  public void reject(T item, long m, @Nullable CompletableFuture<?> future, String why,
      @Nullable Throwable cause) {
    channel.signalProducers();
    dispatcher.reject(item, m, future, why, cause);
  }

  /**
   * Hands the batch to the dispatcher now: a no-op when it is empty.
   *
   * @param s the batch
   * @param reason why, for the stats
   */
  public void flush(BatchState<T> s, FlushReason reason) {
    s.armed = false;
    if (s.size == 0) {
      return;
    }
    channel.signalProducers();
    bufferedItems -= s.size;
    dispatcher.dispatch(s, reason);
  }
}
