package dev.batchbuffer.internal;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.Oversize;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import dev.batchbuffer.internal.jfr.Events;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.locks.LockSupport;
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

  private final Channel<?> channel;
  private final TimeSource time;
  private final Problems problems;
  private final Sink<T> sink;
  private final Consumer<T> onReject;
  private final BiConsumer<Exception, List<T>> onFlushError;
  private final @Nullable MemoryGate<T> memory;
  private final Consumer<BatchState<T>> onArm;
  private final Telemetry<T> telemetry;
  /** Items in every batch of this loop. */
  private long bufferedItems;
  /** Flushes allowed at once; 1 runs them inline on the loop thread. */
  private int maxInFlight = 1;
  /** Flushes running on their own virtual threads; loop-owned. */
  private int inFlight;
  /** Outcomes of flushes that ran off the loop, settled by the loop. */
  private final ConcurrentLinkedQueue<Outcome<T>> outcomes = new ConcurrentLinkedQueue<>();
  /** Items whose batch failed since the last flush() request completed; loop-owned. */
  private long failedSinceRequest;
  private @Nullable Throwable lastFailure;
  /** Set by close(Duration) when it gives up: flush nothing more, fail what is left. */
  private volatile boolean aborting;
  /** Items given up on after an abort, in order; loop-owned until the loop ends. */
  private final List<Object> undelivered = new ArrayList<>();

  /** A finished flush, waiting to be settled on the loop (only flushes off the loop make one). */
  private static final class Outcome<T> {
    final Batch<T> batch;
    final @Nullable Object @Nullable [] futures;
    final long held;
    final long bytes;
    final FlushReason reason;
    final @Nullable Object key;
    final long nanos;
    final @Nullable Throwable failure;

    Outcome(Batch<T> batch, @Nullable Object @Nullable [] futures, long held, long bytes,
        FlushReason reason, @Nullable Object key, long nanos, @Nullable Throwable failure) {
      this.batch = batch;
      this.futures = futures;
      this.held = held;
      this.bytes = bytes;
      this.reason = reason;
      this.key = key;
      this.nanos = nanos;
      this.failure = failure;
    }
  }

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
   * @param telemetry where flushes and rejections are counted and told
   */
  public Batcher(Channel<?> channel, TimeSource time, Problems problems, Sink<T> sink,
      Consumer<T> onReject, BiConsumer<Exception, List<T>> onFlushError,
      @Nullable MemoryGate<T> memory, Consumer<BatchState<T>> onArm, Telemetry<T> telemetry) {
    this.telemetry = telemetry;
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
   * Lets up to {@code n} flushes run at once, each on its own virtual thread.
   *
   * @param n at least 1; 1 keeps flushes inline on the loop thread, strictly sequential
   */
  public void maxInFlight(int n) {
    this.maxInFlight = n;
  }

  /**
   * Asks the loop to give up: nothing more is flushed; what is left is failed as undelivered.
   * Any thread.
   */
  public void abort() {
    aborting = true;
  }

  /**
   * Returns whether {@link #abort()} was called.
   *
   * @return true once aborting
   */
  public boolean aborting() {
    return aborting;
  }

  /**
   * Returns the items given up on; read only after the loop ended.
   *
   * @return the undelivered items
   */
  public List<Object> undelivered() {
    return undelivered;
  }

  /**
   * Gives up on an item without flushing it (after an abort).
   *
   * @param item the item
   * @param future its future, if tracked
   */
  public void giveUp(Object item, @Nullable CompletableFuture<Void> future) {
    undelivered.add(item);
    telemetry.undelivered();
    if (future != null) {
      future.completeExceptionally(new DeliveryException(DeliveryException.Reason.UNDELIVERED,
          "close(timeout) gave up before the item was flushed", null));
    }
    if (memory != null) {
      @SuppressWarnings("unchecked")
      T t = (T) item;
      memory.release(memory.weightOf(t));
    }
  }

  /**
   * Where an unwrapped item goes: the loop's routing to a batch.
   *
   * @param <T> the item type
   */
  @FunctionalInterface
  public interface Route<T> {
    /**
     * Routes an item to its batch.
     *
     * @param item the item
     * @param future its future, if its producer asked for one
     */
    void accept(T item, @Nullable CompletableFuture<Void> future);
  }

  /**
   * Unwraps one channel element: a {@code flush()} request is returned for the loop to carry out;
   * an item (tracked or plain) is given up on when aborting, else handed to {@code route}.
   *
   * @param element what the channel held
   * @param aborting whether the loop is giving up
   * @param route where items go
   * @return the flush request, or null if the element was an item
   */
  @SuppressWarnings("unchecked")
  public Signals.@Nullable FlushRequest take(Object element, boolean aborting, Route<T> route) {
    if (element instanceof Signals.FlushRequest request) {
      return request;
    }
    T item;
    CompletableFuture<Void> future = null;
    if (element instanceof Signals.Tracked tracked) {
      item = (T) tracked.item();
      future = tracked.result();
    } else {
      item = (T) element;
    }
    if (aborting) {
      giveUp(item, future);
    } else {
      route.accept(item, future);
    }
    return null;
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
   * @param future the item's future, if its producer asked for one
   */
  public void accept(BatchState<T> s, T item, @Nullable CompletableFuture<Void> future) {
    // Kept small so the JIT inlines it into the loop: the common cases never leave this method
    // and the two below it; everything else takes the general path.
    if (memory == null && future == null) {
      if (s.countOnly) {
        appendPlain(s, item, 0);
        return;
      }
      if (s.bytesOnly && acceptByWeight(s, item)) {
        return;
      }
    }
    acceptChecked(s, item, future);
  }

  /**
   * The byte fast path: one weigh. Returns false, having changed nothing, when anything is
   * unusual (a throw, a negative or oversize weight): the general path weighs again and reports it.
   */
  private boolean acceptByWeight(BatchState<T> s, T item) {
    Weigher<? super T> weigher = s.weigher;
    if (weigher == null) {
      return false;
    }
    long w;
    try {
      w = weigher.weigh(item);
    } catch (Throwable t) {
      Problems.rethrowIfFatal(t);
      return false;
    }
    if (Long.compareUnsigned(w, s.maxItemBytes) > 0) { // not in [0, maxItemBytes]
      return false;
    }
    if (w > s.maxWeightSeen) {
      s.maxWeightSeen = w;
    }
    // An empty batch never overflows here: w <= maxItemBytes <= maxBytes.
    if (s.bytes + w > s.maxBytes) {
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
    s.items = Arrays.copyOf(s.items, Math.max(8, s.size + (s.size >> 1)));
    if (s.futures != null) {
      s.futures = Arrays.copyOf(s.futures, s.items.length);
    }
  }

  /** The general per-item logic: memory, futures, oversize rules and custom conditions. */
  private void acceptChecked(BatchState<T> s, T item, @Nullable CompletableFuture<Void> future) {
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
        reject(item, m, future);
        return;
      }
      if (w > limits.maxItemBytes()) {
        if (limits.oversize() == Oversize.SEND_ALONE && admitted(s, item)) {
          flush(s, FlushReason.OVERFLOW);
          append(s, item, w, m, future);
          flush(s, FlushReason.OVERSIZE);
        } else {
          if (limits.oversize() != Oversize.SEND_ALONE) {
            problems.report(Problems.Kind.OVERSIZE, "an item of " + w + " bytes is above the per-item "
                + "limit of " + limits.maxItemBytes() + "; handed to onReject: " + describe(item), null);
          }
          reject(item, m, future);
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
          reject(item, m, future);
          return;
        }
        overflow = r == TRUE;
      }
      if (overflow) {
        flush(s, FlushReason.OVERFLOW);
      }
    }
    if (!admitted(s, item)) {
      reject(item, m, future);
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

  private boolean admitted(BatchState<T> s, T item) {
    List<BiPredicate<List<T>, T>> admissions = s.limits.admissions();
    for (int i = 0; i < admissions.size(); i++) {
      if (test(s, admissions.get(i), item, "canAdd") != TRUE) {
        return false;
      }
    }
    return true;
  }

  private void append(BatchState<T> s, T item, long w, long m,
      @Nullable CompletableFuture<Void> future) {
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
   * @param future the item's future, failed here, if any
   */
  public void reject(T item, long m, @Nullable CompletableFuture<Void> future) {
    telemetry.rejected(item);
    if (future != null) {
      future.completeExceptionally(new DeliveryException(DeliveryException.Reason.REJECTED,
          "the item was refused and handed to onReject", null));
    }
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
   * Flushes the batch now: a no-op when it is empty. Inline on the loop thread when
   * {@code maxInFlight} is 1, else on a virtual thread once fewer than {@code maxInFlight} flushes
   * are running (the loop waits for one to finish).
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
    Batch<T> batch = new Batch<>(s.items, s.size);
    @Nullable Object @Nullable [] futures = s.futures;
    long held = s.held;
    long bytes = s.bytes;
    bufferedItems -= s.size;
    s.items = new Object[s.limits.initialLength()];
    s.futures = null;
    s.size = 0;
    s.bytes = 0;
    s.held = 0;
    s.epoch++;
    long start = time.nanoTime();
    s.lastUsed = start;
    if (aborting) {
      for (int i = 0; i < batch.size(); i++) {
        giveUp(batch.get(i), futureAt(futures, i));
      }
      if (memory != null) {
        memory.release(held - weightOf(batch));
      }
      return;
    }
    if (maxInFlight == 1) {
      telemetry.flushStarted(batch.size(), bytes, reason);
      Throwable failure = call(s, batch, bytes, reason);
      settle(batch, futures, held, bytes, reason, s.key, time.nanoTime() - start, failure);
      return;
    }
    while (inFlight >= maxInFlight) {
      awaitOutcome();
    }
    inFlight++;
    telemetry.flushStarted(batch.size(), bytes, reason);
    Thread loop = Thread.currentThread();
    BatchState<T> state = s;
    Thread.ofVirtual().name(loop.getName() + "-flush").start(() -> {
      long begun = time.nanoTime();
      Throwable failure = null;
      try {
        failure = call(state, batch, bytes, reason);
      } catch (Throwable t) {
        failure = t; // call() catches everything; this is the belt to its braces
      } finally {
        outcomes.add(new Outcome<>(batch, futures, held, bytes, reason, state.key,
            time.nanoTime() - begun, failure));
        LockSupport.unpark(loop);
      }
    });
  }

  /**
   * Calls the sink with this buffer's telemetry in {@link FlushScope} (so a retry inside counts
   * for it, and only there) and a JFR event around it. Recording the event cannot fail the flush.
   *
   * @return what the sink threw, or null; a fatal error is rethrown when on the loop thread
   */
  private @Nullable Throwable call(BatchState<T> s, Batch<T> batch, long bytes,
      FlushReason reason) {
    Object event = Events.PRESENT ? Events.beginFlush() : null;
    Throwable failure = null;
    Telemetry<?> outer = FlushScope.enter(telemetry);
    try {
      sink.flush(s, batch);
    } catch (Throwable t) {
      if (maxInFlight == 1) {
        Problems.rethrowIfFatal(t);
      }
      failure = t;
    } finally {
      FlushScope.exit(outer);
    }
    if (event != null) {
      try {
        Events.commitFlush(event, telemetry.name(), s.key == null ? "" : describe(s.key),
            batch.size(), bytes, reason.name(), failure == null ? "ok"
                : isPartial(failure) ? "partial" : "failed");
      } catch (Throwable t) {
        Problems.rethrowIfFatal(t);
        problems.report(Problems.Kind.LISTENER_FAILED, "recording a JFR flush event failed", t);
      }
    }
    return failure;
  }

  private static boolean isPartial(Throwable failure) {
    return failure instanceof PartialFlushException;
  }

  private long weightOf(Batch<T> batch) {
    MemoryGate<T> gate = memory;
    if (gate == null) {
      return 0;
    }
    long sum = 0;
    for (int i = 0; i < batch.size(); i++) {
      sum += gate.weightOf(batch.get(i));
    }
    return sum;
  }

  /**
   * Settles the outcomes of off-loop flushes that have finished. Loop thread; cheap when none.
   */
  public void settleFinished() {
    if (maxInFlight == 1) {
      return;
    }
    Outcome<T> o;
    while ((o = outcomes.poll()) != null) {
      inFlight--;
      if (o.failure instanceof VirtualMachineError fatal) {
        throw fatal;
      }
      settle(o.batch, o.futures, o.held, o.bytes, o.reason, o.key, o.nanos, o.failure);
    }
  }

  /** Waits for at least one off-loop flush to finish, then settles the finished ones. */
  private void awaitOutcome() {
    while (outcomes.isEmpty()) {
      LockSupport.park(this);
      Thread.interrupted(); // a stray interrupt must not turn this into a spin
    }
    settleFinished();
  }

  /**
   * Waits until no flush is running, settling each outcome. Loop thread.
   */
  public void awaitAllFlushes() {
    settleFinished();
    while (inFlight > 0) {
      awaitOutcome();
    }
  }

  /**
   * Completes a {@code flush()} request: its batches have been handed to the flush function and
   * have finished; it fails if any items failed since the previous request.
   *
   * @param request the request
   */
  public void complete(Signals.FlushRequest request) {
    awaitAllFlushes();
    if (failedSinceRequest == 0) {
      request.result().complete(null);
    } else {
      request.result().completeExceptionally(new DeliveryException(
          DeliveryException.Reason.FAILED, failedSinceRequest + " items failed since the previous "
              + "flush() (handed to onFlushError)", lastFailure));
    }
    failedSinceRequest = 0;
    lastFailure = null;
  }

  /** Reports a finished flush: stats, futures, onFlushError, the memory it held. Loop thread. */
  private void settle(Batch<T> batch, @Nullable Object @Nullable [] futures, long held, long bytes,
      FlushReason reason, @Nullable Object key, long nanos, @Nullable Throwable failure) {
    try {
      if (failure == null) {
        telemetry.flushSettled(key, batch.size(), bytes, reason, nanos, 0, null);
        completeAll(futures, batch.size());
        return;
      }
      Exception e = failure instanceof Exception ex ? ex : new ExecutionException(failure);
      List<T> failed = batch;
      boolean[] failedAt = null;
      if (e instanceof PartialFlushException partial) {
        try {
          failed = partial.failedItems(batch);
          failedAt = new boolean[batch.size()];
          for (int i : partial.failedIndexes()) {
            failedAt[i] = true;
          }
        } catch (IndexOutOfBoundsException bad) {
          problems.report(Problems.Kind.POLICY_FAILED, "a PartialFlushException named an index "
              + "outside its batch of " + batch.size() + "; the whole batch counts as failed", bad);
          failed = batch;
          failedAt = null;
        }
      }
      if (failed.isEmpty()) { // a PartialFlushException that names no item: nothing failed
        telemetry.flushSettled(key, batch.size(), bytes, reason, nanos, 0, null);
        completeAll(futures, batch.size());
        return;
      }
      telemetry.flushSettled(key, batch.size(), bytes, reason, nanos, failed.size(), e);
      failedSinceRequest += failed.size();
      lastFailure = e;
      if (futures != null) {
        for (int i = 0; i < batch.size(); i++) {
          CompletableFuture<Void> item = futureAt(futures, i);
          if (item == null) {
            continue;
          }
          if (failedAt == null || failedAt[i]) {
            item.completeExceptionally(new DeliveryException(DeliveryException.Reason.FAILED,
                "the item's batch failed", e));
          } else {
            item.complete(null);
          }
        }
      }
      try {
        if (Defaults.isLogAndDrop(onFlushError)) {
          problems.report(Problems.Kind.FLUSH_FAILED, "flush of " + failed.size()
              + " items failed; batch dropped (set onFlushError to handle it)", e);
        } else {
          onFlushError.accept(e, failed);
        }
      } catch (Throwable t2) {
        Problems.rethrowIfFatal(t2);
        problems.report(Problems.Kind.ON_FLUSH_ERROR_FAILED,
            "onFlushError threw while handling a failed flush of " + failed.size()
                + " items; they are dropped",
            t2);
      }
    } finally {
      if (memory != null) {
        memory.release(held);
      }
    }
  }

  private static void completeAll(@Nullable Object @Nullable [] futures, int size) {
    if (futures == null) {
      return;
    }
    for (int i = 0; i < size; i++) {
      CompletableFuture<Void> f = futureAt(futures, i);
      if (f != null) {
        f.complete(null);
      }
    }
  }

  @SuppressWarnings("unchecked")
  private static @Nullable CompletableFuture<Void> futureAt(@Nullable Object @Nullable [] futures, int i) {
    return futures == null ? null : (CompletableFuture<Void>) futures[i];
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
