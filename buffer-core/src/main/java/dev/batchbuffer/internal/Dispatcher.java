package dev.batchbuffer.internal;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.DeliveryTimeoutException;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.internal.jfr.Events;
import java.util.AbstractList;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.RandomAccess;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * The flushes of one buffer, from the moment the loop hands a batch over until every item in it is
 * settled; and every other way an accepted item can end (rejected, given up). Owns the threads the
 * buffer starts, the in-flight limit with per-key serialization, the interrupts of
 * {@code close(Duration)} and the list of items it gives up. Loop-owned, except where a member
 * says otherwise.
 *
 * @param <T> the item type
 */
public final class Dispatcher<T> {
  /*
   * Threads. Every thread the buffer starts (the loop, flush threads, asynchronous periodic tasks,
   * and the workers FlushMiddleware.timeout starts from a flush) runs with OWNER set to its
   * dispatcher. The producer side asks isOwnThread() before it waits: close() there returns at
   * once, and an add that would wait for room fails fast, because the thread it would wait for may
   * be itself. FLUSHING is set only around a call of the flush function, so a retry inside it
   * counts for this buffer and a retrying dead-letter writer called from onFlushError does not.
   *
   * A flush (a Job) goes QUEUED -> RUNNING -> FINISHED -> SETTLED.
   *   QUEUED    handed over while a flush of the same key runs (keyed buffers with maxInFlight > 1
   *             only): waits in that key's queue, so flushes of one key never overlap and start in
   *             batch order.
   *   RUNNING   the flush function runs: inline on the loop thread when maxInFlight is 1 (the loop
   *             waits), else on a virtual thread of its own, registered in `running`.
   *   FINISHED  it returned or threw; an off-loop job is posted to `finished` and the loop unparked.
   *   SETTLED   the loop counted it, completed its futures, handed its failed items to onFlushError
   *             (or, if close(timeout) interrupted it, to the undelivered list), gave back its
   *             memory, and started the next queued job of its key.
   * `pending` counts jobs handed over and not settled (queued + running + finished); the loop waits
   * while it is at maxInFlight. Settling happens on the loop thread only, so counters, futures and
   * callbacks see one writer, and each accepted item reaches exactly one outcome, here.
   *
   * Giving up. stop(interrupt) sets `aborting` (volatile; any thread): every later hand-over and
   * every queued job is given up instead of run, the loop gives up its batches and the channel, and
   * with `interrupt` (close(timeout)) every running flush thread and the loop are interrupted
   * (a job that starts after the flag reads it and interrupts itself). A flush that fails after such
   * an interrupt hands its failed items back as undelivered: the failure is ours, not the backend's.
   * Given-up items are kept as segments ordered by `seq` (dispatch order for a job, after every job
   * for the rest, a stable sort keeping the order they came in), so the list is in acceptance order.
   * seal() (close(timeout), any thread, under `lock`) takes the list; items given up after it was
   * taken can no longer be handed back, so they go to onFlushError like a failed batch.
   *
   * Flow control (FlowControl, `flow` non-null). Its limit replaces maxInFlight and every flush
   * runs off the loop, even at limit 1. Before a hand-over the loop waits in awaitFlow until fewer
   * than `flow.limit()` jobs are pending and the rate (if any) lets the batch go, settling what
   * finishes meanwhile. A settled job tells the FlowLimiter its outcome (flowSettled) before it is
   * counted; a retry inside a flush tells it each throttled attempt (attemptFailed, via FLUSHING).
   * Without flow control this costs the plain path one field test per hand-over.
   */

  /** The buffer each thread it started belongs to. */
  private static final ThreadLocal<@Nullable Dispatcher<?>> OWNER = new ThreadLocal<>();
  /** The flush whose function runs on this thread now (on a timeout worker: the flush it serves). */
  private static final ThreadLocal<@Nullable Job<?>> FLUSHING = new ThreadLocal<>();
  /** A key with a running flush and nothing queued behind it. Never mutated; compared by identity. */
  private static final ArrayDeque<Object> IDLE = new ArrayDeque<>(0);

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
     * @param key its key in a keyed buffer, or null
     * @param batch the items, owned by the callee
     * @throws Exception if the write failed
     */
    void flush(@Nullable Object key, List<T> batch) throws Exception;
  }

  /**
   * Where a finished batch goes when its write is asynchronous: the dispatcher starts the write and
   * settles it when the stage completes, with no thread waiting for it.
   *
   * @param <T> the item type
   */
  @FunctionalInterface
  public interface AsyncSink<T> {
    /**
     * Starts writing a batch.
     *
     * @param key its key in a keyed buffer, or null
     * @param batch the items, owned by the callee
     * @return completes when the write is done; exceptionally if it failed
     * @throws Exception if the write could not be started
     */
    CompletionStage<?> start(@Nullable Object key, List<T> batch) throws Exception;
  }

  /**
   * An item whose producer asked for a future; travels the channel in place of the item.
   *
   * @param item the item
   * @param result completes with the item's outcome
   */
  public record Tracked(Object item, CompletableFuture<?> result) {}

  /**
   * A {@code flush()} call: every item before it in the channel is settled before it completes.
   *
   * @param result completes when those items are settled
   */
  public record FlushRequest(CompletableFuture<Void> result) {}

  private final String name;
  private final TimeSource time;
  private final Problems problems;
  private final Telemetry<T> telemetry;
  private final Sink<T> sink;
  /** Starts asynchronous writes instead of {@link #sink}, or null. */
  private final @Nullable AsyncSink<T> async;
  /** Whether items are answered one by one ({@link Answers}): a result buffer. */
  private final boolean answered;
  private final Consumer<T> onReject;
  private final BiConsumer<Exception, List<T>> onFlushError;
  private final @Nullable MemoryGate<T> memory;
  private final int maxInFlight;
  /** The adaptive limit and rate (FlowControl), which replaces maxInFlight; or null. */
  private final @Nullable FlowLimiter flow;
  /** Whether flushes of one key must not overlap: keyed buffers with maxInFlight > 1. */
  private final boolean perKey;
  private volatile @Nullable Thread loop;
  /** The delivery timeout in nanoseconds, 0 for none; set before the loop starts. */
  private long deliveryTimeout;
  /** Per-key rate limits and pausing of a keyed buffer, or null. */
  private @Nullable KeyFlow<T> keyFlow;

  private int pending;
  /** Keys with a running flush, each with the jobs queued behind it ({@link #IDLE} for none). */
  private final Map<Object, ArrayDeque<Object>> busyKeys = new HashMap<>();
  private final ConcurrentLinkedQueue<Job<T>> finished = new ConcurrentLinkedQueue<>();
  /** Jobs running off the loop, for close(timeout)'s interrupts. Any thread. */
  private final Set<Job<T>> running;
  /**
   * The job of the flush running inline (maxInFlight 1), reused: no allocation per batch; made by
   * the first flush.
   */
  private @Nullable Job<T> inline;
  private long nextSeq;
  private volatile boolean aborting;
  /** Items failed or given up since the last flush() request completed. */
  private long failedSinceRequest;
  private long undeliveredSinceRequest;
  private @Nullable Throwable lastFailure;

  private final ReentrantLock lock = new ReentrantLock();
  /** Given-up items, by seq. Guarded by lock. */
  private final List<Segment> givenUp = new ArrayList<>();
  /** Set when close(timeout) took the list. Guarded by lock. */
  private boolean sealed;

  /** Items given up together, with the place of their batch in dispatch order. */
  private record Segment(long seq, List<?> items) {}

  /** One flush. Fields are written before the hand-off to its thread and read after it. */
  private static final class Job<T> {
    final Dispatcher<T> owner;
    /** Worker threads this flush started (FlushMiddleware.timeout) that have not ended. */
    final AtomicInteger workers = new AtomicInteger();
    /** Set by the loop when the job was settled while workers still ran: its key stays busy. */
    volatile boolean holdingKey;
    /** Claimed by whichever of the loop and the last worker frees the key, exactly once. */
    final AtomicBoolean keyFreed = new AtomicBoolean();
    /** Set when the job is posted again only to free its key. */
    volatile boolean freeKeyOnly;
    /**
     * Set when the job was settled while a timeout worker it started still ran: a retry there
     * must not send again (the items are already counted, and newer batches may have gone).
     */
    volatile boolean abandoned;
    Batch<T> batch = Batch.empty();
    @Nullable Object @Nullable [] futures;
    long held;
    long bytes;
    FlushReason reason = FlushReason.CLOSE;
    @Nullable Object key;
    long seq;
    long nanos;
    /** When the batch took its first item: its delivery timeout counts from here. */
    long since;
    /** When an asynchronous write started, on the buffer's clock. */
    long started;
    @Nullable Throwable failure;
    /** The answers of a result buffer's flush; made by the first call of its flush function. */
    @Nullable Answers answers;
    /** The stage of an asynchronous write, cancelled by stop(true). */
    volatile @Nullable CompletionStage<?> stage;
    /** Claimed by whichever of the stage and stop(true) ends an asynchronous write first. */
    final AtomicBoolean ended = new AtomicBoolean();
    /** The JFR event of an asynchronous write, or null. */
    @Nullable Object event;
    volatile @Nullable Thread runner;
    /** Set by stop(true) before it interrupts the runner. */
    volatile boolean interrupted;
    /** The flow control's generation of this flush's current attempt (see FlowLimiter). */
    volatile long flowGeneration;
    /** Set when an attempt of this flush reported throttling (a retry inside it). */
    volatile boolean throttleReported;

    Job(Dispatcher<T> owner) {
      this.owner = owner;
    }

    void set(Batch<T> batch, @Nullable Object @Nullable [] futures, long held, long bytes,
        FlushReason reason, @Nullable Object key, long seq) {
      this.batch = batch;
      this.futures = futures;
      this.held = held;
      this.bytes = bytes;
      this.reason = reason;
      this.key = key;
      this.seq = seq;
      this.failure = null;
      this.interrupted = false;
      this.answers = null;
    }
  }

  /**
   * The unmodifiable list a flush receives. It owns its array: the loop hands the array over and
   * never writes to it again, so a flush may keep the list for as long as it likes.
   *
   * @param <T> the item type
   */
  static final class Batch<T> extends AbstractList<T> implements RandomAccess {
    private static final Batch<Object> EMPTY = new Batch<>(new Object[0], 0);
    private final Object[] items;
    private final int size;

    Batch(Object[] items, int size) {
      this.items = items;
      this.size = size;
    }

    @SuppressWarnings("unchecked")
    static <T> Batch<T> empty() {
      return (Batch<T>) EMPTY;
    }

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

  /**
   * Creates the dispatcher of one buffer.
   *
   * @param name the buffer's name, the prefix of its threads' names
   * @param time its clock
   * @param problems where callback failures go
   * @param telemetry where outcomes are counted and told
   * @param sink writes a batch
   * @param async starts an asynchronous write of a batch instead of {@code sink}, or null
   * @param answered whether the flush function answers each item ({@link Answers})
   * @param onReject receives refused items
   * @param onFlushError receives failed items
   * @param memory the byte bound, released as items are settled, or null
   * @param maxInFlight flushes at once; 1 runs them inline on the loop thread
   * @param keyed whether batches have keys whose flushes must not overlap
   */
  public Dispatcher(String name, TimeSource time, Problems problems, Telemetry<T> telemetry,
      Sink<T> sink, @Nullable AsyncSink<T> async, boolean answered, Consumer<T> onReject,
      BiConsumer<Exception, List<T>> onFlushError, @Nullable MemoryGate<T> memory,
      int maxInFlight, boolean keyed) {
    this(name, time, problems, telemetry, sink, async, answered, onReject, onFlushError, memory,
        maxInFlight, keyed, null);
  }

  /**
   * Creates the dispatcher of one buffer, with an adaptive flow control.
   *
   * @param name the buffer's name, the prefix of its threads' names
   * @param time its clock
   * @param problems where callback failures go
   * @param telemetry where outcomes are counted and told
   * @param sink writes a batch
   * @param async starts an asynchronous write of a batch instead of {@code sink}, or null
   * @param answered whether the flush function answers each item ({@link Answers})
   * @param onReject receives refused items
   * @param onFlushError receives failed items
   * @param memory the byte bound, released as items are settled, or null
   * @param maxInFlight flushes at once; 1 runs them inline on the loop thread
   * @param keyed whether batches have keys whose flushes must not overlap
   * @param flow the flow control's state, whose limit replaces {@code maxInFlight}, or null
   */
  public Dispatcher(String name, TimeSource time, Problems problems, Telemetry<T> telemetry,
      Sink<T> sink, @Nullable AsyncSink<T> async, boolean answered, Consumer<T> onReject,
      BiConsumer<Exception, List<T>> onFlushError, @Nullable MemoryGate<T> memory,
      int maxInFlight, boolean keyed, @Nullable FlowLimiter flow) {
    this.flow = flow;
    this.name = name;
    this.time = time;
    this.problems = problems;
    this.telemetry = telemetry;
    this.sink = sink;
    this.async = async;
    this.answered = answered;
    this.onReject = onReject;
    this.onFlushError = onFlushError;
    this.memory = memory;
    this.maxInFlight = maxInFlight;
    // Only flushes off the loop (maxInFlight > 1, or asynchronous writes) are registered here.
    boolean offLoop = maxInFlight > 1 || async != null || flow != null;
    this.running = offLoop ? ConcurrentHashMap.newKeySet() : Set.of();
    this.perKey = keyed && offLoop;
  }

  /**
   * Puts per-key flow control between the loop and the flushes; before the loop starts.
   *
   * @param keyFlow the keyed buffer's flow control
   */
  public void useKeyFlow(KeyFlow<T> keyFlow) {
    this.keyFlow = keyFlow;
  }

  /**
   * Returns the per-key flow control, if any.
   *
   * @return it, or null
   */
  public @Nullable KeyFlow<T> keyFlow() {
    return keyFlow;
  }

  /** Wakes the loop (a key was resumed). Any thread. */
  void wakeLoop() {
    LockSupport.unpark(loop);
  }

  // ---- threads ------------------------------------------------------------------------------

  /**
   * Creates (does not start) a virtual thread of this buffer.
   *
   * @param suffix appended to the buffer's name
   * @param body what it runs
   * @return the thread
   */
  public Thread newThread(String suffix, Runnable body) {
    return Thread.ofVirtual().name(name + suffix).unstarted(() -> {
      OWNER.set(this);
      body.run();
    });
  }

  /**
   * Names the loop thread: the one that settles, and that close(timeout) interrupts.
   *
   * @param thread the loop thread
   */
  public void bindLoop(Thread thread) {
    this.loop = thread;
  }

  /**
   * Sets the delivery timeout (see {@link Deadlines}). Before the loop starts.
   *
   * @param nanos the timeout in nanoseconds, 0 for none
   */
  public void deliveryTimeout(long nanos) {
    this.deliveryTimeout = nanos;
  }

  /**
   * Returns whether the calling thread is one this buffer started. Any thread.
   *
   * @return true on the loop, a flush thread, a periodic task's thread or a timeout worker
   */
  public boolean isOwnThread() {
    return OWNER.get() == this;
  }

  /**
   * Starts a helper virtual thread for the flush running on the calling thread (a timeout's
   * worker): it belongs to the same buffer, and a retry inside it counts for that buffer.
   *
   * @param name the thread's name
   * @param body what it runs
   * @return the started thread
   */
  public static Thread startWorker(String name, Runnable body) {
    Dispatcher<?> owner = OWNER.get();
    Job<?> flushing = FLUSHING.get();
    if (flushing != null) {
      flushing.workers.incrementAndGet();
    }
    return Thread.ofVirtual().name(name).start(() -> {
      OWNER.set(owner);
      FLUSHING.set(flushing);
      try {
        body.run();
      } finally {
        if (flushing != null) {
          flushing.owner.workerEnded(flushing);
        }
      }
    });
  }

  /**
   * A worker of {@code job} ended. If it was the last and the job was settled meanwhile, the job's
   * key is freed: the loop starts the key's next flush. Any thread.
   */
  private void workerEnded(Job<?> job) {
    if (job.workers.decrementAndGet() == 0 && job.holdingKey
        && job.keyFreed.compareAndSet(false, true)) {
      @SuppressWarnings("unchecked")
      Job<T> mine = (Job<T>) job;
      mine.freeKeyOnly = true;
      finished.add(mine);
      LockSupport.unpark(loop);
    }
  }

  /**
   * Returns the answers of the flush whose function runs on this thread (made by the first call).
   *
   * @return the answers, whose batch is the flush's whole batch
   * @throws IllegalStateException if no flush of a buffer runs on this thread (a result flush
   *     function called on a thread of its own, not the buffer's)
   */
  public static Answers answersOfCurrentFlush() {
    Job<?> job = FLUSHING.get();
    if (job == null) {
      throw new IllegalStateException("a result flush function must be called by its buffer, on "
          + "the thread the buffer (or a FlushMiddleware of it) calls it on");
    }
    synchronized (job) {
      Answers a = job.answers;
      if (a == null) {
        a = new Answers(job.batch);
        job.answers = a;
      }
      return a;
    }
  }

  /**
   * Returns the telemetry of the buffer whose flush function runs on this thread.
   *
   * @return it, or null outside a flush
   */
  public static @Nullable Telemetry<?> flushingTelemetry() {
    Job<?> job = FLUSHING.get();
    return job == null ? null : job.owner.telemetry;
  }

  /**
   * Returns whether the flush this thread works for was already settled: a timeout gave up on
   * the call this thread still runs. A retry here must stop: its items are counted as failed,
   * and the buffer (or the key) may have sent newer items since.
   *
   * @return true on an abandoned timeout worker
   */
  public static boolean flushAbandoned() {
    Job<?> job = FLUSHING.get();
    return job != null && job.abandoned;
  }

  /**
   * Returns the expiry of the items of the flush running on this thread if their delivery timeout
   * has passed, or will have passed {@code delayNanos} from now (a retry's backoff).
   *
   * @param delayNanos how long from now the next attempt would start
   * @param items how many items the next attempt would send, for the message
   * @param cause the last failure of the flush, or null
   * @return the exception to throw for them, or null if they have time (or no timeout is set)
   */
  public static @Nullable DeliveryTimeoutException expiresWithin(long delayNanos, int items,
      @Nullable Throwable cause) {
    Job<?> job = FLUSHING.get();
    if (job == null || job.owner.deliveryTimeout == 0) {
      return null;
    }
    long timeout = job.owner.deliveryTimeout;
    long waited = job.owner.time.nanoTime() - job.since;
    return waited + delayNanos < timeout ? null : Deadlines.expired(timeout, waited, items, cause);
  }

  /**
   * Returns how long the items of the flush running on this thread have left before their
   * delivery timeout, for a middleware that waits (a circuit breaker's cool-down).
   *
   * @return nanoseconds, at most 0 once passed; {@link Long#MAX_VALUE} outside a flush or without
   *     a delivery timeout
   */
  public static long deliveryTimeLeft() {
    Job<?> job = FLUSHING.get();
    if (job == null || job.owner.deliveryTimeout == 0) {
      return Long.MAX_VALUE;
    }
    return job.owner.deliveryTimeout - (job.owner.time.nanoTime() - job.since);
  }

  /**
   * Tells the flow control of the flush running on this thread that an attempt of it failed (a
   * retry inside the flush): a throttled attempt cuts the limit even if a later attempt succeeds.
   * Nothing happens outside a flush or without flow control. Any thread.
   *
   * @param failure what the attempt threw
   */
  public static void attemptFailed(Throwable failure) {
    Job<?> job = FLUSHING.get();
    FlowLimiter f = job == null ? null : job.owner.flow;
    if (f != null && f.isThrottled(failure)) {
      job.throttleReported = true;
      job.flowGeneration = f.throttled(job.flowGeneration);
    }
  }

  // ---- hand-over ------------------------------------------------------------------------------

  /**
   * Takes the items out of {@code s} (which is left empty) and flushes them: inline when
   * {@code maxInFlight} is 1; else on a thread of their own once fewer than {@code maxInFlight}
   * flushes are pending (the loop waits), behind a running flush of the same key if there is one.
   * Gives them up instead once the buffer gives up.
   *
   * @param s a non-empty batch
   * @param reason why it is flushed
   */
  @SuppressWarnings("ReferenceEquality") // IDLE is a marker
  public void dispatch(BatchState<T> s, FlushReason reason) {
    Batch<T> batch = new Batch<>(s.items, s.size);
    @Nullable Object @Nullable [] futures = s.futures;
    long held = s.held;
    long bytes = s.bytes;
    long since = s.armedAt;
    s.items = BatchState.NO_ITEMS; // the next batch allocates its array with its first item
    s.futures = null;
    s.size = 0;
    s.bytes = 0;
    s.held = 0;
    s.epoch++;
    s.lastUsed = time.nanoTime();
    if (aborting || problems.fatal() != null) { // after a fatal error nothing more is flushed
      giveUp(batch, futures, held);
      return;
    }
    long seq = nextSeq++;
    KeyFlow<T> kf = keyFlow;
    if (kf != null && kf.hold(batch, futures, held, bytes, reason, Objects.requireNonNull(s.key),
        seq, since)) {
      return;
    }
    forward(batch, futures, held, bytes, reason, s.key, seq, since);
  }

  /**
   * Flushes a batch the loop handed over, or that the key flow held back until now; {@code since}
   * is when the loop took its first item, from which its delivery timeout counts.
   */
  @SuppressWarnings("ReferenceEquality") // IDLE is a marker
  void forward(Batch<T> batch, @Nullable Object @Nullable [] futures, long held, long bytes,
      FlushReason reason, @Nullable Object key, long seq, long since) {
    if (maxInFlight == 1 && async == null && flow == null) {
      Job<T> job = inline;
      // A result buffer's flush gets a job of its own: a call a timeout abandoned may still look
      // up its answers through the job it ran for, and must not find the next flush's.
      if (job == null || answered) {
        job = new Job<>(this);
        inline = job;
      }
      if (deliveryTimeout != 0 && expiredUnsent(batch, futures, held, since, key)) {
        return;
      }
      job.set(batch, futures, held, bytes, reason, key, seq);
      job.since = since;
      telemetry.flushStarted(batch.size(), bytes, reason);
      run(job);
      settle(job, aborting);
      if (job.abandoned) { // its worker still reads it: the next flush gets a job of its own
        inline = null;
      }
      job.set(Batch.empty(), null, 0, 0, reason, null, 0);
      KeyFlow<T> kf = keyFlow;
      if (kf != null) {
        kf.settled(Objects.requireNonNull(key));
      }
      return;
    }
    if (flow != null) {
      awaitFlow(flow, batch.size());
    }
    while (pending >= maxInFlight && flow == null && !aborting) {
      awaitFinished();
    }
    // Either may have come while the loop waited for a slot: a flush that finished meanwhile may
    // have thrown a fatal error, and nothing is flushed after one.
    if (aborting || problems.fatal() != null) {
      giveUp(batch, futures, held);
      KeyFlow<T> kf = keyFlow;
      if (kf != null) {
        kf.settled(Objects.requireNonNull(key));
      }
      return;
    }
    if (deliveryTimeout != 0 && expiredUnsent(batch, futures, held, since, key)) {
      return;
    }
    Job<T> job = new Job<>(this);
    job.set(batch, futures, held, bytes, reason, key, seq);
    job.since = since;
    pending++;
    telemetry.flushStarted(batch.size(), bytes, reason);
    if (perKey) {
      ArrayDeque<Object> queue = busyKeys.get(Objects.requireNonNull(key));
      if (queue != null) {
        if (queue == IDLE) { // the shared empty marker: give the key a queue of its own
          queue = new ArrayDeque<>();
          busyKeys.put(key, queue);
        }
        queue.add(job);
        return;
      }
      busyKeys.put(key, IDLE);
    }
    start(job);
  }

  private void start(Job<T> job) {
    if (flow != null) {
      job.flowGeneration = flow.generation();
    }
    running.add(job);
    if (async != null) {
      startAsync(job, async);
      return;
    }
    Thread loopThread = loop;
    newThread("-flush", () -> {
      job.runner = Thread.currentThread();
      if (aborting) { // stop() ran before `runner` was set, so it could not interrupt us
        job.interrupted = true;
        Thread.currentThread().interrupt();
      }
      try {
        run(job);
      } finally {
        running.remove(job);
        job.runner = null;
        finished.add(job);
        LockSupport.unpark(loopThread);
      }
    }).start();
  }

  /**
   * Starts an asynchronous write on the loop thread; the stage's completion (any thread) posts the
   * job to `finished`, and close(timeout) cancels the stage.
   */
  private void startAsync(Job<T> job, AsyncSink<T> starter) {
    clearStrayInterrupt();
    Job<?> outer = FLUSHING.get();
    FLUSHING.set(job);
    job.event = Events.PRESENT ? Events.beginFlush() : null;
    job.started = time.nanoTime();
    CompletionStage<?> stage;
    try {
      stage = Objects.requireNonNull(starter.start(job.key, job.batch),
          "the asynchronous flush function returned null instead of a stage");
    } catch (Throwable t) {
      endAsync(job, t, false);
      return;
    } finally {
      FLUSHING.set(outer);
    }
    job.stage = stage;
    if (aborting) { // stop() ran before the stage was known, so it could not cancel it
      cancel(job);
    }
    stage.whenComplete((ignored, t) -> endAsync(job, t, false));
  }

  /**
   * Ends an asynchronous write, once: records its failure and posts it for settling. Any thread.
   *
   * @return false if it had already ended
   */
  private boolean endAsync(Job<T> job, @Nullable Throwable failure, boolean byClose) {
    if (!job.ended.compareAndSet(false, true)) {
      return false;
    }
    if (failure != null) {
      job.failure = failure instanceof CompletionException && failure.getCause() != null
          ? failure.getCause() : failure;
    }
    job.interrupted = byClose;
    job.nanos = time.nanoTime() - job.started;
    commitEvent(job, job.event);
    running.remove(job);
    finished.add(job);
    LockSupport.unpark(loop);
    return true;
  }

  /** close(timeout) gives up on an asynchronous write: it ends now, as interrupted. */
  private void cancel(Job<T> job) {
    if (endAsync(job, new CancellationException(
        "close(timeout) gave up on the asynchronous flush"), true)) {
      CompletionStage<?> stage = job.stage;
      if (stage instanceof Future<?> f) {
        f.cancel(true);
      }
    }
  }

  /** Calls the sink, timing it, with a JFR event around it; records what it threw. */
  private void run(Job<T> job) {
    clearStrayInterrupt();
    Object event = Events.PRESENT ? Events.beginFlush() : null;
    Job<?> outer = FLUSHING.get();
    FLUSHING.set(job);
    long start = time.nanoTime();
    try {
      sink.flush(job.key, job.batch);
    } catch (Throwable t) {
      job.failure = t;
    } finally {
      job.nanos = time.nanoTime() - start;
      FLUSHING.set(outer);
    }
    commitEvent(job, event);
  }

  private void commitEvent(Job<T> job, @Nullable Object event) {
    if (event != null) {
      Throwable f = job.failure;
      try {
        Events.commitFlush(event, name, job.key == null ? "" : describe(job.key),
            job.batch.size(), job.bytes, job.reason.name(),
            f == null ? "ok" : deliveryTimeout != 0 && Deadlines.isExpiry(f) ? "expired"
            : f instanceof PartialFlushException ? "partial" : "failed");
      } catch (Throwable t) {
        problems.caught(t);
        problems.report(Problems.Kind.LISTENER_FAILED, "recording a JFR flush event failed", t);
      }
    }
  }

  /**
   * Clears an interrupt that a callback left on this thread (the loop or a flush thread), so that
   * it cannot fail the next flush or turn a park into a spin; close(timeout)'s own interrupt is
   * kept (the loop never parks once it is given: the channel is closed by then). Read after the flag:
   * stop() sets `aborting` before it interrupts, so an interrupt from it is always recognised.
   */
  public void clearStrayInterrupt() {
    if (Thread.interrupted()) {
      if (aborting) {
        Thread.currentThread().interrupt();
      } else {
        problems.report(Problems.Kind.LOOP_INTERRUPTED,
            "a callback interrupted its thread; the interrupt was cleared", null);
      }
    }
  }

  // ---- waiting for flushes --------------------------------------------------------------------

  /** Settles the flushes that finished off the loop. Loop thread; cheap when none. */
  public void settleFinished() {
    Job<T> job;
    while ((job = finished.poll()) != null) {
      if (job.freeKeyOnly) { // its last timeout worker ended: the key may flush again
        startNextOf(Objects.requireNonNull(job.key));
        continue;
      }
      pending--;
      FlowLimiter fl = flow;
      if (fl != null) { // first: whoever sees the items settled sees the limit they caused
        flowSettledSafely(fl, job);
      }
      settle(job, job.interrupted);
      KeyFlow<T> kf = keyFlow;
      if (kf != null) {
        kf.settled(Objects.requireNonNull(job.key));
      }
      if (perKey && !holdsKey(job)) {
        startNextOf(Objects.requireNonNull(job.key));
      }
    }
  }

  /**
   * Whether a settled job keeps its key busy: a timeout worker it started (and abandoned) still
   * runs the flush function, so the key's next flush must not start yet. The last worker to end
   * frees the key (workerEnded).
   */
  private boolean holdsKey(Job<T> job) {
    if (job.workers.get() == 0) {
      return false;
    }
    job.holdingKey = true; // then read workers again: workerEnded reads them the other way round
    return job.workers.get() != 0 || !job.keyFreed.compareAndSet(false, true);
  }

  /** A flush of {@code key} was settled: start the next one queued behind it, if any. */
  @SuppressWarnings("unchecked")
  private void startNextOf(Object key) {
    ArrayDeque<Object> queue = busyKeys.get(key);
    if (queue != null && (aborting || problems.fatal() != null)) { // nothing starts after either
      giveUpQueued();
    }
    Object next = queue == null ? null : queue.poll();
    while (deliveryTimeout != 0 && queue != null && next != null && expiredQueued((Job<T>) next)) {
      next = queue.poll();
    }
    if (next == null) {
      busyKeys.remove(key);
    } else {
      start((Job<T>) next);
    }
  }

  /** Gives up every job still queued behind a running flush of its key. */
  @SuppressWarnings("unchecked")
  private void giveUpQueued() {
    for (var it = busyKeys.values().iterator(); it.hasNext(); ) {
      ArrayDeque<Object> queue = it.next();
      for (Object o; (o = queue.poll()) != null; ) {
        Job<T> job = (Job<T>) o;
        pending--;
        telemetry.flushAbandoned(job.batch.size(), job.bytes);
        giveUp(job.seq, job.batch, job.futures, job.held, null);
      }
    }
  }

  /** Parks until a flush finishes (then settles it) or the buffer gives up. */
  private void awaitFinished() {
    while (finished.isEmpty() && !aborting) {
      LockSupport.park(this);
      Thread.interrupted(); // close(timeout)'s interrupt is read through `aborting`; never spin
    }
    settleFinished();
  }

  /**
   * Waits, settling what finishes meanwhile, until fewer flushes than the flow control's limit are
   * pending and its rate lets {@code items} go, or the buffer gives up. Loop thread.
   */
  private void awaitFlow(FlowLimiter f, int items) {
    while (!aborting) {
      settleFinished();
      if (pending >= f.limit()) {
        awaitFinished();
        continue;
      }
      long wait = f.reserve(items);
      if (wait <= 0) {
        return;
      }
      time.parkUntil(this, time.nanoTime() + wait); // a settled flush unparks it: the rate may fall
      Thread.interrupted(); // close(timeout)'s interrupt is read through `aborting`; never spin
    }
  }

  /** {@link #flowSettled}, reporting whatever it throws: the job is polled and must be settled. */
  private void flowSettledSafely(FlowLimiter f, Job<T> job) {
    try {
      flowSettled(f, job);
    } catch (Throwable t) {
      problems.caught(t);
      problems.report(Problems.Kind.POLICY_FAILED, "the flow control failed to judge a "
          + "flush; it counts as neither a success nor a throttle", t);
    }
  }

  /**
   * Tells the flow control how a settled flush went: a success grows it, a throttled failure cuts
   * it (unless an attempt already reported it, or close(timeout) interrupted the flush); other
   * failures say nothing. In a result buffer an item failed by a throttling error counts too.
   */
  private void flowSettled(FlowLimiter f, Job<T> job) {
    if (job.interrupted || job.throttleReported) {
      return;
    }
    Throwable failure = job.failure;
    boolean failed = failure != null;
    boolean throttled = failed && f.isThrottled(failure);
    Answers answers;
    synchronized (job) {
      answers = job.answers;
    }
    if (!throttled && answers != null) {
      for (int i = 0, n = job.batch.size(); i < n && !throttled; i++) {
        Throwable own = answers.error(i);
        if (own != null) {
          failed = true;
          throttled = f.isThrottled(own);
        }
      }
    }
    if (throttled) {
      f.throttled(job.flowGeneration);
    } else if (!failed) {
      f.succeeded();
    }
  }

  /**
   * Parks until a flush finishes (then settles it), the time {@code at} comes (if timed), the
   * loop is woken, or the buffer gives up: the key flow's wait for a bucket or a key's flush.
   */
  void awaitFinishedOr(boolean timed, long at) {
    if (finished.isEmpty() && !aborting) {
      if (timed) {
        time.parkUntil(this, at);
      } else {
        LockSupport.park(this);
      }
      Thread.interrupted(); // close(timeout)'s interrupt is read through `aborting`; never spin
    }
    settleFinished();
  }

  /**
   * Waits until every flush handed over is settled (queued ones are given up if the buffer gives
   * up; running ones are always waited for). Loop thread.
   */
  public void awaitAll() {
    settleFinished();
    while (pending > 0) {
      if (aborting) {
        giveUpQueued();
        if (pending == 0) {
          break;
        }
      }
      while (finished.isEmpty()) {
        LockSupport.park(this);
        Thread.interrupted();
      }
      settleFinished();
    }
  }

  /**
   * Returns whether flushes are handed over and not yet settled.
   *
   * @return true while any is pending
   */
  public boolean busy() {
    return pending > 0;
  }

  // ---- giving up ------------------------------------------------------------------------------

  /**
   * Gives up: flush nothing more, give up what is left. Any thread.
   *
   * @param interrupt whether to interrupt the loop and every running flush (close(timeout));
   *     false after a fatal error, when running flushes finish normally
   */
  public void stop(boolean interrupt) {
    aborting = true;
    if (!interrupt) {
      return;
    }
    for (Job<T> job : running) {
      if (async != null) {
        if (job.stage != null) { // else startAsync sees `aborting` once the stage is known
          cancel(job);
        }
        continue;
      }
      job.interrupted = true;
      Thread r = job.runner;
      if (r != null) {
        r.interrupt();
      }
    }
    Thread l = loop;
    if (l != null) {
      l.interrupt();
    }
  }

  /**
   * Returns whether the buffer gives up. Any thread.
   *
   * @return true once {@link #stop} was called
   */
  public boolean aborting() {
    return aborting;
  }

  /**
   * Gives up items that were never handed to the flush function (after {@link #stop}).
   *
   * @param items the items, in acceptance order
   * @param futures their futures, parallel to {@code items}, or null if none is tracked
   * @param held the bytes they hold under the memory bound
   */
  public void giveUp(List<?> items, @Nullable Object @Nullable [] futures, long held) {
    giveUp(Long.MAX_VALUE, items, futures, held, null);
  }

  private void giveUp(long seq, List<?> items, @Nullable Object @Nullable [] futures, long held,
      @Nullable Throwable cause) {
    release(held); // before onFlushError, which may offer items again
    int n = items.size();
    if (n == 0) {
      return;
    }
    Throwable why = cause != null ? cause : problems.fatal();
    if (handBack(seq, items)) {
      telemetry.gaveUp(n, true);
      undeliveredSinceRequest += n;
      failAll(futures, n, DeliveryException.Reason.UNDELIVERED, why == null
          ? "close(timeout) gave up before the item was delivered"
          : "the buffer stopped before the item was delivered", why);
      return;
    }
    telemetry.gaveUp(n, false);
    failedSinceRequest += n;
    String message = "close(timeout) had returned before these " + n + " items were settled";
    DeliveryException e = new DeliveryException(DeliveryException.Reason.UNDELIVERED, message, why);
    lastFailure = e;
    failAll(futures, n, DeliveryException.Reason.FAILED, message, e);
    @SuppressWarnings("unchecked")
    List<T> list = (List<T>) items;
    tellOnFlushError(e, list);
  }

  /**
   * Fails a batch that was never sent because its delivery timeout passed while it waited (for a
   * flush slot, or the loop): counted as failed and expired, its futures fail with EXPIRED, and
   * onFlushError receives it with a DeliveryTimeoutException.
   *
   * @return false (nothing done) if the batch still has time
   */
  private boolean expired(Batch<T> batch, @Nullable Object @Nullable [] futures, long held,
      long since, long now) {
    long waited = now - since;
    if (waited < deliveryTimeout) {
      return false;
    }
    release(held); // before onFlushError, which may offer items again
    int n = batch.size();
    DeliveryTimeoutException e = Deadlines.expired(deliveryTimeout, waited, n, null);
    telemetry.gaveUp(n, false);
    telemetry.expired(n);
    failedSinceRequest += n;
    lastFailure = e;
    failAll(futures, n, DeliveryException.Reason.EXPIRED,
        "the item's delivery timeout passed before it was sent", e);
    tellOnFlushError(e, batch);
    return true;
  }

  /**
   * Returns whether a batch whose loop took its first item at {@code since} is past its delivery
   * timeout now. Loop thread.
   *
   * @param since when the loop took the batch's first item
   * @return false without a delivery timeout
   */
  boolean hasExpired(long since) {
    return deliveryTimeout != 0 && time.nanoTime() - since >= deliveryTimeout;
  }

  /**
   * Fails a batch about to be sent whose delivery timeout has passed (see {@link #expired}); the
   * key flow, which let it go, hears that the key's batch failed for good (so the key pauses, if
   * keys pause) and that the key is free again.
   *
   * @return false (nothing done) if the batch still has time
   */
  boolean expiredUnsent(Batch<T> batch, @Nullable Object @Nullable [] futures, long held,
      long since, @Nullable Object key) {
    long now = time.nanoTime();
    if (now - since < deliveryTimeout) {
      return false;
    }
    failExpired(batch, futures, held, since, key, now);
    return true;
  }

  /**
   * A job queued behind its key's flush whose timeout passed: fails it unsent, true; else false.
   * The key flow, which let it go, hears it as {@link #expiredUnsent} tells it: else the key would
   * stay in flight there for good, and hold its later batches forever.
   */
  private boolean expiredQueued(Job<T> job) {
    long now = time.nanoTime();
    if (now - job.since < deliveryTimeout) {
      return false;
    }
    pending--;
    telemetry.flushAbandoned(job.batch.size(), job.bytes);
    failExpired(job.batch, job.futures, job.held, job.since, job.key, now);
    return true;
  }

  /** {@link #expired} for a batch past its timeout, told to the key flow around it (if any). */
  private void failExpired(Batch<T> batch, @Nullable Object @Nullable [] futures, long held,
      long since, @Nullable Object key, long now) {
    KeyFlow<T> kf = keyFlow;
    if (kf != null) { // before the futures and onFlushError: either may see or resume the key
      kf.failedForGood(Objects.requireNonNull(key));
      kf.settled(key);
    }
    expired(batch, futures, held, since, now);
    if (kf != null) { // after it: the key's later batches fail in order
      kf.failHeldOfPaused(Objects.requireNonNull(key));
    }
  }

  /** Adds items to the undelivered list unless close(timeout) already took it. */
  private boolean handBack(long seq, List<?> items) {
    lock.lock();
    try {
      if (sealed) {
        return false;
      }
      givenUp.add(new Segment(seq, items));
      return true;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Takes the list of items given up so far, in acceptance order; later ones go to onFlushError.
   * The list is handed out once: a later call (a second close(timeout)) gets only what was given
   * up since, so no item is returned twice. Any thread.
   *
   * @return the undelivered items
   */
  public List<Object> seal() {
    lock.lock();
    try {
      sealed = true;
      givenUp.sort(Comparator.comparingLong(Segment::seq)); // stable: equal seqs keep their order
      List<Object> all = new ArrayList<>();
      for (Segment s : givenUp) {
        all.addAll(s.items());
      }
      givenUp.clear();
      return all;
    } finally {
      lock.unlock();
    }
  }

  // ---- outcomes -------------------------------------------------------------------------------

  /**
   * Refuses an item: its future fails with the reason, onReject receives it.
   *
   * @param item the item
   * @param m the bytes it holds under the memory bound
   * @param future its future, if tracked
   * @param why what refused it, for the future's exception
   * @param cause the exception of the callback that failed, if any
   */
  public void reject(T item, long m, @Nullable CompletableFuture<?> future, String why,
      @Nullable Throwable cause) {
    telemetry.rejected(item);
    release(m); // first: onReject may offer the item again, or another in its place
    if (future != null) {
      future.completeExceptionally(
          new DeliveryException(DeliveryException.Reason.REJECTED, why, cause));
    }
    try {
      onReject.accept(item);
    } catch (Throwable t) {
      problems.caught(t);
      problems.report(Problems.Kind.ON_REJECT_FAILED,
          "onReject threw; the rejected item is dropped: " + describe(item), t);
    }
  }

  /**
   * Settles a finished flush: counts it, completes its futures, hands failed items to onFlushError
   * (or, when close(timeout) interrupted it, back as undelivered), gives back its memory.
   */
  private void settle(Job<T> job, boolean interruptedByClose) {
    if (job.workers.get() != 0) { // a timeout gave up on a call that still runs
      job.abandoned = true;
    }
    Batch<T> batch = job.batch;
    int n = batch.size();
    // The bytes go back before any callback: onFlushError may offer the failed items again.
    release(job.held);
    Throwable failure = job.failure;
    Answers answers = null;
    int[] failedAt = null; // null: every item failed
    if (answered) {
      synchronized (job) {
        answers = job.answers;
      }
      if (answers != null) {
        answers.seal();
        failedAt = answers.unanswered();
        if (failedAt.length == n) {
          failedAt = null;
        }
      }
      if (failedAt != null && failedAt.length == 0) { // every item answered with success
        if (failure != null) { // thrown after the answers (a middleware): they stand
          problems.caught(failure);
        }
        telemetry.flushSettled(job.key, n, job.bytes, job.reason, job.nanos, 0, 0, null);
        completeEach(job.futures, n, failedAt, answers, DeliveryException.Reason.FAILED, "", null);
        return;
      }
      if (failure == null) { // a middleware returned without the items' answers
        failure = new IllegalStateException("the flush returned without an answer for "
            + (failedAt == null ? n : failedAt.length) + " of its " + n + " items");
      }
    } else if (failure == null) {
      telemetry.flushSettled(job.key, n, job.bytes, job.reason, job.nanos, 0, 0, null);
      completeAll(job.futures, n);
      return;
    }
    problems.caught(failure); // a VirtualMachineError stops the buffer after this settle
    Exception e = failure instanceof Exception ex ? ex : new ExecutionException(failure);
    if (!answered && e instanceof PartialFlushException partial) {
      failedAt = indexes(partial, n);
      if (failedAt != null && failedAt.length == 0) { // names no item: nothing failed
        telemetry.flushSettled(job.key, n, job.bytes, job.reason, job.nanos, 0, 0, null);
        completeAll(job.futures, n);
        return;
      }
    }
    int k = failedAt == null ? n : failedAt.length;
    List<T> failed = failedAt == null ? batch : select(batch, failedAt);
    if (interruptedByClose && handBack(job.seq, failed)) {
      telemetry.flushSettled(job.key, n, job.bytes, job.reason, job.nanos, 0, k, e);
      undeliveredSinceRequest += k;
      completeEach(job.futures, n, failedAt, answers, DeliveryException.Reason.UNDELIVERED,
          "close(timeout) interrupted the item's flush and gave it up", e);
      return;
    }
    telemetry.flushSettled(job.key, n, job.bytes, job.reason, job.nanos, k, 0, e);
    failedSinceRequest += k;
    lastFailure = e;
    KeyFlow<T> kf = keyFlow;
    if (kf != null) { // before the futures and onFlushError: either may see or resume the key
      kf.failedForGood(Objects.requireNonNull(job.key));
    }
    boolean expired = deliveryTimeout != 0 && Deadlines.isExpiry(e);
    if (expired) {
      telemetry.expired(k);
    }
    completeEach(job.futures, n, failedAt, answers, expired ? DeliveryException.Reason.EXPIRED
        : DeliveryException.Reason.FAILED, expired ? "the item's delivery timeout passed"
        : answers == null ? "the item's batch failed" : "the item failed", e);
    tellOnFlushError(failedAt == null ? e : rebased(e, k), failed);
    if (kf != null) { // after it: the key's later batches fail in order
      kf.failHeldOfPaused(Objects.requireNonNull(job.key));
    }
  }

  /** The failed indexes of a partial failure, or null (all failed) if one is out of range. */
  private int @Nullable [] indexes(PartialFlushException partial, int n) {
    // Sorted and distinct as the constructor makes them, even if a subclass overrides the getter.
    int[] at = partial.failedIndexes().stream().mapToInt(Integer::intValue).sorted().distinct()
        .toArray();
    for (int i = 0; i < at.length; i++) {
      if (at[i] < 0 || at[i] >= n) {
        problems.report(Problems.Kind.POLICY_FAILED, "a PartialFlushException named index " + at[i]
            + ", outside its batch of " + n + "; the whole batch counts as failed", partial);
        return null;
      }
    }
    return at;
  }

  private static <T> List<T> select(List<T> batch, int[] at) {
    List<T> out = new ArrayList<>(at.length);
    for (int i : at) {
      out.add(batch.get(i));
    }
    return List.copyOf(out);
  }

  /**
   * The exception onFlushError receives with just the failed items: its indexes point into that
   * list ({@code 0..k-1}), so {@code e.failedItems(batch)} returns it; the original is suppressed.
   */
  private static PartialFlushException rebased(Exception original, int k) {
    List<Integer> all = new ArrayList<>(k);
    for (int i = 0; i < k; i++) {
      all.add(i);
    }
    PartialFlushException e = new PartialFlushException(all,
        original instanceof PartialFlushException ? original.getCause() : original);
    e.addSuppressed(original);
    return e;
  }

  private void tellOnFlushError(Exception e, List<T> failed) {
    try {
      if (Defaults.isLogAndDrop(onFlushError)) {
        problems.report(Problems.Kind.FLUSH_FAILED, "flush of " + failed.size()
            + " items failed; batch dropped (set onFlushError to handle it)", e);
      } else {
        onFlushError.accept(e, failed);
      }
    } catch (Throwable t) {
      problems.caught(t);
      problems.report(Problems.Kind.ON_FLUSH_ERROR_FAILED, "onFlushError threw while handling a "
          + "failed flush of " + failed.size() + " items; they are dropped", t);
    }
  }

  /**
   * Completes a {@code flush()} request once every flush handed over is settled: it fails if items
   * failed or were given up since the previous request.
   *
   * @param request the request's future
   * @param lossy whether items before it were given up even if none is counted since the
   *     previous request (a request met while the loop gives up)
   * @return true if the request failed
   */
  public boolean complete(CompletableFuture<Void> request, boolean lossy) {
    KeyFlow<T> kf = keyFlow;
    long stillPaused = kf == null ? 0 : kf.drain(false);
    awaitAll();
    long failed = failedSinceRequest;
    long undelivered = undeliveredSinceRequest;
    failedSinceRequest = 0;
    undeliveredSinceRequest = 0;
    Throwable cause = lastFailure;
    lastFailure = null;
    if (stillPaused > 0) { // the request cannot wait for them: it fails, whatever else happened
      request.completeExceptionally(new DeliveryException(DeliveryException.Reason.KEY_PAUSED,
          stillPaused + " items of paused keys wait for resume(key) and were not flushed; "
              + failed + " items failed and " + undelivered + " were given up since the "
              + "previous flush()", cause));
      return true;
    }
    if (failed == 0 && undelivered == 0) {
      if (!lossy) {
        request.complete(null);
        return false;
      }
      request.completeExceptionally(new DeliveryException(DeliveryException.Reason.UNDELIVERED,
          "the buffer gave up on items accepted before this flush()", problems.fatal()));
      return true;
    }
    String message = undelivered == 0
        ? failed + " items failed since the previous flush() (handed to onFlushError)"
        : failed == 0 ? undelivered + " items were given up undelivered since the previous flush()"
        : failed + " items failed (handed to onFlushError) and " + undelivered
            + " were given up undelivered since the previous flush()";
    request.completeExceptionally(new DeliveryException(undelivered > 0
        ? DeliveryException.Reason.UNDELIVERED : DeliveryException.Reason.FAILED, message,
        cause != null ? cause : problems.fatal()));
    return true;
  }

  /**
   * Fails items of a paused key without sending them: their futures fail with KEY_PAUSED, they go
   * to onFlushError, they count as failed.
   *
   * @param items the items, in acceptance order
   * @param futures their futures, parallel to {@code items}, or null if none is tracked
   * @param held the bytes they hold under the memory bound
   * @param key their key
   */
  void failPaused(List<T> items, @Nullable Object @Nullable [] futures, long held, Object key) {
    release(held); // before onFlushError, which may offer items again
    int n = items.size();
    telemetry.pausedFailed(n);
    failedSinceRequest += n;
    String message = "key " + describe(key) + " is paused after a batch of it failed; " + n
        + " items were not sent (resume(key) to send again)";
    DeliveryException e = new DeliveryException(DeliveryException.Reason.KEY_PAUSED, message,
        null);
    lastFailure = e;
    failAll(futures, n, DeliveryException.Reason.KEY_PAUSED, message, null);
    tellOnFlushError(e, items);
  }

  /** Gives up a batch the key flow held, with its place in dispatch order. */
  void giveUpHeld(long seq, List<T> items, @Nullable Object @Nullable [] futures, long held) {
    giveUp(seq, items, futures, held, null);
  }

  private void release(long held) {
    MemoryGate<T> gate = memory;
    if (gate != null) {
      gate.release(held);
    }
  }

  private static void completeAll(@Nullable Object @Nullable [] futures, int n) {
    if (futures == null) {
      return;
    }
    for (int i = 0; i < n; i++) {
      CompletableFuture<@Nullable Object> f = futureAt(futures, i);
      if (f != null) {
        f.complete(null);
      }
    }
  }

  private static void failAll(@Nullable Object @Nullable [] futures, int n,
      DeliveryException.Reason reason, String message, @Nullable Throwable cause) {
    completeEach(futures, n, null, null, reason, message, cause);
  }

  /**
   * Fails the futures at {@code failedAt} (all if null) with {@code reason}, completes the rest
   * (with their answers, if the items were answered). A failed item's own failure, if it has one,
   * is its exception's cause; else {@code cause}.
   */
  private static void completeEach(@Nullable Object @Nullable [] futures, int n,
      int @Nullable [] failedAt, @Nullable Answers answers, DeliveryException.Reason reason,
      String message, @Nullable Throwable cause) {
    if (futures == null) {
      return;
    }
    int next = 0;
    for (int i = 0; i < n; i++) {
      boolean failed = failedAt == null || (next < failedAt.length && failedAt[next] == i);
      if (failedAt != null && failed) {
        next++;
      }
      CompletableFuture<@Nullable Object> f = futureAt(futures, i);
      if (f == null) {
        continue;
      }
      if (failed) {
        Throwable own = answers == null ? null : answers.error(i);
        f.completeExceptionally(new DeliveryException(reason, message, own != null ? own : cause));
      } else {
        f.complete(answers == null ? null : answers.value(i));
      }
    }
  }

  @SuppressWarnings("unchecked")
  private static @Nullable CompletableFuture<@Nullable Object> futureAt(@Nullable Object[] futures,
      int i) {
    return (CompletableFuture<@Nullable Object>) futures[i];
  }

  /**
   * Renders an item or key for a log line, briefly and safely.
   *
   * @param item the item
   * @return at most 200 characters
   */
  public static String describe(Object item) {
    String s;
    try {
      s = String.valueOf(item);
    } catch (Throwable e) {
      s = item.getClass().getName() + " (toString threw)";
    }
    return s.length() > 200 ? s.substring(0, 200) + "..." : s;
  }
}
