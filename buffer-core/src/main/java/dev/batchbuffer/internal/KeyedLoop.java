package dev.batchbuffer.internal;

import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.KeyedFlushFunc;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The consumer side of a {@code KeyedBuffer}: one loop, a batch per live key. Runs on one thread;
 * not thread-safe, by design.
 *
 * @param <K> the key type
 * @param <T> the item type
 */
public final class KeyedLoop<K, T> implements LoopBody {
  /*
   * Same iteration as FlushLoop, over many batches. Each item is routed by its key to that key's
   * BatchState (created on first use, with the key's policy) and goes through the shared Batcher,
   * so per-key order holds and every per-key limit works as in Buffer.
   *
   * Deadlines: a batch that takes its first item pushes (deadline, state, epoch) on a priority
   * queue; a flush bumps the state's epoch, so entries of flushed batches are recognised as stale
   * and dropped when they surface. The loop parks until the earliest live deadline.
   *
   * Caps: before a new key gets a batch while maxKeys keys are live, the idle key used longest ago
   * is dropped, or if none is idle, the oldest batch is flushed and its key dropped. When the items
   * in all batches exceed maxBufferedItems, the oldest batches are flushed until they do not. A key
   * whose batch has been empty for keyIdleTimeout is dropped by a sweep.
   */

  private final Channel<Object> channel;
  private final TimeSource time;
  private final Problems problems;
  private final Batcher<T> batcher;
  private final Function<? super T, ? extends K> keyOf;
  private final Function<? super K, FlushPolicy<T>> policyOf;
  private final Duration interval;
  private final int maxKeys;
  private final long maxBufferedItems;
  private final long idleNanos;
  private final @Nullable MemoryGate<T> memory;
  private final Map<K, BatchState<T>> batches = new HashMap<>();
  private final PriorityQueue<Deadline<T>> deadlines =
      new PriorityQueue<>((a, b) -> Long.compare(a.at - b.at, 0));
  /**
   * The same batches by when they took their first item, for the stats' oldest-item age (keys
   * with different ages make the two orders differ). Stale entries are dropped as in deadlines.
   */
  private final PriorityQueue<Deadline<T>> arms =
      new PriorityQueue<>((a, b) -> Long.compare(a.at - b.at, 0));
  private long nextSweep;
  /** batcher.aborting(), read once per burst rather than per item. */
  private boolean aborting;
  private final Batcher.Route<T> route = this::route;
  /** batches.size(), published for monitoring from other threads. */
  private volatile int keyCount;
  private final Telemetry<T> telemetry;
  private final @Nullable Hooks hooks;
  /** The weight of the items in all batches, for the stats: kept here, off the per-item path. */
  private long bytesInBatches;

  /** A batch's linger deadline as of one epoch. */
  private record Deadline<T>(long at, BatchState<T> state, long epoch) {}

  /**
   * Creates the loop.
   *
   * @param channel the channel it consumes
   * @param time its clock
   * @param problems where callback failures go
   * @param memory the byte bound on buffered items, or null
   * @param keyOf the key of an item
   * @param policyOf the policy of a key's batches
   * @param interval the linger when a policy has no age
   * @param flush writes a key's batch
   * @param onReject receives refused items
   * @param onFlushError receives failed batches
   * @param maxKeys the most live keys
   * @param maxBufferedItems the most items across all batches
   * @param keyIdle how long an empty key's state is kept
   * @param maxInFlight flushes allowed at once
   * @param telemetry where flushes are counted and told
   * @param hooks the periodic tasks, or null
   */
  @SuppressWarnings("unchecked")
  public KeyedLoop(Channel<Object> channel, TimeSource time, Problems problems,
      @Nullable MemoryGate<T> memory, Function<? super T, ? extends K> keyOf,
      Function<? super K, FlushPolicy<T>> policyOf, Duration interval, KeyedFlushFunc<K, T> flush,
      Consumer<T> onReject, BiConsumer<Exception, List<T>> onFlushError, int maxKeys,
      long maxBufferedItems, Duration keyIdle, int maxInFlight, Telemetry<T> telemetry,
      @Nullable Hooks hooks) {
    this.telemetry = telemetry;
    this.hooks = hooks;
    this.channel = channel;
    this.time = time;
    this.problems = problems;
    this.memory = memory;
    this.keyOf = keyOf;
    this.policyOf = policyOf;
    this.interval = interval;
    this.maxKeys = maxKeys;
    this.maxBufferedItems = maxBufferedItems;
    this.idleNanos = keyIdle.toNanos();
    this.batcher = new Batcher<>(channel, time, problems,
        (state, items) -> flush.flush((K) Objects.requireNonNull(state.key), items), onReject,
        onFlushError, memory,
        state -> {
          deadlines.add(new Deadline<>(state.deadline, state, state.epoch));
          arms.add(new Deadline<>(state.armedAt, state, state.epoch));
        }, telemetry);
    this.batcher.maxInFlight(maxInFlight);
    this.nextSweep = time.nanoTime() + idleNanos;
  }

  @Override
  public void run() {
    for (; ; ) {
      batcher.settleFinished();
      aborting = batcher.aborting();
      int n = 0;
      Object element;
      while (n < FlushLoop.BURST && (element = channel.poll()) != null) {
        take(element);
        n++;
      }
      if (n > 0) {
        channel.signalProducers();
      }
      long now = time.nanoTime();
      flushDue(now);
      if (now - nextSweep >= 0) {
        sweepIdle(now);
      }
      Hooks h = hooks;
      if (h != null && now - h.nextDue() >= 0) {
        h.runDue(now, batcher::awaitAllFlushes);
      }
      BatchState<T> oldest = firstLive(arms);
      telemetry.waiting(bytesInBatches, oldest == null ? Telemetry.NONE : oldest.armedAt);
      if (n == FlushLoop.BURST) {
        continue;
      }
      if (channel.isClosed()) {
        aborting = batcher.aborting();
        while ((element = channel.poll()) != null) {
          take(element);
        }
        flushAll(FlushReason.CLOSE);
        batcher.awaitAllFlushes();
        telemetry.waiting(0, Telemetry.NONE);
        if (h != null) {
          h.finish(!batcher.aborting());
        }
        return;
      }
      park(now);
    }
  }

  /** Flushes every live batch, oldest first: each non-empty batch is armed and in the queue. */
  private void flushAll(FlushReason reason) {
    for (BatchState<T> s = oldestLive(); s != null; s = oldestLive()) {
      flushState(s, reason);
    }
  }

  /** One channel element: a flush() request, a tracked item or a plain item. */
  private void take(Object element) {
    Signals.FlushRequest request = batcher.take(element, aborting, route);
    if (request != null) {
      flushAll(FlushReason.EXPLICIT);
      batcher.awaitAllFlushes();
      telemetry.waiting(bytesInBatches, Telemetry.NONE); // stats read after flush() see it done
      batcher.complete(request);
    }
  }

  @Override
  public void abort() {
    batcher.abort();
  }

  @Override
  public List<Object> undelivered() {
    return batcher.undelivered();
  }

  private void route(T item, java.util.concurrent.@Nullable CompletableFuture<Void> future) {
    K key;
    try {
      key = Objects.requireNonNull(keyOf.apply(item), "the key function returned null");
    } catch (Throwable t) {
      Problems.rethrowIfFatal(t);
      problems.report(Problems.Kind.POLICY_FAILED, "the key function threw; the item is handed to "
          + "onReject", t);
      batcher.reject(item, memoryWeight(item), future);
      return;
    }
    BatchState<T> state = batches.get(key);
    if (state == null) {
      makeRoomForAKey();
      state = new BatchState<>(Limits.of(policyOf.apply(key), interval), key);
      batches.put(key, state);
      keyCount = batches.size();
    }
    long before = state.bytes;
    batcher.accept(state, item, future);
    // Whatever accept did (append, overflow flush, full flush, send alone), the batch went from
    // `before` bytes to state.bytes; what it flushed left the batches.
    bytesInBatches += state.bytes - before;
    while (batcher.bufferedItems() > maxBufferedItems) {
      BatchState<T> oldest = oldestLive();
      if (oldest == null) {
        break;
      }
      flushState(oldest, FlushReason.PRESSURE);
    }
  }

  /** Flushes a batch from outside the per-item logic, keeping the byte total. */
  private void flushState(BatchState<T> s, FlushReason reason) {
    bytesInBatches -= s.bytes;
    batcher.flush(s, reason);
  }

  private long memoryWeight(T item) {
    MemoryGate<T> gate = memory;
    return gate == null ? 0 : gate.weightOf(item);
  }

  private void makeRoomForAKey() {
    if (batches.size() < maxKeys) {
      return;
    }
    BatchState<T> victim = null;
    for (BatchState<T> s : batches.values()) {
      if (s.size == 0 && (victim == null || s.lastUsed - victim.lastUsed < 0)) {
        victim = s;
      }
    }
    if (victim == null) {
      victim = oldestLive();
    }
    if (victim != null) {
      flushState(victim, FlushReason.PRESSURE);
      batches.remove(victim.key);
      keyCount = batches.size();
    }
  }

  /** The live batch with the earliest deadline, dropping stale queue entries on the way. */
  private @Nullable BatchState<T> oldestLive() {
    return firstLive(deadlines);
  }

  /** The head of {@code queue} that is still live, dropping stale entries on the way. */
  private static <T> @Nullable BatchState<T> firstLive(PriorityQueue<Deadline<T>> queue) {
    for (; ; ) {
      Deadline<T> d = queue.peek();
      if (d == null) {
        return null;
      }
      if (d.epoch == d.state.epoch && d.state.armed) {
        return d.state;
      }
      queue.poll();
    }
  }

  private void flushDue(long now) {
    for (; ; ) {
      BatchState<T> s = oldestLive();
      if (s == null || now - s.deadline < 0) {
        return;
      }
      flushState(s, FlushReason.TIME);
    }
  }

  private void sweepIdle(long now) {
    for (Iterator<BatchState<T>> it = batches.values().iterator(); it.hasNext(); ) {
      BatchState<T> s = it.next();
      if (s.size == 0 && now - s.lastUsed >= idleNanos) {
        it.remove();
      }
    }
    keyCount = batches.size();
    nextSweep = now + Math.max(1, idleNanos / 2);
  }

  private void park(long now) {
    FlushLoop.clearStrayInterrupt(problems);
    // Absolute times, as in FlushLoop: a clock that jumps after `now` can only shorten the wait.
    BatchState<T> next = oldestLive();
    boolean timed = false;
    long wake = 0;
    if (next != null) {
      wake = next.deadline;
      timed = true;
    }
    if (!batches.isEmpty()) {
      wake = timed ? FlushLoop.earlier(wake, nextSweep) : nextSweep;
      timed = true;
    }
    Hooks h = hooks;
    if (h != null) {
      wake = timed ? FlushLoop.earlier(wake, h.nextDue()) : h.nextDue();
      timed = true;
    }
    if (!timed) {
      channel.await(1, false, 0L);
    } else if (wake - now > 0) {
      channel.await(1, true, wake);
    }
  }

  /**
   * Returns how many keys have state (a live batch, or idle within the timeout): a snapshot, safe
   * from any thread.
   *
   * @return the key count
   */
  public int keys() {
    return keyCount;
  }

  /**
   * Returns how many items the batches hold, for the death report.
   *
   * @return the item count across batches
   */
  @Override
  public long pendingInBatches() {
    return batcher.bufferedItems();
  }
}
