package dev.batchbuffer.internal;

import dev.batchbuffer.BufferListener;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.CloseResult;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import dev.batchbuffer.internal.jfr.Events;
import java.time.Duration;
import java.util.Objects;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * The producer side and the lifecycle shared by {@code Buffer} and {@code KeyedBuffer}: admission
 * (oversize check, memory bound, channel slot), the loop thread, close and the fatal-error path.
 * Thread-safe.
 *
 * @param <T> the item type
 */
public final class Engine<T> {
  /*
   * Lifecycle: RUNNING -> CLOSING -> TERMINATED.
   *   RUNNING     the channel is open; producers add, the loop batches and flushes.
   *   CLOSING     close() set the channel's closed bit: every later add/offer throws; the loop drains
   *               what was accepted before the bit, does the final flush and ends.
   *   TERMINATED  the loop thread has ended; close() returns.
   * The closed bit lives in the channel's producer index, so "accepted" and "closed" are decided by
   * one atomic: an add either claimed its slot before the close (and will be flushed) or fails.
   * The only other way to TERMINATED is a fatal error (a VirtualMachineError) thrown by a callback:
   * the loop closes the channel, logs what could not be delivered, and ends; `failure` records why.
   */

  private final String name;
  private final Channel<Object> channel;
  private final Problems problems;
  private final @Nullable MemoryGate<T> memory;
  private final @Nullable Weigher<? super T> failFast;
  private final long failFastLimit;
  private @Nullable Thread loopThread;
  private @Nullable LoopBody loop;
  private final TimeSource time;
  private final Telemetry<T> telemetry;
  /** Set once, by the loop thread, before it ends on a fatal error; read by producers. */
  private volatile @Nullable Throwable failure;
  /** Set by the loop thread when it has drained everything, before the listener hears it. */
  private volatile boolean ended;
  private @Nullable Hooks hooks;

  /** How long an admission may wait. */
  private enum Blocking { NO, TIMED, FOREVER }

  /**
   * Creates the producer side of a buffer; {@link #start} starts its loop.
   *
   * @param name the buffer's name
   * @param time its clock
   * @param chanSize the channel bound
   * @param memoryWeigher the weigher of the memory bound, or null
   * @param maxBufferedBytes the memory bound
   * @param failFast the weigher of a fail-fast per-item limit, or null
   * @param failFastLimit that limit
   * @param listener the buffer's listener, or null
   */
  public Engine(String name, TimeSource time, int chanSize,
      @Nullable Weigher<? super T> memoryWeigher, long maxBufferedBytes,
      @Nullable Weigher<? super T> failFast, long failFastLimit,
      @Nullable BufferListener<? super T> listener) {
    this.name = name;
    this.time = time;
    this.problems = new Problems(name, time);
    this.telemetry = new Telemetry<>(name, time, problems, listener);
    this.channel = new Channel<>(chanSize, time);
    this.memory = memoryWeigher == null ? null
        : new MemoryGate<T>(memoryWeigher, maxBufferedBytes, time);
    this.failFast = failFast;
    this.failFastLimit = failFastLimit;
  }

  /**
   * Returns the channel the loop consumes.
   *
   * @return the channel
   */
  public Channel<Object> channel() {
    return channel;
  }

  /**
   * Returns where callback failures go.
   *
   * @return the problem reporter
   */
  public Problems problems() {
    return problems;
  }

  /**
   * Returns what the buffer counts and tells.
   *
   * @return the telemetry
   */
  public Telemetry<T> telemetry() {
    return telemetry;
  }

  /**
   * Takes a stats snapshot.
   *
   * @param keys live keys, or 0 for a plain buffer
   * @return the stats
   */
  public BufferStats stats(int keys) {
    BufferStats.State state = failure != null ? BufferStats.State.FAILED
        : ended ? BufferStats.State.CLOSED
        : channel.isClosed() ? BufferStats.State.CLOSING
        : BufferStats.State.RUNNING;
    MemoryGate<T> gate = memory;
    int blocked = channel.blockedProducers() + (gate == null ? 0 : gate.waiting());
    return telemetry.snapshot(state, channel::accepted, blocked, keys);
  }

  /**
   * Starts the loop on a new virtual thread; when it has drained, the listener hears
   * {@code closed} with the final stats.
   *
   * @param loop the loop body
   * @param keys live keys, for the final stats
   * @param hooks the loop's periodic tasks, or null: close() called from one of their threads
   *     starts the close and returns, as it does on the loop thread
   */
  public void start(LoopBody loop, java.util.function.IntSupplier keys, @Nullable Hooks hooks) {
    this.hooks = hooks;
    start(() -> {
      loop.run();
      ended = true;
      telemetry.closed(stats(keys.getAsInt()));
    }, loop);
  }

  /**
   * Returns the memory bound.
   *
   * @return the gate, or null if memory is not bounded
   */
  public @Nullable MemoryGate<T> memory() {
    return memory;
  }

  /**
   * Returns the buffer's name.
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  private void start(Runnable body, LoopBody loop) {
    this.loop = loop;
    Thread t = Thread.ofVirtual().name(name).unstarted(() -> {
      try {
        body.run();
      } catch (Throwable e) {
        failure = e;
        channel.close();
        if (memory != null) {
          memory.wakeAll();
        }
        problems.fatal("a callback threw a fatal error; the buffer stopped. Not delivered: the batch "
            + "being processed, " + loop.pendingInBatches() + " batched items and "
            + channel.size() + " items in the channel", e);
        throw e;
      }
    });
    loopThread = t;
    channel.bindConsumer(t);
    t.start();
  }

  /**
   * Adds an item, waiting for room.
   *
   * @param item the item
   * @throws InterruptedException if interrupted on entry or while waiting
   */
  public void add(T item) throws InterruptedException {
    Objects.requireNonNull(item, "item must not be null");
    put(item, item);
  }

  /**
   * Adds an item with a future that completes when it is delivered or given up on.
   *
   * @param item the item
   * @return the item's future
   * @throws InterruptedException if interrupted on entry or while waiting
   */
  public CompletableFuture<Void> submit(T item) throws InterruptedException {
    Objects.requireNonNull(item, "item must not be null");
    CompletableFuture<Void> result = new CompletableFuture<>();
    put(item, new Signals.Tracked(item, result));
    return result;
  }

  /**
   * Asks the loop to flush everything accepted so far.
   *
   * @return completes when those items have been handed to the flush function and their flushes
   *     finished; fails if items failed since the previous request
   * @throws InterruptedException if interrupted while waiting for room in the channel
   */
  public CompletableFuture<Void> flush() throws InterruptedException {
    CompletableFuture<Void> result = new CompletableFuture<>();
    Signals.FlushRequest request = new Signals.FlushRequest(result);
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
    int r = channel.tryOffer(request);
    if (r == Channel.FULL) {
      checkNotLoopThread();
      r = waitForSlot(request, false, 0L);
    }
    if (r == Channel.CLOSED) {
      throw closed();
    }
    telemetry.requested();
    channel.wakeConsumer(); // a waiting loop may be counting arrivals toward a full batch
    return result;
  }

  /** Puts {@code element} (the item, or a wrapper of it) into the channel, waiting for room. */
  private void put(T item, Object element) throws InterruptedException {
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
    if (failFast != null || memory != null) {
      admit(item, element, Blocking.FOREVER, 0L);
      return;
    }
    int result = channel.tryOffer(element);
    if (result == Channel.FULL) {
      checkNotLoopThread();
      result = waitForSlot(element, false, 0L);
    }
    if (result == Channel.CLOSED) {
      throw closed();
    }
  }

  /**
   * Adds an item if there is room now.
   *
   * @param item the item
   * @return true if added
   */
  public boolean offer(T item) {
    Objects.requireNonNull(item, "item must not be null");
    if (failFast != null || memory != null) {
      try {
        return admit(item, item, Blocking.NO, 0L);
      } catch (InterruptedException e) {
        throw new AssertionError("a non-blocking admission cannot be interrupted", e);
      }
    }
    int result = channel.tryOffer(item);
    if (result == Channel.CLOSED) {
      throw closed();
    }
    return result == Channel.OK;
  }

  /**
   * Adds an item, waiting up to {@code timeout} for room.
   *
   * @param item the item
   * @param timeout the longest wait
   * @return true if added, false on timeout
   * @throws InterruptedException if interrupted on entry or while waiting
   */
  public boolean offer(T item, Duration timeout) throws InterruptedException {
    Objects.requireNonNull(item, "item must not be null");
    Objects.requireNonNull(timeout, "timeout must not be null");
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
    long nanos = saturatedNanos(timeout);
    if (failFast != null || memory != null) {
      return admit(item, item, timeout.isPositive() ? Blocking.TIMED : Blocking.NO, nanos);
    }
    int result = channel.tryOffer(item);
    if (result == Channel.FULL && timeout.isPositive()) {
      checkNotLoopThread();
      result = waitForSlot(item, true, nanos);
    }
    if (result == Channel.CLOSED) {
      throw closed();
    }
    return result == Channel.OK;
  }

  /**
   * The slow path of add/offer when a policy fails fast or memory is bounded: check the item's
   * weight, take its bytes, then a channel slot, giving the bytes back if the slot is not had.
   */
  private boolean admit(T item, Object element, Blocking blocking, long nanos)
      throws InterruptedException {
    Weigher<? super T> weigher = failFast;
    if (weigher != null) {
      long w = weigher.weigh(item);
      if (w > failFastLimit) {
        throw new IllegalArgumentException("item weighs " + w + " bytes, above the per-item limit of "
            + failFastLimit + " (Oversize.FAIL_FAST): not added");
      }
    }
    MemoryGate<T> gate = memory;
    long m = 0;
    if (gate != null) {
      m = gate.weightOf(item);
      if (!gate.tryAcquire(m)) {
        if (blocking == Blocking.NO) {
          checkOpen();
          return false;
        }
        checkNotLoopThread();
        if (!waitForBytes(gate, m, blocking == Blocking.TIMED, nanos)) {
          checkOpen();
          return false;
        }
      }
    }
    boolean added = false;
    try {
      int result = channel.tryOffer(element);
      if (result == Channel.FULL && blocking != Blocking.NO) {
        checkNotLoopThread();
        result = waitForSlot(element, blocking == Blocking.TIMED, nanos);
      }
      if (result == Channel.CLOSED) {
        throw closed();
      }
      added = result == Channel.OK;
      return added;
    } finally {
      if (!added && gate != null) {
        gate.release(m);
      }
    }
  }

  /** Waits for a channel slot, telling the listener and JFR about the wait. */
  private int waitForSlot(Object element, boolean timed, long nanos) throws InterruptedException {
    Object event = Events.PRESENT ? Events.beginBlocked() : null;
    long start = telemetry.hearsProducers() ? blocked() : 0L;
    int result = Channel.FULL;
    try {
      result = channel.put(element, timed, nanos);
      return result;
    } finally {
      unblocked(event, start, result == Channel.OK);
    }
  }

  /** Waits for room under the memory bound, telling the listener and JFR about the wait. */
  private boolean waitForBytes(MemoryGate<T> gate, long m, boolean timed, long nanos)
      throws InterruptedException {
    Object event = Events.PRESENT ? Events.beginBlocked() : null;
    long start = telemetry.hearsProducers() ? blocked() : 0L;
    boolean got = false;
    try {
      got = gate.acquire(m, timed, nanos, channel::isClosed);
      return got;
    } finally {
      unblocked(event, start, got);
    }
  }

  private long blocked() {
    telemetry.producerBlocked();
    return time.nanoTime();
  }

  private void unblocked(@Nullable Object event, long start, boolean admitted) {
    if (event != null) {
      Events.commitBlocked(event, name, admitted);
    }
    if (telemetry.hearsProducers()) {
      telemetry.producerUnblocked(time.nanoTime() - start);
    }
  }

  /**
   * Returns how many items wait in the channel.
   *
   * @return a snapshot
   */
  public int itemsInChannel() {
    return channel.size();
  }

  /**
   * Returns whether admission has stopped.
   *
   * @return true once closed or dead
   */
  public boolean isClosed() {
    return channel.isClosed();
  }

  /** Stops admission, wakes every waiter, and waits for the loop unless called from it. */
  public void close() {
    channel.close();
    if (memory != null) {
      memory.wakeAll();
    }
    Thread t = loopThread;
    if (t == null || ownThread(t)) {
      return;
    }
    Waits.joinUninterruptibly(t);
  }

  /**
   * Whether the caller runs on the loop thread or a periodic task's thread: waiting for the loop
   * there would deadlock (the loop waits for a running task at close).
   */
  private boolean ownThread(Thread loop) {
    Hooks h = hooks;
    return Thread.currentThread() == loop || (h != null && h.onTaskThread());
  }

  /** How long close(timeout) waits, after giving up, for the loop to hand back what is left. */
  static final Duration ABORT_GRACE = Duration.ofMillis(200);

  /**
   * Closes within {@code timeout}: as {@link #close()}, but gives up when the time is out. The loop
   * is then told to flush nothing more and is interrupted; what it had not flushed is failed as
   * undelivered and returned, if it hands it back within {@link #ABORT_GRACE}.
   *
   * @param timeout how long the drain may take
   * @return what was achieved
   */
  @SuppressWarnings("unchecked")
  public CloseResult<T> close(Duration timeout) {
    Objects.requireNonNull(timeout, "timeout must not be null");
    channel.close();
    if (memory != null) {
      memory.wakeAll();
    }
    Thread t = loopThread;
    LoopBody body = loop;
    if (t == null || body == null) {
      return new CloseResult<>(true, List.of(), false);
    }
    if (ownThread(t)) {
      return new CloseResult<>(false, List.of(), true);
    }
    if (join(t, timeout)) {
      List<T> left = (List<T>) (List<?>) body.undelivered();
      return new CloseResult<>(left.isEmpty(), left, false);
    }
    body.abort();
    t.interrupt();
    if (join(t, ABORT_GRACE)) {
      return new CloseResult<>(false, (List<T>) (List<?>) body.undelivered(), false);
    }
    return new CloseResult<>(false, List.of(), true);
  }

  /** Joins {@code t} for up to {@code d}, uninterruptibly (the interrupt is restored). */
  private static boolean join(Thread t, Duration d) {
    long deadline = System.nanoTime() + saturatedNanos(d);
    boolean interrupted = false;
    try {
      for (; ; ) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return !t.isAlive();
        }
        try {
          return t.join(Duration.ofNanos(left));
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void checkOpen() {
    if (channel.isClosed()) {
      throw closed();
    }
  }

  private void checkNotLoopThread() {
    if (channel.isConsumer(Thread.currentThread())) {
      throw new IllegalStateException(name + ": the buffer is full and this is its own "
          + "loop thread; waiting here would deadlock (use offer(item) from callbacks)");
    }
  }

  private IllegalStateException closed() {
    telemetry.refused();
    Throwable cause = failure;
    return cause == null
        ? new IllegalStateException(name + " is closed")
        : new IllegalStateException(name + " stopped on a fatal error", cause);
  }

  private static long saturatedNanos(Duration d) {
    try {
      return d.toNanos();
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }
}
