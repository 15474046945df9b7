package dev.batchbuffer.internal;

import dev.batchbuffer.Config;
import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Oversize;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import java.time.Duration;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.RandomAccess;
import java.util.concurrent.ExecutionException;
import java.util.function.BiConsumer;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

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
   * Limits. The Config's predicates and a FlushPolicy (whose faces stand in the predicate slots)
   * resolve at construction into one set of limits: a count, a byte limit with its weigher and
   * running weight, a per-item limit with its oversize rule, and lists of custom conditions. The
   * per-item logic below is the one code path for all of them; the running weight is kept here,
   * O(1) per item, and reset by every flush.
   *
   * While a partial batch waits and only the count can end it early, the loop asks the channel to
   * wake it only once enough items for a full batch (or half the channel) have arrived; an empty
   * batch asks for one item, because the first item starts the deadline. Any other limit makes every
   * arrival worth a look.
   */

  /** Items processed between two looks at the clock and the close flag. */
  private static final int BURST = 1024;

  /** The largest batch array allocated up front; a larger batch grows as it fills. */
  private static final int MAX_PREALLOCATION = 8192;

  private static final int FALSE = 0;
  private static final int TRUE = 1;
  private static final int THREW = 2;

  private final Channel<T> channel;
  private final TimeSource time;
  private final Problems problems;
  private final FlushFunc<T> flushFunc;
  private final Consumer<T> onReject;
  private final BiConsumer<Exception, List<T>> onFlushError;
  private final @Nullable MemoryGate<T> memory;

  private final int countLimit;
  private final @Nullable Weigher<? super T> weigher;
  private final long maxBytes;
  private final long maxItemBytes;
  private final Oversize oversize;
  private final List<BiPredicate<List<T>, T>> overflows;
  private final List<BiPredicate<List<T>, T>> admissions;
  private final List<Predicate<List<T>>> fulls;

  private final int initialLength;
  private final long intervalNanos;
  private final boolean sparseWakeUps;
  private final BatchView view = new BatchView();

  private Object[] items;
  private int size;
  /** Running weight of the batch by the policy's weigher. */
  private long bytes;
  /** Running weight of the batch by the memory gate's weigher, released after the flush. */
  private long held;
  private boolean armed;
  private long deadline;

  /**
   * Creates the loop of one buffer.
   *
   * @param config the validated configuration
   * @param channel the channel it consumes
   * @param time its clock
   * @param problems where callback failures go
   * @param memory the byte bound on buffered items, if any
   */
  public FlushLoop(Config<T> config, Channel<T> channel, TimeSource time, Problems problems,
      @Nullable MemoryGate<T> memory) {
    this.channel = channel;
    this.time = time;
    this.problems = problems;
    this.memory = memory;
    this.flushFunc = config.flush();
    this.onReject = config.onReject();
    this.onFlushError = config.onFlushError();

    FlushPolicy<T> policy = PolicyFace.policyOf(config);
    List<BiPredicate<List<T>, T>> overflowList = new ArrayList<>();
    List<BiPredicate<List<T>, T>> admissionList = new ArrayList<>();
    List<Predicate<List<T>>> fullList = new ArrayList<>();
    int count = Integer.MAX_VALUE;
    Duration interval = config.flushInterval();
    if (policy != null) {
      count = policy.maxItems();
      this.weigher = policy.weigher();
      this.maxBytes = policy.maxBytes();
      this.maxItemBytes = policy.maxItemBytes();
      this.oversize = policy.oversize();
      overflowList.addAll(policy.overflowConditions());
      admissionList.addAll(policy.admissionConditions());
      fullList.addAll(policy.fullConditions());
      Duration age = policy.maxAge();
      if (age != null && age.compareTo(interval) < 0) {
        interval = age;
      }
    } else {
      this.weigher = null;
      this.maxBytes = Long.MAX_VALUE;
      this.maxItemBytes = Long.MAX_VALUE;
      this.oversize = Oversize.REJECT;
    }
    if (!Defaults.isNever(config.willOverflow()) && !PolicyFace.isFace(config.willOverflow())) {
      overflowList.add(config.willOverflow());
    }
    if (!Defaults.isAlways(config.canAdd()) && !PolicyFace.isFace(config.canAdd())) {
      admissionList.add(config.canAdd());
    }
    Predicate<List<T>> shouldFlush = config.shouldFlush();
    if (shouldFlush instanceof Defaults.SizeAtLeast<?> s) {
      count = Math.min(count, s.capacity());
    } else if (!PolicyFace.isFace(shouldFlush)) {
      fullList.add(shouldFlush);
    }
    this.countLimit = count;
    this.overflows = List.copyOf(overflowList);
    this.admissions = List.copyOf(admissionList);
    this.fulls = List.copyOf(fullList);
    this.intervalNanos = interval.toNanos();
    this.initialLength = Math.min(Math.min(config.capacity(), count), MAX_PREALLOCATION);
    this.sparseWakeUps = count != Integer.MAX_VALUE && weigher == null && overflows.isEmpty()
        && admissions.isEmpty() && fulls.isEmpty() && memory == null;
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

  /** The per-item logic of the contract, for every kind of limit. */
  private void accept(T item) {
    long w = 0;
    long m = memory == null ? 0 : memory.weightOf(item);
    Weigher<? super T> weigh = weigher;
    if (weigh != null) {
      try {
        w = weigh.weigh(item);
        if (w < 0) {
          throw new IllegalArgumentException("weigher returned " + w + " (must be >= 0)");
        }
      } catch (Throwable t) {
        Problems.rethrowIfFatal(t);
        problems.report(Problems.Kind.POLICY_FAILED, "weigher threw; the item is handed to onReject", t);
        reject(item, m);
        return;
      }
      if (w > maxItemBytes) {
        if (oversize == Oversize.SEND_ALONE) {
          if (!admitted(item)) {
            reject(item, m);
            return;
          }
          flush();
          append(item, w, m);
          flush();
        } else {
          problems.report(Problems.Kind.OVERSIZE, "an item of " + w + " bytes is above the per-item "
              + "limit of " + maxItemBytes + "; handed to onReject: " + describe(item), null);
          reject(item, m);
        }
        return;
      }
    }
    if (size > 0) {
      boolean overflow = weigh != null && bytes + w > maxBytes;
      for (int i = 0; !overflow && i < overflows.size(); i++) {
        int r = test(overflows.get(i), item, "willOverflow");
        if (r == THREW) {
          reject(item, m);
          return;
        }
        overflow = r == TRUE;
      }
      if (overflow) {
        flush();
      }
    }
    if (!admitted(item)) {
      reject(item, m);
      return;
    }
    append(item, w, m);
    if (size >= countLimit || bytes >= maxBytes || (!fulls.isEmpty() && shouldFlushNow())) {
      flush();
    }
  }

  private boolean admitted(T item) {
    for (int i = 0; i < admissions.size(); i++) {
      if (test(admissions.get(i), item, "canAdd") != TRUE) {
        return false;
      }
    }
    return true;
  }

  private void append(T item, long w, long m) {
    if (size == items.length) {
      items = Arrays.copyOf(items, Math.max(8, size + (size >> 1)));
    }
    items[size++] = item;
    bytes += w;
    held += m;
    if (size == 1) {
      armed = true;
      deadline = time.nanoTime() + intervalNanos;
    }
  }

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
    for (int i = 0; i < fulls.size(); i++) {
      try {
        if (fulls.get(i).test(view)) {
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

  private void reject(T item, long m) {
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

  /** Hands the batch to the flush function; a no-op on an empty batch. */
  private void flush() {
    armed = false;
    if (size == 0) {
      return;
    }
    channel.signalProducers();
    Batch<T> batch = new Batch<>(items, size);
    long release = held;
    items = new Object[initialLength];
    size = 0;
    bytes = 0;
    held = 0;
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
    } finally {
      if (memory != null) {
        memory.release(release);
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

  static String describe(Object item) {
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
