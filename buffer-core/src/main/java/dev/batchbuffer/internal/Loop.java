package dev.batchbuffer.internal;

import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The consumer side of a buffer: the only owner of its batches and policies. One implementation
 * for {@code Buffer} (one batch, no key) and {@code KeyedBuffer} (a batch per live key). Runs on
 * one thread; not thread-safe, by design.
 *
 * @param <K> the key type ({@code Object} for a plain buffer)
 * @param <T> the item type
 */
public final class Loop<K, T> implements Runnable {
  /*
   * Lifecycle: RUNNING -> DRAINING -> TERMINATED, or -> GIVING_UP -> TERMINATED.
   *   RUNNING     drain up to BURST channel elements through the per-item logic (Batcher); wake the
   *               producers a full channel parked; settle finished flushes; flush batches whose
   *               linger has passed; run due periodic tasks; park until an arrival that can change a
   *               decision, the earliest deadline, a finished flush or close.
   *   DRAINING    the channel is closed (close()): its producer index is final, so draining it to
   *               empty takes every accepted element; then the final flush of every batch, the wait
   *               for every flush handed over, the last run of synchronous periodic tasks.
   *   GIVING_UP   close(timeout) gave up, or a callback threw a VirtualMachineError: flush nothing
   *               more. The batches (oldest first) and then the channel's items are given up to the
   *               dispatcher in acceptance order; flush() requests fail; running flushes are waited
   *               for (close(timeout) interrupted them; after a fatal error they finish normally).
   *
   * Batches. A plain buffer has one BatchState (`single`) and no key; its deadline is the state's
   * own. A keyed buffer routes each item by its key to that key's state (created on first use with
   * the key's policy); a batch that takes its first item pushes (deadline, state, epoch) on a
   * priority queue, and a flush bumps the state's epoch, so entries of flushed batches are stale
   * and dropped when they surface. Caps: before a new key gets a batch while maxKeys keys are live,
   * the idle key used longest ago is dropped, or if none is idle, the oldest batch is flushed and
   * its key dropped. When the items in all batches exceed maxBufferedItems, the oldest batches are
   * flushed until they do not. A key whose batch has been empty for keyIdleTimeout is swept.
   *
   * Wake-ups. The loop asks the channel to wake it for the first arrival, except while the one
   * batch of a plain buffer is partial and only a count can end it: then only once enough items
   * may have arrived to fill it (never more than half the channel). A byte limit, a custom
   * condition, a memory bound or keys make every arrival worth a look, since any one item may
   * flush a batch, be refused, or go to another key. Finished flushes unpark the loop themselves.
   */

  /** Items processed between two looks at the clock and the close flag. */
  static final int BURST = 1024;

  /**
   * How a keyed buffer finds and caps its batches.
   *
   * @param keyOf the key of an item
   * @param policyOf the policy of a key's batches
   * @param interval the linger when a policy has no age
   * @param maxKeys the most live keys
   * @param maxBufferedItems the most items across all batches
   * @param keyIdle how long an empty key's state is kept
   * @param <K> the key type
   * @param <T> the item type
   */
  public record Keying<K, T>(Function<? super T, ? extends K> keyOf,
      Function<? super K, FlushPolicy<T>> policyOf, Duration interval, int maxKeys,
      long maxBufferedItems, Duration keyIdle) {}

  private final Channel<Object> channel;
  private final TimeSource time;
  private final Problems problems;
  private final Telemetry<T> telemetry;
  private final Dispatcher<T> dispatcher;
  private final @Nullable MemoryGate<T> memory;
  private final Batcher<T> batcher;
  private final @Nullable Hooks hooks;
  /** The one batch of a plain buffer; null for a keyed buffer. */
  private final @Nullable BatchState<T> single;
  private final boolean sparseWakeUps;
  /** Producers weigh items for the batch's byte limit, and wake the loop for a heavy one. */
  private final boolean byteHinted;
  private final @Nullable Keying<K, T> keying;
  /** A keyed buffer's per-key rate limits and pausing, or null. */
  private final @Nullable KeyFlow<T> flow;
  /** A keyed buffer's batches by key; empty and immutable for a plain buffer. */
  private final Map<K, BatchState<T>> batches;
  private final PriorityQueue<Deadline<T>> deadlines;
  /** The same batches by when they took their first item, for the stats' oldest-item age. */
  private final PriorityQueue<Deadline<T>> arms;
  private final long idleNanos;
  private long nextSweep;
  /** batches.size(), published for monitoring from other threads. */
  private volatile int keyCount;
  /** The weight of the items in all batches of a keyed buffer, for the stats. */
  private long bytesInBatches;
  /** Set once the loop gives up: elements are given up as they are taken. */
  private boolean givingUp;
  /** What the channel held when the loop gave up, in order, with their futures and bytes. */
  private final List<Object> lost = new ArrayList<>();
  private final List<@Nullable Object> lostFutures = new ArrayList<>();
  private long lostHeld;
  private boolean lostTracked;
  /** flush() requests met while giving up: they complete once every flush has been settled. */
  private final List<CompletableFuture<Void>> deferred = new ArrayList<>();

  /** A batch's linger deadline as of one epoch. */
  private record Deadline<T>(long at, BatchState<T> state, long epoch) {}

  /** Orders deadlines by the loop's clock, by difference (the clock may wrap). */
  private static int byTime(Deadline<?> a, Deadline<?> b) {
    return Long.compare(a.at - b.at, 0);
  }

  private Loop(Engine<T> engine, @Nullable Limits<T> limits, @Nullable Keying<K, T> keying) {
    this.channel = engine.channel();
    this.time = engine.time();
    this.problems = engine.problems();
    this.telemetry = engine.telemetry();
    this.dispatcher = engine.dispatcher();
    this.memory = engine.memory();
    this.hooks = engine.hooks();
    this.keying = keying;
    this.flow = dispatcher.keyFlow();
    // Only a keyed buffer queues deadlines; a plain one keeps two empty queues of one slot.
    this.batches = keying == null ? Map.of() : new HashMap<>();
    this.deadlines = new PriorityQueue<>(keying == null ? 1 : 16, Loop::byTime);
    this.arms = new PriorityQueue<>(keying == null ? 1 : 16, Loop::byTime);
    this.single = limits == null ? null : new BatchState<>(limits, null);
    this.sparseWakeUps = limits != null && limits.predictable() && memory == null;
    this.byteHinted = limits != null && engine.byteHinted();
    this.batcher = new Batcher<>(channel, time, problems, dispatcher, keying == null ? s -> {}
        : s -> {
          deadlines.add(new Deadline<>(s.deadline, s, s.epoch));
          arms.add(new Deadline<>(s.armedAt, s, s.epoch));
        });
    this.idleNanos = keying == null ? Long.MAX_VALUE : keying.keyIdle().toNanos();
    this.nextSweep = time.nanoTime() + (keying == null ? 0 : idleNanos);
  }

  /**
   * Creates the loop of a plain buffer.
   *
   * @param engine the buffer's engine
   * @param limits what ends its batch
   * @param <T> the item type
   * @return the loop
   */
  public static <T> Loop<Object, T> of(Engine<T> engine, Limits<T> limits) {
    return new Loop<>(engine, limits, null);
  }

  /**
   * Creates the loop of a keyed buffer.
   *
   * @param engine the buffer's engine
   * @param keying how items find their batch
   * @param <K> the key type
   * @param <T> the item type
   * @return the loop
   */
  public static <K, T> Loop<K, T> keyed(Engine<T> engine, Keying<K, T> keying) {
    return new Loop<>(engine, null, keying);
  }

  @Override
  public void run() {
    try {
      runUntilClosed();
    } catch (Throwable t) { // a fatal error outside any callback, or a defect here: stop
      problems.fail(t);
    }
    try {
      if (problems.fatal() != null) {
        dispatcher.stop(false);
        channel.close();
        MemoryGate<T> gate = memory;
        if (gate != null) {
          gate.wakeAll();
        }
      }
      end();
    } catch (Throwable t) {
      problems.fail(t);
      problems.fatal("the loop failed while closing; items still in the buffer are lost", t);
    }
  }

  private void runUntilClosed() {
    for (; ; ) {
      dispatcher.settleFinished();
      if (problems.fatal() != null) {
        return;
      }
      int n = 0;
      KeyFlow<T> f = flow;
      if (f == null) { // the plain path: its per-item loop tests nothing of the key flow
        Object element;
        while (n < BURST && (element = channel.poll()) != null) {
          take(element);
          n++;
        }
      } else {
        n = takeHeld(f);
      }
      if (n > 0) {
        channel.signalProducers();
      }
      long now = time.nanoTime();
      flushDue(now);
      if (keying != null && now - nextSweep >= 0) {
        sweepIdle(now);
      }
      Hooks h = hooks;
      if (h != null && now - h.nextDue() >= 0) {
        h.runDue(now, dispatcher::awaitAll);
      }
      publishWaiting();
      if (n == BURST) {
        continue;
      }
      if (channel.isClosed() || problems.fatal() != null) {
        return;
      }
      park(now);
    }
  }

  /**
   * With per-key flow control: releases the held batches that may go, then takes up to
   * {@link #BURST} elements while the key flow has room for more held items.
   *
   * @return how many elements were taken
   */
  private int takeHeld(KeyFlow<T> f) {
    f.releaseReady();
    int n = 0;
    Object element;
    while (n < BURST && f.hasRoom() && (element = channel.poll()) != null) {
      take(element);
      n++;
    }
    return n;
  }

  /** DRAINING or GIVING_UP, to the end. */
  private void end() {
    Object element;
    while ((element = channel.poll()) != null) {
      if (!givingUp && dispatcher.aborting()) {
        startGivingUp();
      }
      take(element);
    }
    // Publishes the slots emptied: the channel's size must read 0 once the loop has drained it,
    // even if what it took last was given up, refused or a flush() request (no flush published it).
    channel.signalProducers();
    flushAll(FlushReason.CLOSE); // the final flush; when giving up, gives the batches up
    KeyFlow<T> f = flow;
    if (f != null) {
      f.drain(true); // held batches go at their rate; those of paused keys fail
    }
    dispatcher.awaitAll();
    dispatcher.giveUp(lost, lostTracked ? lostFutures.toArray() : null, lostHeld);
    boolean lossy = false;
    for (CompletableFuture<Void> request : deferred) {
      lossy |= dispatcher.complete(request, lossy); // after one loss, every later request fails
    }
    telemetry.waiting(0, Telemetry.NONE);
    if (keying != null) {
      batches.clear();
    }
    keyCount = 0;
    Hooks h = hooks;
    if (h != null) {
      h.finish(dispatcher::aborting);
    }
    Throwable fatal = problems.fatal();
    if (fatal != null) {
      problems.fatal("a callback threw a fatal error; the buffer stopped. Items not yet flushed "
          + "were given up (their futures failed, close(timeout) lists them)", fatal);
    }
  }

  /**
   * The loop gives up (it may be mid-burst): the batches go first, oldest first, so that with the
   * channel's items after them the given-up list is in acceptance order.
   */
  private void startGivingUp() {
    if (!givingUp) {
      givingUp = true;
      flushAll(FlushReason.CLOSE);
    }
  }

  /** One channel element: a flush() request, a tracked item or a plain item. */
  @SuppressWarnings("unchecked")
  private void take(Object element) {
    if (element instanceof Dispatcher.FlushRequest request) {
      flushRequested(request.result());
      return;
    }
    T item;
    CompletableFuture<?> future = null;
    if (element instanceof Dispatcher.Tracked tracked) {
      item = (T) tracked.item();
      future = tracked.result();
    } else {
      item = (T) element;
    }
    long m = channel.lastWeight();
    if (givingUp) {
      lost.add(item);
      lostFutures.add(future);
      lostTracked |= future != null;
      lostHeld += m;
      return;
    }
    BatchState<T> s = single;
    if (s != null) {
      batcher.accept(s, item, m, future);
    } else {
      routeByKey(item, m, future);
    }
  }

  private void flushRequested(CompletableFuture<Void> request) {
    if (givingUp) {
      deferred.add(request);
      return;
    }
    flushAll(FlushReason.EXPLICIT);
    publishWaiting(); // stats read after flush() see it done
    // complete() waits for the running flushes (maxInFlight > 1): free the slots taken so far,
    // this request's among them, as before any other wait (flushAll did it only for a batch).
    channel.signalProducers();
    dispatcher.complete(request, false);
  }

  private void routeByKey(T item, long m, @Nullable CompletableFuture<?> future) {
    Keying<K, T> k = Objects.requireNonNull(keying);
    BatchState<T> state;
    channel.releaseSlots(); // the key and policy functions are user code and may block
    try {
      K key = Objects.requireNonNull(k.keyOf().apply(item), "the key function returned null");
      KeyFlow<T> f = flow;
      if (f != null && f.failsFast(key)) {
        dispatcher.failPaused(List.of(item), future == null ? null : new Object[] {future}, m,
            key);
        return;
      }
      state = batches.get(key);
      if (state == null) {
        FlushPolicy<T> policy = Objects.requireNonNull(k.policyOf().apply(key),
            () -> "the policy function returned null for key " + Dispatcher.describe(key));
        Limits<T> limits = Limits.of(policy, k.interval());
        makeRoomForAKey();
        state = new BatchState<>(limits, key);
        batches.put(key, state);
        keyCount = batches.size();
      }
    } catch (Throwable t) {
      problems.caught(t);
      problems.report(Problems.Kind.POLICY_FAILED, "the key or policy function failed; the item "
          + "is handed to onReject", t);
      batcher.reject(item, m, future, "the key or policy function failed on the item: " + t, t);
      return;
    }
    long before = state.bytes;
    batcher.accept(state, item, m, future);
    // Whatever accept did (append, overflow flush, full flush, send alone), the batch went from
    // `before` bytes to state.bytes; what it flushed left the batches.
    bytesInBatches += state.bytes - before;
    while (batcher.bufferedItems() > k.maxBufferedItems()) {
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

  /** Flushes every live batch, oldest first. */
  private void flushAll(FlushReason reason) {
    for (BatchState<T> s = oldestLive(); s != null; s = oldestLive()) {
      flushState(s, reason);
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

  private void makeRoomForAKey() {
    if (batches.size() < Objects.requireNonNull(keying).maxKeys()) {
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

  /** The live batch with the earliest deadline, dropping stale queue entries on the way. */
  private @Nullable BatchState<T> oldestLive() {
    BatchState<T> s = single;
    if (keying == null) {
      return s != null && s.armed ? s : null;
    }
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

  /** Publishes what the batches hold, for the stats. */
  private void publishWaiting() {
    BatchState<T> s = single;
    if (s != null) {
      telemetry.waiting(s.bytes, s.armed ? s.armedAt : Telemetry.NONE);
    } else {
      BatchState<T> oldest = firstLive(arms);
      telemetry.waiting(bytesInBatches, oldest == null ? Telemetry.NONE : oldest.armedAt);
    }
  }

  private void park(long now) {
    dispatcher.clearStrayInterrupt(); // a pending interrupt would turn the park into a spin
    BatchState<T> s = single;
    int minItems = s != null && s.size > 0 && (sparseWakeUps || byteHinted) ? minItems(s) : 1;
    // Absolute times: a clock that jumps after `now` was read can only make the wait shorter.
    BatchState<T> next = oldestLive();
    boolean timed = next != null;
    long wake = next != null ? next.deadline : 0L;
    if (keying != null && !batches.isEmpty()) {
      wake = timed ? earlier(wake, nextSweep) : nextSweep;
      timed = true;
    }
    Hooks h = hooks;
    if (h != null) {
      wake = timed ? earlier(wake, h.nextDue()) : h.nextDue();
      timed = true;
    }
    KeyFlow<T> f = flow;
    if (f != null) { // kept out of this method: small enough to be inlined into the hot loop
      parkKeyed(f, now, minItems, timed, wake);
    } else if (!timed) {
      channel.await(minItems, false, 0L);
    } else if (wake - now > 0) {
      channel.await(minItems, true, wake);
    }
  }

  /**
   * Returns how many arrivals the plain buffer's batch {@code s} needs before it can be full, so
   * the loop is woken once per that many instead of once per item (at least 1).
   */
  private int minItems(BatchState<T> s) {
    long need = (long) s.limits.countLimit() - s.size;
    if (byteHinted) {
      // Arrivals no heavier than the heaviest seen so far cannot end the batch before this many
      // have come; a heavier one wakes the loop at once (its producer knows its weight).
      channel.expect(s.maxWeightSeen);
      long each = Math.max(1, s.maxWeightSeen);
      long overflowAfter = (s.overflowBytes - s.bytes) / each + 1;
      long fullAfter = Math.ceilDiv(s.maxBytes - s.bytes, each);
      need = Math.min(need, Math.min(overflowAfter, fullAfter));
    }
    return (int) Math.max(1, Math.min(need, channel.bound() / 2));
  }

  /**
   * {@link #park} with per-key flow control: also wakes when a held batch's bucket allows it, and
   * while the held items are at their bound waits for time or a wake-up only (not for the
   * channel, which the loop does not poll then).
   */
  private void parkKeyed(KeyFlow<T> f, long now, int minItems, boolean timedBefore,
      long wakeBefore) {
    boolean timed = timedBefore;
    long wake = wakeBefore;
    if (f.waitsForTime()) {
      long at = f.wakeAt();
      wake = timed ? earlier(wake, at) : at;
      timed = true;
    }
    if (!f.hasRoom()) {
      channel.signalProducers();
      if (!timed) {
        time.park(this);
      } else if (wake - now > 0) {
        time.parkUntil(this, wake);
      }
    } else if (!timed) {
      channel.await(minItems, false, 0L);
    } else if (wake - now > 0) {
      channel.await(minItems, true, wake);
    }
  }

  /** The earlier of two times of the loop's clock, compared by difference (they may wrap). */
  private static long earlier(long a, long b) {
    return a - b < 0 ? a : b;
  }

  /**
   * Returns how many keys have state (a live batch, or idle within the timeout): a snapshot, safe
   * from any thread.
   *
   * @return the key count, 0 for a plain buffer
   */
  public int keys() {
    return keyCount;
  }
}
