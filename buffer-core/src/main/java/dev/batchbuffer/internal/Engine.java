package dev.batchbuffer.internal;

import dev.batchbuffer.BufferListener;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.CloseResult;
import dev.batchbuffer.FlowControl;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import dev.batchbuffer.internal.jfr.Events;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * The producer side and the lifecycle shared by {@code Buffer} and {@code KeyedBuffer}: admission
 * (oversize check, memory bound, channel slot), the loop thread, and close. Thread-safe.
 *
 * @param <T> the item type
 */
public final class Engine<T> {
  /*
   * Lifecycle: RUNNING -> CLOSING -> TERMINATED.
   *   RUNNING     the channel is open; producers add, the loop batches, the dispatcher flushes.
   *   CLOSING     close() set the channel's closed bit: every later add/offer throws; the loop drains
   *               what was accepted before the bit, does the final flush and ends. close(timeout)
   *               that runs out of time tells the dispatcher to give up (stop(true)).
   *   TERMINATED  the loop thread has told the listener and ended; `terminated` is set and every
   *               waiting closer unparked.
   * The closed bit lives in the channel's producer index, so "accepted" and "closed" are decided by
   * one atomic: an add either claimed its slot before the close (and will be settled) or fails.
   * A VirtualMachineError from a callback (Problems.fatal()) makes the loop close the channel and
   * give up what it had not flushed; later adds say so.
   *
   * Waits of producers and closers: a thread the buffer started (Dispatcher.isOwnThread()) never
   * waits for the buffer: close() there starts the close and returns, and an add that finds no
   * room throws, because the room or the end it would wait for may need that very thread.
   */

  /** How long close(timeout), after giving up, waits on the buffer's clock for what is left. */
  static final long ABORT_GRACE_NANOS = 200_000_000L;

  /** How long a closer watches the loop end before it parks. */
  private static final long CLOSE_SPIN_NANOS = 50_000L;

  /**
   * What a buffer is made of, as its builder resolved it.
   *
   * @param name the buffer's name
   * @param time its clock
   * @param chanSize the channel bound
   * @param memoryWeigher the weigher of the memory bound, or null
   * @param maxBufferedBytes the memory bound
   * @param failFast the weigher of a fail-fast per-item limit, or null
   * @param failFastLimit that limit
   * @param listener the buffer's listener, or null
   * @param periodic its periodic tasks
   * @param maxInFlight flushes at once
   * @param onReject receives refused items
   * @param onFlushError receives failed items
   * @param byteHint the weigher of the batch's byte limit, to run on the producer's thread (see
   *     {@link #byteHintOf}), or null
   * @param byteHintMaxItem that limit's per-item maximum
   * @param flowControl the adaptive flow control, whose limit replaces {@code maxInFlight}, or
   *     null
   * @param <T> the item type
   */
  public record Setup<T>(String name, TimeSource time, int chanSize,
      @Nullable Weigher<? super T> memoryWeigher, long maxBufferedBytes,
      @Nullable Weigher<? super T> failFast, long failFastLimit,
      @Nullable BufferListener<? super T> listener, List<Hooks.Spec> periodic, int maxInFlight,
      Consumer<T> onReject, BiConsumer<Exception, List<T>> onFlushError,
      @Nullable Weigher<? super T> byteHint, long byteHintMaxItem,
      @Nullable FlowControl flowControl) {}

  /**
   * Returns the weigher a plain buffer's producers should run for the loop, or null. When a batch
   * ends only by count and bytes (no custom condition), nothing else is weighed on the producer
   * (no memory bound, no fail-fast limit), producers weigh each item to tell whether it may end the
   * batch: the loop then sleeps through arrivals that cannot, woken by the one that can (see
   * {@link Channel}). The loop still weighs every item itself: carrying the weight in the channel
   * measured slower (one more cache line per few items travels between producer and loop) than
   * weighing twice.
   *
   * @param limits the buffer's limits
   * @param memoryWeigher the memory bound's weigher, or null
   * @param failFast the fail-fast weigher, or null
   * @param <T> the item type
   * @return the weigher, or null when the loop weighs
   */
  public static <T> @Nullable Weigher<? super T> byteHintOf(Limits<T> limits,
      @Nullable Weigher<? super T> memoryWeigher, @Nullable Weigher<? super T> failFast) {
    return memoryWeigher == null && failFast == null && limits.noConditions()
        ? limits.weigher() : null;
  }

  private final String name;
  private final Channel<Object> channel;
  private final Problems problems;
  private final @Nullable MemoryGate<T> memory;
  private final @Nullable Weigher<? super T> failFast;
  private final long failFastLimit;
  private final @Nullable Weigher<? super T> byteHint;
  private final long byteHintMaxItem;
  private final TimeSource time;
  private final Telemetry<T> telemetry;
  private final Dispatcher<T> dispatcher;
  private final @Nullable Hooks hooks;
  private @Nullable Thread loopThread;
  private @Nullable Loop<?, T> loop;
  /** Set by the loop thread when it has drained everything, before the listener hears it. */
  private volatile boolean ended;
  /** Set by the loop thread as its last act; closers waiting for it are then unparked. */
  private volatile boolean terminated;
  private final ParkedThreads closers = new ParkedThreads();

  /** How long an admission may wait. */
  private enum Blocking { NO, TIMED, FOREVER }

  /**
   * Creates a buffer's parts; {@link #start} starts its loop.
   *
   * @param setup what the buffer is made of
   * @param sink writes a batch
   * @param keyed whether the loop keeps a batch per key (flushes of one key never overlap)
   */
  public Engine(Setup<T> setup, Dispatcher.Sink<T> sink, boolean keyed) {
    this(setup, sink, null, false, keyed);
  }

  /**
   * Creates a buffer's parts; {@link #start} starts its loop.
   *
   * @param setup what the buffer is made of
   * @param sink writes a batch
   * @param async starts an asynchronous write instead of {@code sink}, or null
   * @param answered whether the flush function answers each item (a result buffer)
   * @param keyed whether the loop keeps a batch per key (flushes of one key never overlap)
   */
  public Engine(Setup<T> setup, Dispatcher.Sink<T> sink, Dispatcher.@Nullable AsyncSink<T> async,
      boolean answered, boolean keyed) {
    this.name = setup.name();
    this.time = setup.time();
    this.problems = new Problems(name, time);
    this.telemetry = new Telemetry<>(name, time, problems, setup.listener());
    Weigher<? super T> memoryWeigher = setup.memoryWeigher();
    this.byteHint = setup.byteHint();
    this.byteHintMaxItem = setup.byteHintMaxItem();
    this.channel = new Channel<>(setup.chanSize(), memoryWeigher != null, byteHint != null, time);
    this.memory = memoryWeigher == null ? null
        : new MemoryGate<T>(memoryWeigher, setup.maxBufferedBytes(), time);
    this.failFast = setup.failFast();
    this.failFastLimit = setup.failFastLimit();
    FlowControl fc = setup.flowControl();
    FlowLimiter flow = fc == null ? null : new FlowLimiter(fc, time, name);
    if (flow != null) {
      telemetry.bindFlow(flow);
    }
    this.dispatcher = new Dispatcher<>(name, time, problems, telemetry, sink, async, answered,
        setup.onReject(),
        setup.onFlushError(), memory, setup.maxInFlight(), keyed, flow);
    Hooks h = Hooks.of(setup.periodic(), time, problems, telemetry);
    if (h != null) {
      h.bind(dispatcher);
    }
    this.hooks = h;
    problems.onFatal(this::stopAdmission); // and wakes the loop, which then gives up
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
   * Returns the owner of the buffer's flushes and threads.
   *
   * @return the dispatcher
   */
  public Dispatcher<T> dispatcher() {
    return dispatcher;
  }

  /**
   * Returns the buffer's periodic tasks.
   *
   * @return the hooks, or null if there are none
   */
  public @Nullable Hooks hooks() {
    return hooks;
  }

  /**
   * Returns the buffer's clock.
   *
   * @return the time source
   */
  public TimeSource time() {
    return time;
  }

  /**
   * Takes a stats snapshot.
   *
   * @return the stats
   */
  public BufferStats stats() {
    BufferStats.State state = problems.fatal() != null ? BufferStats.State.FAILED
        : ended ? BufferStats.State.CLOSED
        : channel.isClosed() ? BufferStats.State.CLOSING
        : BufferStats.State.RUNNING;
    MemoryGate<T> gate = memory;
    int blocked = channel.blockedProducers() + (gate == null ? 0 : gate.waiting());
    Loop<?, T> l = loop;
    return telemetry.snapshot(state, channel::accepted, blocked, l == null ? 0 : l.keys());
  }

  /**
   * Returns how many keys have a batch or idle state.
   *
   * @return the live keys, 0 for a plain buffer
   */
  public int keys() {
    Loop<?, T> l = loop;
    return l == null ? 0 : l.keys();
  }

  /**
   * Makes the loop's virtual thread; when it has drained, the listener hears {@code closed} with
   * the final stats. The thread starts with the first item, {@code flush()} or close (or now, if
   * the buffer has periodic tasks): an idle buffer that was never used holds no thread stack.
   *
   * @param loop the loop
   */
  public void start(Loop<?, T> loop) {
    this.loop = loop;
    Thread t = dispatcher.newThread("", () -> {
      try {
        loop.run();
        Thread.interrupted(); // close(timeout)'s interrupt is spent: the listener must not see it
        ended = true;
        telemetry.closed(stats());
      } finally {
        terminated = true;
        closers.unparkAll();
      }
      // What stopped the buffer is reported; a fatal error caught on this thread still ends it, as
      // it would have without the buffer in between (its uncaught-exception handler sees it).
      if (problems.fatal() instanceof Error error && problems.fatalCaughtHere()) {
        throw error;
      }
    });
    loopThread = t;
    channel.bindConsumer(t);
    dispatcher.bindLoop(t);
    if (hooks != null) {
      channel.startConsumer();
    }
  }

  /**
   * Returns whether producers weigh items to wake the loop ({@link #byteHintOf}).
   *
   * @return true if they do
   */
  public boolean byteHinted() {
    return byteHint != null;
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
   * Adds an item with a future that completes when it is delivered or given up on: with null, or
   * with the item's answer in a buffer whose flush function answers each item ({@link Answers}).
   *
   * @param item the item
   * @param <V> the type of the item's answer: {@code Void} unless the buffer answers items
   * @return the item's future
   * @throws InterruptedException if interrupted on entry or while waiting
   */
  public <V> CompletableFuture<V> submit(T item) throws InterruptedException {
    Objects.requireNonNull(item, "item must not be null");
    CompletableFuture<V> result = new CompletableFuture<>();
    put(item, new Dispatcher.Tracked(item, result));
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
    Dispatcher.FlushRequest request = new Dispatcher.FlushRequest(result);
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
    // Counted before its slot is taken, so that a stats() snapshot in between can under-count the
    // accepted items for a moment but never count the request as one (accepted never goes back).
    telemetry.requested(1);
    int r = Channel.FULL;
    try {
      r = channel.tryOffer(request);
      if (r == Channel.FULL) {
        checkNotOwnThread();
        r = waitForSlot(request, 0L, false, 0L);
      }
    } finally {
      if (r != Channel.OK) {
        telemetry.requested(-1);
      }
    }
    if (r == Channel.CLOSED) {
      throw closed();
    }
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
    long w = byteHint == null ? 0L : hint(item);
    int result = channel.tryOffer(element, w);
    if (result == Channel.FULL) {
      checkNotOwnThread();
      result = waitForSlot(element, w, false, 0L);
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
    int result = channel.tryOffer(item, byteHint == null ? 0L : hint(item));
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
    // One absolute deadline for the whole call (bytes and slot together, and the time between);
    // a timeout so long that its deadline would wrap the clock is no timeout at all.
    long nanos = saturatedNanos(timeout);
    Blocking blocking = !timeout.isPositive() ? Blocking.NO
        : nanos > Long.MAX_VALUE / 4 ? Blocking.FOREVER : Blocking.TIMED;
    long deadline = blocking == Blocking.TIMED ? time.nanoTime() + nanos : 0L;
    if (failFast != null || memory != null) {
      return admit(item, item, blocking, deadline);
    }
    long w = byteHint == null ? 0L : hint(item);
    int result = channel.tryOffer(item, w);
    if (result == Channel.FULL && blocking != Blocking.NO) {
      checkNotOwnThread();
      result = waitForSlot(item, w, blocking == Blocking.TIMED, deadline);
    }
    if (result == Channel.CLOSED) {
      throw closed();
    }
    return result == Channel.OK;
  }

  /**
   * The slow path of add/offer when a policy fails fast or memory is bounded: check the item's
   * weight, take its bytes, then a channel slot, giving the bytes back if the slot is not had. The
   * item's bytes travel with it through the channel, so it is weighed once, here. A timed call
   * waits until {@code deadline} at most, for bytes and slot together.
   */
  private boolean admit(T item, Object element, Blocking blocking, long deadline)
      throws InterruptedException {
    boolean timed = blocking == Blocking.TIMED;
    Weigher<? super T> weigher = failFast;
    if (weigher != null) {
      long w = weigh(weigher, item);
      if (w < 0) {
        throw new IllegalArgumentException("the weigher returned " + w + " for "
            + Dispatcher.describe(item) + " (must be >= 0; Oversize.FAIL_FAST): not added");
      }
      if (w > failFastLimit) {
        throw new IllegalArgumentException("item weighs " + w + " bytes, above the per-item limit of "
            + failFastLimit + " (Oversize.FAIL_FAST): not added");
      }
    }
    MemoryGate<T> gate = memory;
    long m = 0;
    if (gate != null) {
      m = weigh(gate, item);
      if (!gate.tryAcquire(m)) {
        if (blocking == Blocking.NO) {
          checkOpen();
          return false;
        }
        checkNotOwnThread();
        if (!waitForBytes(gate, m, timed, deadline)) {
          checkOpen();
          return false;
        }
      }
    }
    boolean added = false;
    try {
      int result = channel.tryOffer(element, m);
      if (result == Channel.FULL && blocking != Blocking.NO) {
        checkNotOwnThread();
        result = waitForSlot(element, m, timed, deadline);
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

  /**
   * Weighs on the producer's thread: what the weigher throws goes to the caller (the item is not
   * accepted), and a fatal error also stops the buffer, as from any callback.
   */
  private long weigh(Weigher<? super T> weigher, T item) {
    try {
      return weigher.weigh(item);
    } catch (Throwable t) {
      problems.caught(t);
      throw t;
    }
  }

  /**
   * The item's weight by the batch's weigher, to wake the loop for a heavy item;
   * {@link Channel#UNWEIGHED} (which always wakes it) when the weigher throws or the weight is out
   * of range: the loop weighs the item again and handles what went wrong as it always does (the
   * item is never refused here).
   */
  private long hint(T item) {
    try {
      long w = Objects.requireNonNull(byteHint).weigh(item);
      return w >= 0 && w <= byteHintMaxItem ? w : Channel.UNWEIGHED;
    } catch (Throwable t) {
      problems.caught(t);
      return Channel.UNWEIGHED;
    }
  }

  private long weigh(MemoryGate<T> gate, T item) {
    try {
      return gate.weightOf(item);
    } catch (Throwable t) {
      problems.caught(t);
      throw t;
    }
  }

  /** Waits for a channel slot, telling the listener and JFR about the wait. */
  private int waitForSlot(Object element, long weight, boolean timed, long deadline)
      throws InterruptedException {
    Object event = Events.PRESENT ? Events.beginBlocked() : null;
    long start = telemetry.hearsProducers() ? blocked() : 0L;
    int result = Channel.FULL;
    try {
      result = channel.put(element, weight, timed, deadline);
      return result;
    } finally {
      unblocked(event, start, result == Channel.OK);
    }
  }

  /** Waits for room under the memory bound, telling the listener and JFR about the wait. */
  private boolean waitForBytes(MemoryGate<T> gate, long m, boolean timed, long deadline)
      throws InterruptedException {
    Object event = Events.PRESENT ? Events.beginBlocked() : null;
    long start = telemetry.hearsProducers() ? blocked() : 0L;
    boolean got = false;
    try {
      got = gate.acquire(m, timed, deadline, channel::isClosed);
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

  /**
   * Stops admission, wakes every waiter, and waits for the loop to end, unless called from one of
   * the buffer's own threads (there it returns at once: the loop may be waiting for that thread).
   */
  public void close() {
    stopAdmission();
    Thread t = loopThread;
    if (t == null || dispatcher.isOwnThread()) {
      return;
    }
    // Not join(): the thread that started the loop may not have called start() yet.
    awaitTermination(0L, false);
  }

  private void stopAdmission() {
    channel.close();
    MemoryGate<T> gate = memory;
    if (gate != null) {
      gate.wakeAll();
    }
  }

  /**
   * Closes within {@code timeout} of the buffer's clock: as {@link #close()}, but gives up when the
   * time is out. The dispatcher then flushes nothing more, interrupts the running flushes and the
   * loop, and gives up what is left; what it gave up within a grace of {@value #ABORT_GRACE_NANOS}
   * ns (also on the buffer's clock) is returned.
   *
   * @param timeout how long the drain may take
   * @return what was achieved
   */
  @SuppressWarnings("unchecked")
  public CloseResult<T> close(Duration timeout) {
    Objects.requireNonNull(timeout, "timeout must not be null");
    stopAdmission();
    Thread t = loopThread;
    if (t == null) {
      return new CloseResult<>(true, List.of(), false);
    }
    if (dispatcher.isOwnThread()) {
      return new CloseResult<>(false, List.of(), true);
    }
    long nanos = saturatedNanos(timeout);
    boolean forever = nanos > Long.MAX_VALUE / 4; // a deadline that far would wrap the clock
    if (awaitTermination(forever ? 0L : time.nanoTime() + nanos, !forever)) {
      List<T> left = (List<T>) (List<?>) dispatcher.seal();
      // A buffer that gave up (an earlier close(timeout), a fatal error) did not drain, even if
      // what it gave up went to onFlushError rather than into this list.
      return new CloseResult<>(left.isEmpty() && !dispatcher.aborting(), left, false);
    }
    dispatcher.stop(true);
    boolean done = awaitTermination(time.nanoTime() + ABORT_GRACE_NANOS, true);
    return new CloseResult<>(false, (List<T>) (List<?>) dispatcher.seal(), !done);
  }

  /**
   * Waits on the buffer's clock until the loop thread has ended, uninterruptibly (the interrupt is
   * restored).
   *
   * @return true if it ended, false if the deadline passed first
   */
  private boolean awaitTermination(long deadline, boolean timed) {
    if (endsSoon()) {
      return true;
    }
    Thread me = Thread.currentThread();
    boolean interrupted = false;
    closers.add(me);
    try {
      while (!terminated) {
        if (timed && deadline - time.nanoTime() <= 0) {
          return false;
        }
        if (timed) {
          time.parkUntil(this, deadline);
        } else {
          LockSupport.park(this);
        }
        interrupted |= Thread.interrupted();
      }
      return true;
    } finally {
      closers.remove(me);
      if (interrupted) {
        me.interrupt();
      }
    }
  }

  /**
   * Watches the loop end for a short while without parking: an idle or lightly loaded loop ends
   * within microseconds of the close, and a park and unpark of the closer would cost more than
   * the rest of the close. Bounded by wall time (not the buffer's clock: this is about CPU).
   */
  @SuppressWarnings("ThreadPriorityCheck") // lets the loop run if it shares our processor
  private boolean endsSoon() {
    long until = System.nanoTime() + CLOSE_SPIN_NANOS;
    for (int spins = 0; !terminated; spins++) {
      if ((spins & 63) == 63) {
        if (System.nanoTime() - until >= 0) {
          return false;
        }
        Thread.yield();
      } else {
        Thread.onSpinWait();
      }
    }
    return true;
  }

  private void checkOpen() {
    if (channel.isClosed()) {
      throw closed();
    }
  }

  private void checkNotOwnThread() {
    if (dispatcher.isOwnThread()) {
      throw new IllegalStateException(name + ": the buffer is full and this is one of its own "
          + "threads (" + Thread.currentThread().getName() + ": the loop, a flush, a periodic task "
          + "or a timeout worker); waiting here could deadlock (use offer(item) from callbacks)");
    }
  }

  private IllegalStateException closed() {
    telemetry.refused();
    Throwable cause = problems.fatal();
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
