package dev.batchbuffer;

import dev.batchbuffer.internal.Channel;
import dev.batchbuffer.internal.FlushLoop;
import dev.batchbuffer.internal.MemoryGate;
import dev.batchbuffer.internal.PolicyFace;
import dev.batchbuffer.internal.Problems;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A batching buffer: many producers {@link #add} items, one loop on a virtual thread gathers them
 * into batches and hands each batch to the {@link Config#flush() flush function} when a count,
 * custom or time condition says so. {@link #close()} drains every accepted item and returns after
 * the last flush.
 *
 * <pre>{@code
 * try (Buffer<Order> buffer = Buffer.start(Config.builder(orders::insertAll).capacity(500).build())) {
 *   buffer.add(order);   // blocks while chanSize items are waiting
 * }                      // close(): drains, final flush, returns when done
 * }</pre>
 *
 * <p>Thread-safe: any number of threads may add, offer and close concurrently. Memory consistency:
 * actions in a thread before {@code add(x)} (or a successful {@code offer(x)}) happen-before the flush
 * call that receives {@code x}, and the flush calls of one buffer happen one after another, in batch
 * order, on the loop thread. Every item accepted is eventually flushed, handed to
 * {@code onFlushError} or handed to {@code onReject}: nothing accepted is dropped silently.
 *
 * @param <T> the item type
 */
public final class Buffer<T> implements AutoCloseable {
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

  private static final AtomicInteger SEQUENCE = new AtomicInteger();

  private final Channel<T> channel;
  private final Thread loopThread;
  private final String name;
  private final Problems problems;
  private final FlushLoop<T> loop;
  /** The byte bound on buffered items, or null. */
  private final @Nullable MemoryGate<T> memory;
  /** The weigher of a policy whose oversize rule is FAIL_FAST, or null: checked on add. */
  private final @Nullable Weigher<? super T> failFast;
  private final long failFastLimit;
  /** Set once, by the loop thread, before it ends on a fatal error; read by producers. */
  private volatile @Nullable Throwable failure;

  private Buffer(Config<T> config, Options<? super T> options) {
    String given = options.name();
    this.name = given != null ? given : "batchbuffer-" + SEQUENCE.incrementAndGet();
    TimeSource time = options.timeSource();
    this.problems = new Problems(name, time);
    this.channel = new Channel<>(config.chanSize(), time);
    Weigher<? super T> memoryWeigher = options.memoryWeigher();
    this.memory = memoryWeigher == null ? null
        : new MemoryGate<T>(memoryWeigher, options.maxBufferedBytes(), time);
    FlushPolicy<T> policy = PolicyFace.policyOf(config);
    if (policy != null && policy.oversize() == Oversize.FAIL_FAST && policy.weigher() != null) {
      this.failFast = policy.weigher();
      this.failFastLimit = policy.maxItemBytes();
    } else {
      this.failFast = null;
      this.failFastLimit = Long.MAX_VALUE;
    }
    this.loop = new FlushLoop<>(config, channel, time, problems, memory);
    this.loopThread = Thread.ofVirtual().name(name).unstarted(this::runLoop);
    channel.bindConsumer(loopThread);
  }

  /**
   * Starts a buffer with default {@link Options}: its loop runs on a new virtual thread.
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
   * Starts a buffer: its loop runs on a new virtual thread.
   *
   * @param config what to flush and when
   * @param options the time source and name
   * @param <T> the item type
   * @return the running buffer
   * @throws NullPointerException if an argument is null
   */
  public static <T> Buffer<T> start(Config<T> config, Options<? super T> options) {
    Objects.requireNonNull(config, "config must not be null");
    Objects.requireNonNull(options, "options must not be null");
    Buffer<T> buffer = new Buffer<>(config, options);
    buffer.loopThread.start();
    return buffer;
  }

  private void runLoop() {
    try {
      loop.run();
    } catch (Throwable t) {
      failure = t;
      channel.close();
      problems.fatal("a callback threw a fatal error; the buffer stopped. Not delivered: the batch "
          + "being processed, " + loop.pendingInBatch() + " batched items and " + channel.size()
          + " items in the channel", t);
      throw t;
    }
  }

  /**
   * Adds an item, waiting while {@code chanSize} items are already waiting for the loop.
   *
   * @param item the item
   * @throws NullPointerException if {@code item} is null
   * @throws InterruptedException if the thread is interrupted on entry or while waiting; the item
   *     was not added and the interrupt status is cleared
   * @throws IllegalStateException if the buffer is closed (the item was not added), or if called
   *     from the buffer's own loop thread (a callback) while the channel is full, which would
   *     deadlock
   */
  public void add(T item) throws InterruptedException {
    Objects.requireNonNull(item, "item must not be null");
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
    if (failFast != null || memory != null) {
      admit(item, Blocking.FOREVER, 0L);
      return;
    }
    int result = channel.tryOffer(item);
    if (result == Channel.FULL) {
      checkNotLoopThread();
      result = channel.put(item, false, 0L);
    }
    if (result == Channel.CLOSED) {
      throw closed();
    }
  }

  /** How long {@link #admit} may wait. */
  private enum Blocking { NO, TIMED, FOREVER }

  /**
   * The slow path of add/offer when a policy fails fast or memory is bounded: check the item's
   * weight, take its bytes, then a channel slot, giving the bytes back if the slot is not had.
   */
  private boolean admit(T item, Blocking blocking, long nanos) throws InterruptedException {
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
        if (!gate.acquire(m, blocking == Blocking.TIMED, nanos, channel::isClosed)) {
          checkOpen();
          return false;
        }
      }
    }
    boolean added = false;
    try {
      int result = channel.tryOffer(item);
      if (result == Channel.FULL && blocking != Blocking.NO) {
        checkNotLoopThread();
        result = channel.put(item, blocking == Blocking.TIMED, nanos);
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

  private void checkOpen() {
    if (channel.isClosed()) {
      throw closed();
    }
  }

  /**
   * Adds an item if there is room, without waiting.
   *
   * @param item the item
   * @return true if added, false if the channel was full (the item was not added)
   * @throws NullPointerException if {@code item} is null
   * @throws IllegalStateException if the buffer is closed; the item was not added
   */
  public boolean offer(T item) {
    Objects.requireNonNull(item, "item must not be null");
    if (failFast != null || memory != null) {
      try {
        return admit(item, Blocking.NO, 0L);
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
   * Adds an item, waiting up to {@code timeout} of the buffer's {@link TimeSource} for room.
   *
   * @param item the item
   * @param timeout the longest wait; zero or negative means do not wait
   * @return true if added, false if the timeout passed first (the item was not added)
   * @throws NullPointerException if an argument is null
   * @throws InterruptedException if the thread is interrupted on entry or while waiting; the item
   *     was not added and the interrupt status is cleared
   * @throws IllegalStateException if the buffer is closed (the item was not added), or if called
   *     from the buffer's own loop thread while the channel is full
   */
  public boolean offer(T item, Duration timeout) throws InterruptedException {
    Objects.requireNonNull(item, "item must not be null");
    Objects.requireNonNull(timeout, "timeout must not be null");
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
    if (failFast != null || memory != null) {
      return admit(item, timeout.isPositive() ? Blocking.TIMED : Blocking.NO, saturatedNanos(timeout));
    }
    int result = channel.tryOffer(item);
    if (result == Channel.FULL && timeout.isPositive()) {
      checkNotLoopThread();
      result = channel.put(item, true, saturatedNanos(timeout));
    }
    if (result == Channel.CLOSED) {
      throw closed();
    }
    return result == Channel.OK;
  }

  /**
   * Returns how many items wait in the channel for the loop: a snapshot for monitoring, stale by the
   * time the caller acts on it. Items already in the loop's batch are not counted.
   *
   * @return the number of items in the channel
   */
  public int itemsInChannel() {
    return channel.size();
  }

  /**
   * Returns whether {@link #close()} was called (or the buffer stopped on a fatal error).
   *
   * @return true once the buffer admits no more items
   */
  public boolean isClosed() {
    return channel.isClosed();
  }

  /**
   * Returns the buffer's name: {@link Options#name()} or a generated {@code batchbuffer-N}. The loop
   * thread carries the same name.
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  /**
   * Closes the buffer: stops admission at once (every later {@code add}/{@code offer} throws
   * {@link IllegalStateException}), drains every accepted item through the usual per-item logic,
   * does the final flush, and returns after that flush has returned. Idempotent: a second call waits
   * for the same end. If the calling thread is interrupted while waiting, it keeps waiting and
   * returns with its interrupt status set. Called from inside a callback (on the loop thread), it
   * starts the close and returns at once; the loop finishes the drain after the callback returns.
   */
  @Override
  public void close() {
    channel.close();
    if (memory != null) {
      memory.wakeAll();
    }
    if (Thread.currentThread() == loopThread) {
      return;
    }
    boolean interrupted = false;
    for (; ; ) {
      try {
        loopThread.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public String toString() {
    return "Buffer[" + name + (channel.isClosed() ? ", closed" : ", running")
        + ", itemsInChannel=" + channel.size() + "]";
  }

  private void checkNotLoopThread() {
    if (channel.isConsumer(Thread.currentThread())) {
      throw new IllegalStateException(name + ": the channel is full and this is the buffer's own "
          + "loop thread; waiting here would deadlock (use offer(item) from callbacks)");
    }
  }

  private IllegalStateException closed() {
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
