package dev.batchbuffer;

import dev.batchbuffer.internal.Dispatcher;
import dev.batchbuffer.internal.Deadlines;
import dev.batchbuffer.internal.Engine;
import dev.batchbuffer.internal.Limits;
import dev.batchbuffer.internal.Loop;
import dev.batchbuffer.internal.PolicyFace;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A batching buffer: many producers {@link #add} items, one loop on a virtual thread gathers them
 * into batches and hands each batch to the {@link Config#flush() flush function} when a count,
 * custom or time condition says so. {@link #close()} drains every accepted item and returns after
 * the last flush.
 *
 * {@snippet file="dev/batchbuffer/snippets/BufferSnippetsTest.java" region="buffer"}
 *
 * <p>Thread-safe: any number of threads may add, offer and close concurrently. Memory consistency:
 * actions in a thread before {@code add(x)} (or a successful {@code offer(x)}) happen-before the flush
 * call that receives {@code x}; with the default {@code maxInFlight} of 1 the flush calls of one
 * buffer happen one after another, in batch order, on the loop thread. Every item accepted is
 * eventually flushed, handed to {@code onFlushError}, handed to {@code onReject}, or returned by
 * {@link #close(Duration)} as undelivered: nothing accepted is dropped silently.
 *
 * @param <T> the item type
 */
public final class Buffer<T> implements AutoCloseable {
  /*
   * A facade: the producer side and the lifecycle (RUNNING -> CLOSING -> TERMINATED, documented in
   * internal.Engine), the loop (internal.Loop, which owns the batch) and the flushes
   * (internal.Dispatcher) are shared with KeyedBuffer; docs/how-it-works.md draws the path.
   */

  static final AtomicInteger SEQUENCE = new AtomicInteger();

  private final Engine<T> engine;

  private Buffer(Config<T> config, Options<? super T> options,
      Dispatcher.@Nullable AsyncSink<T> async, boolean answered) {
    String given = options.name();
    String name = given != null ? given : "batchbuffer-" + SEQUENCE.incrementAndGet();
    FlushPolicy<T> admission = PolicyFace.admissionPolicyOf(config);
    Weigher<? super T> failFast = null;
    long failFastLimit = Long.MAX_VALUE;
    if (admission != null && admission.oversize() == Oversize.FAIL_FAST) {
      failFast = admission.weigher();
      failFastLimit = admission.maxItemBytes();
    }
    FlushFunc<T> flush = config.flush();
    Limits<T> limits = Limits.of(config);
    long deliveryTimeout = Deadlines.of(options.deliveryTimeout(), config.flushInterval(),
        limits.intervalNanos());
    Weigher<? super T> memoryWeigher = options.memoryWeigher();
    this.engine = new Engine<>(new Engine.Setup<>(name, options.timeSource(), config.chanSize(),
        memoryWeigher, options.maxBufferedBytes(), failFast, failFastLimit,
        options.listener(), options.periodic(), options.maxInFlight(), config.onReject(),
        config.onFlushError(), Engine.byteHintOf(limits, memoryWeigher, failFast),
        limits.maxItemBytes(), options.flowControl()), (key, batch) -> flush.flush(batch), async, answered, false);
    engine.dispatcher().deliveryTimeout(deliveryTimeout);
    engine.start(Loop.of(engine, limits));
  }

  /**
   * Starts a buffer with default {@link Options}: its loop runs on a new virtual thread, started
   * by the first item, {@code flush()} or close (at once if there are periodic tasks).
   *
   * @param config what to flush and when
   * @param <T> the item type
   * @return the running buffer
   * @throws NullPointerException if {@code config} is null
   */
  public static <T> Buffer<T> start(Config<T> config) {
    return start(config, Options.defaults());
  }

  /**
   * Starts a buffer: its loop runs on a new virtual thread, started by the first item, {@code
   * flush()} or close (at once if there are periodic tasks).
   *
   * @param config what to flush and when
   * @param options the time source, name and memory bound
   * @param <T> the item type
   * @return the running buffer
   * @throws NullPointerException if an argument is null
   */
  public static <T> Buffer<T> start(Config<T> config, Options<? super T> options) {
    Objects.requireNonNull(config, "config must not be null");
    Objects.requireNonNull(options, "options must not be null");
    return new Buffer<>(config, options, null, false);
  }

  /**
   * Starts the buffer of a {@link ResultBuffer}: its flush function answers each item.
   *
   * @param async starts an asynchronous write instead of {@code config.flush()}, or null
   */
  static <T> Buffer<T> startAnswered(Config<T> config, Options<? super T> options,
      Dispatcher.@Nullable AsyncSink<T> async) {
    return new Buffer<>(config, options, async, true);
  }

  /** The engine, for {@link ResultBuffer}. */
  Engine<T> engine() {
    return engine;
  }

  /**
   * Adds an item, waiting while {@code chanSize} items are already waiting for the loop (or, with
   * {@link Options.Builder#maxBufferedBytes}, while its bytes do not fit).
   *
   * @param item the item
   * @throws NullPointerException if {@code item} is null
   * @throws InterruptedException if the thread is interrupted on entry or while waiting; the item
   *     was not added and the interrupt status is cleared
   * @throws IllegalStateException if the buffer is closed (the item was not added), or if called
   *     while the buffer is full from one of the buffer's own threads (the loop, a flush thread, a
   *     periodic task, a timeout worker: where callbacks run), since waiting there could deadlock
   * @throws IllegalArgumentException if the item is above a per-item limit whose rule is
   *     {@link Oversize#FAIL_FAST}; the item was not added
   */
  public void add(T item) throws InterruptedException {
    engine.add(item);
  }

  /**
   * Adds an item as {@link #add} does and returns its future: it completes when the batch holding
   * the item has been flushed successfully, and exceptionally with a {@link DeliveryException} when
   * the item was rejected, its batch failed for good (after any retries of a {@link FlushMiddleware}),
   * or {@link #close(Duration)} gave up on it. Plain {@code add} allocates no future.
   *
   * @param item the item
   * @return the item's future
   * @throws NullPointerException if {@code item} is null
   * @throws InterruptedException as {@link #add}
   * @throws IllegalStateException as {@link #add}
   */
  public CompletableFuture<Void> submit(T item) throws InterruptedException {
    return engine.submit(item);
  }

  /**
   * Flushes now: the current batch and everything accepted before this call is handed to the flush
   * function, without waiting for a count or the linger. The result completes when those flushes
   * have finished; it fails with a {@link DeliveryException} ({@code FAILED}, with the last failure
   * as cause) if any items failed since the previous {@code flush()}, so a caller never hears
   * "done" for items that were lost. Wait for it with a timeout:
   * {@snippet file="dev/batchbuffer/snippets/BufferSnippetsTest.java" region="flush-and-wait"}
   * Must not be awaited from inside a callback (the loop would wait for itself).
   *
   * @return completes when the flushes are done
   * @throws InterruptedException if interrupted while waiting for room in the channel
   * @throws IllegalStateException if the buffer is closed
   */
  public CompletableFuture<Void> flush() throws InterruptedException {
    return engine.flush();
  }

  /**
   * Adds an item if there is room, without waiting.
   *
   * @param item the item
   * @return true if added, false if the buffer was full (the item was not added)
   * @throws NullPointerException if {@code item} is null
   * @throws IllegalStateException if the buffer is closed; the item was not added
   * @throws IllegalArgumentException if the item is above a fail-fast per-item limit
   */
  public boolean offer(T item) {
    return engine.offer(item);
  }

  /**
   * Adds an item, waiting up to {@code timeout} of the buffer's {@link TimeSource} for room.
   *
   * @param item the item
   * @param timeout the longest wait; zero or negative means do not wait
   * @return true if added, false if the timeout passed first (the item was not added)
   * @throws NullPointerException if an argument is null
   * @throws InterruptedException if the thread is interrupted on entry or while waiting; the item
   *     was not added and the interrupt status is cleared
   * @throws IllegalStateException if the buffer is closed (the item was not added), or if called
   *     while the buffer is full from one of the buffer's own threads
   * @throws IllegalArgumentException if the item is above a fail-fast per-item limit
   */
  public boolean offer(T item, Duration timeout) throws InterruptedException {
    return engine.offer(item, timeout);
  }

  /**
   * Returns how many items wait in the channel for the loop: a snapshot for monitoring, stale by the
   * time the caller acts on it. Items already in the loop's batch are not counted.
   *
   * @return the number of items in the channel
   */
  public int itemsInChannel() {
    return engine.itemsInChannel();
  }

  /**
   * Takes a snapshot of the buffer's state and history: items waiting and flushing, counters,
   * flushes by reason, batch sizes, flush latency, the oldest item's age, blocked producers and
   * recent errors (see {@link BufferStats} for each). Cheap and lock-free: the hot path pays
   * nothing for it, and any thread may call it at any time, including after close.
   *
   * @return the stats
   */
  public BufferStats stats() {
    return engine.stats();
  }

  /**
   * Returns whether {@link #close()} was called (or the buffer stopped on a fatal error).
   *
   * @return true once the buffer admits no more items
   */
  public boolean isClosed() {
    return engine.isClosed();
  }

  /**
   * Returns the buffer's name: {@link Options#name()} or a generated {@code batchbuffer-N}. The loop
   * thread carries the same name.
   *
   * @return the name
   */
  public String name() {
    return engine.name();
  }

  /**
   * Closes the buffer: stops admission at once (every later {@code add}/{@code offer} throws
   * {@link IllegalStateException}), drains every accepted item through the usual per-item logic,
   * does the final flush, and returns after that flush has returned. Idempotent: a second call waits
   * for the same end. If the calling thread is interrupted while waiting, it keeps waiting and
   * returns with its interrupt status set. Called from one of the buffer's own threads (a callback
   * on the loop, a flush thread, a periodic task, a timeout worker), it starts the close and returns
   * at once; the loop finishes the drain after the callback returns.
   */
  @Override
  public void close() {
    engine.close();
  }

  /**
   * Closes within {@code timeout}, measured on the buffer's {@link TimeSource}: as {@link #close()},
   * but when the drain has not finished in time it gives up. Nothing more is flushed; the loop and
   * every running flush are interrupted (so a flush blocked in I/O can return). Every item not
   * delivered, including the failed items of a flush that the interrupt made fail, has its future
   * failed with a {@link DeliveryException} ({@code UNDELIVERED}) and is returned in the result, in
   * acceptance order, provided the buffer hands it back within a further 200 ms of the same clock;
   * such items do not go to {@code onFlushError}. If a flush ignores the interrupt, the result says
   * {@code stillFlushing}, and what is settled after it returned (that batch and anything not yet
   * handed back) goes to {@code onFlushError}, its futures failing {@code FAILED}: every item not
   * delivered is in exactly one of the two places. Called from one of the buffer's own threads it
   * cannot wait: it starts the close and returns {@code CloseResult(false, [], true)} at once. The
   * unbounded {@link #close()} never gives up: it drains every accepted item, however long that
   * takes.
   *
   * @param timeout how long the drain may take
   * @return whether everything was drained, and what was not
   */
  public CloseResult<T> close(Duration timeout) {
    return engine.close(timeout);
  }

  @Override
  public String toString() {
    return "Buffer[" + engine.name() + (engine.isClosed() ? ", closed" : ", running")
        + ", itemsInChannel=" + engine.itemsInChannel() + "]";
  }
}
