package dev.batchbuffer.internal;

import dev.batchbuffer.FlushReason;
import dev.batchbuffer.PauseMode;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.jspecify.annotations.Nullable;

/**
 * Per-key flow control of a keyed buffer: a token bucket per key (items and bytes per second) and
 * the pausing of a key whose batch failed for good. It sits between the loop and the dispatcher:
 * a batch the loop hands over is either forwarded at once (its key is free, not paused, and its
 * bucket holds enough) or held here, in its key's queue, until it can go. Loop-owned, except
 * {@link #resume} and {@link #pausedKeys}, which any thread may call.
 *
 * @param <T> the item type
 */
public final class KeyFlow<T> {
  /*
   * Each key with state has a queue of held batches, a flag for a flush of it handed to the
   * dispatcher and not settled (so a key has at most one flush in the dispatcher: a hot key takes
   * at most one in-flight slot, and its held batches never block other keys), a paused flag, and
   * two buckets. Buckets count tokens in billionths (token-nanoseconds: a rate of r per second adds
   * r per nanosecond), so the arithmetic is exact on longs. A bucket holds at most one second's
   * worth (the burst). A batch needs min(its size, the burst) tokens and takes its whole size: a
   * batch larger than a second's worth goes when the bucket is full and leaves a debt.
   *
   * Held batches count against `maxWaiting` items: while that many wait, the loop stops taking
   * items from the channel (producers then wait, as for a full channel) but keeps releasing held
   * batches, flushing due ones and settling flushes. Bytes of held batches stay held under the
   * memory bound until they are settled.
   *
   * Resume requests from other threads travel through `resumes`; the loop applies them before it
   * releases anything. `paused` mirrors the paused flags for pausedKeys() from any thread.
   */

  private static final long NANOS_PER_SECOND = 1_000_000_000L;

  /**
   * The settings of a keyed buffer's flow control.
   *
   * @param itemsPerSecond items a key may send per second, or 0 for no limit
   * @param weigher the weigher of the bytes limit, or null for none
   * @param bytesPerSecond bytes a key may send per second, or 0 for no limit
   * @param pauseMode what a paused key does with later items, or null if keys never pause
   * @param maxWaiting the most items held here before the loop stops taking items
   * @param <T> the item type
   */
  public record Settings<T>(long itemsPerSecond, @Nullable Weigher<? super T> weigher,
      long bytesPerSecond, @Nullable PauseMode pauseMode, long maxWaiting) {}

  /** A batch held back. */
  private static final class Held<T> {
    final Dispatcher.Batch<T> batch;
    final @Nullable Object @Nullable [] futures;
    final long held;
    final long bytes;
    final FlushReason reason;
    final long seq;
    /** When the loop took its first item, from which its delivery timeout counts. */
    final long since;
    /** Its weight for the bytes-per-second bucket. */
    final long weight;

    Held(Dispatcher.Batch<T> batch, @Nullable Object @Nullable [] futures, long held, long bytes,
        FlushReason reason, long seq, long since, long weight) {
      this.batch = batch;
      this.futures = futures;
      this.held = held;
      this.bytes = bytes;
      this.reason = reason;
      this.seq = seq;
      this.since = since;
      this.weight = weight;
    }
  }

  /** One key's state. */
  private static final class KeyState<T> {
    final Object key;
    final ArrayDeque<Held<T>> waiting = new ArrayDeque<>();
    boolean inFlight;
    boolean paused;
    long items;
    long bytes;
    long refilledAt;

    KeyState(Object key, long itemBurst, long byteBurst, long now) {
      this.key = key;
      this.items = itemBurst;
      this.bytes = byteBurst;
      this.refilledAt = now;
    }
  }

  private final Dispatcher<T> dispatcher;
  private final TimeSource time;
  private final Problems problems;
  private final Telemetry<T> telemetry;
  private final long itemRate;
  private final long byteRate;
  /** A full bucket, in token-nanoseconds; 0 without a limit. */
  private final long itemBurst;
  private final long byteBurst;
  private final @Nullable Weigher<? super T> weigher;
  private final @Nullable PauseMode mode;
  private final long maxWaiting;
  private final Map<Object, KeyState<T>> keys = new HashMap<>();
  /** Keys with held batches, in the order they got their first. */
  private final Set<Object> waitingKeys = new LinkedHashSet<>();
  private long waitingItems;
  private long nextSweep;
  private final Set<Object> paused = ConcurrentHashMap.newKeySet();
  private final ConcurrentLinkedQueue<Object> resumes = new ConcurrentLinkedQueue<>();

  /**
   * Creates the flow control of one keyed buffer.
   *
   * @param settings what to limit
   * @param dispatcher where released batches go
   * @param time the buffer's clock
   * @param problems where callback failures go
   * @param telemetry where pauses and waits are counted
   */
  public KeyFlow(Settings<T> settings, Dispatcher<T> dispatcher, TimeSource time,
      Problems problems, Telemetry<T> telemetry) {
    this.dispatcher = dispatcher;
    this.time = time;
    this.problems = problems;
    this.telemetry = telemetry;
    this.itemRate = settings.itemsPerSecond();
    this.byteRate = settings.weigher() == null ? 0 : settings.bytesPerSecond();
    this.itemBurst = itemRate * NANOS_PER_SECOND;
    this.byteBurst = byteRate * NANOS_PER_SECOND;
    this.weigher = byteRate == 0 ? null : settings.weigher();
    this.mode = settings.pauseMode();
    this.maxWaiting = settings.maxWaiting();
    this.nextSweep = time.nanoTime() + NANOS_PER_SECOND;
  }

  // ---- any thread -----------------------------------------------------------------------------

  /**
   * Resumes a paused key: its held batches are sent (at its rate), later items are batched as
   * usual. Does nothing if the key is not paused. Any thread.
   *
   * @param key the key
   */
  public void resume(Object key) {
    if (paused.remove(key)) {
      resumes.add(key);
      dispatcher.wakeLoop();
    }
  }

  /**
   * Returns the keys paused now: a snapshot. Any thread.
   *
   * @return the paused keys
   */
  public Set<Object> pausedKeys() {
    return Set.copyOf(paused);
  }

  // ---- loop thread ----------------------------------------------------------------------------

  /**
   * Returns whether items of {@code key} fail at once: it is paused in {@link PauseMode#FAIL_FAST}.
   *
   * @param key the key of an item the loop takes
   * @return true if the item must fail with KEY_PAUSED
   */
  public boolean failsFast(Object key) {
    if (mode != PauseMode.FAIL_FAST) {
      return false;
    }
    applyResumes();
    KeyState<T> k = keys.get(key);
    return k != null && k.paused;
  }

  /**
   * Returns whether the loop may take more items from the channel.
   *
   * @return false while {@code maxWaiting} items or more are held
   */
  public boolean hasRoom() {
    return waitingItems < maxWaiting;
  }

  /**
   * Takes a batch the loop handed over: holds it, fails it (its key is paused, FAIL_FAST), or lets
   * it go on.
   *
   * @return true if it was held or failed; false if the dispatcher forwards it now
   */
  boolean hold(Dispatcher.Batch<T> batch, @Nullable Object @Nullable [] futures, long held,
      long bytes, FlushReason reason, Object key, long seq, long since) {
    applyResumes();
    long now = time.nanoTime();
    KeyState<T> k = keys.get(key);
    if (k == null) {
      k = new KeyState<>(key, itemBurst, byteBurst, now);
      keys.put(key, k);
    }
    if (k.paused && mode == PauseMode.FAIL_FAST) {
      dispatcher.failPaused(batch, futures, held, key);
      return true;
    }
    long weight = weigh(batch);
    if (k.waiting.isEmpty() && !k.paused && !k.inFlight) {
      if (take(k, batch.size(), weight, now)) {
        k.inFlight = true;
        return false;
      }
    }
    Held<T> h = new Held<>(batch, futures, held, bytes, reason, seq, since, weight);
    if (!k.paused && (itemRate > 0 || byteRate > 0)) {
      telemetry.rateLimited();
    }
    k.waiting.add(h);
    waitingItems += batch.size();
    waitingKeys.add(key);
    return true;
  }

  /**
   * A flush of {@code key} handed over by this was settled: the key may send its next batch.
   *
   * @param key the key
   */
  void settled(Object key) {
    KeyState<T> k = keys.get(key);
    if (k != null) {
      k.inFlight = false;
    }
  }

  /**
   * A batch of {@code key} failed for good: the key pauses (if the option is on). Its held
   * batches fail (FAIL_FAST) only in {@link #failHeldOfPaused}, once the failed batch itself was
   * told, so that the key's failures reach its futures and onFlushError in the key's order.
   *
   * @param key the key
   */
  void failedForGood(Object key) {
    if (mode == null) {
      return;
    }
    KeyState<T> k = keys.get(key);
    if (k == null) {
      k = new KeyState<>(key, itemBurst, byteBurst, time.nanoTime());
      keys.put(key, k);
    }
    if (k.paused) {
      return;
    }
    k.paused = true;
    paused.add(key);
    telemetry.keyPaused(1);
  }

  /**
   * After a failed batch of {@code key} was told (its futures, onFlushError): in FAIL_FAST mode,
   * if the key is paused (and was not resumed meanwhile), its held batches fail with KEY_PAUSED.
   *
   * @param key the key
   */
  void failHeldOfPaused(Object key) {
    if (mode != PauseMode.FAIL_FAST) {
      return;
    }
    KeyState<T> k = keys.get(key);
    if (k != null && k.paused && paused.contains(key)) {
      failHeld(k);
    }
  }

  /** Applies the resume requests of other threads. */
  private void applyResumes() {
    Object key;
    while ((key = resumes.poll()) != null) {
      KeyState<T> k = keys.get(key);
      if (k != null && k.paused && !paused.contains(key)) {
        k.paused = false;
        telemetry.keyPaused(-1);
      }
    }
  }

  /**
   * Sends the held batches whose keys are free and whose buckets allow, oldest key first; forgets
   * the state of keys that have nothing left to remember.
   */
  public void releaseReady() {
    applyResumes();
    long now = time.nanoTime();
    if (!waitingKeys.isEmpty()) {
      for (Object key : new ArrayList<>(waitingKeys)) {
        KeyState<T> k = keys.get(key);
        if (k != null) {
          release(k);
        }
      }
      now = time.nanoTime();
    }
    if (now - nextSweep >= 0) {
      sweep(now);
    }
  }

  /** Sends the held batches of one key that may go now. */
  private void release(KeyState<T> k) {
    for (; ; ) {
      Held<T> h = k.waiting.peek();
      if (h == null || k.paused || k.inFlight) {
        return;
      }
      if (dispatcher.aborting() || problems.fatal() != null) {
        giveUpHeld();
        return;
      }
      if (dispatcher.hasExpired(h.since)) { // it goes nowhere: it takes no tokens
        unhold(k);
        dispatcher.expiredUnsent(h.batch, h.futures, h.held, h.since, k.key);
        continue;
      }
      if (!take(k, h.batch.size(), h.weight, time.nanoTime())) {
        return;
      }
      unhold(k);
      k.inFlight = true;
      dispatcher.forward(h.batch, h.futures, h.held, h.bytes, h.reason, k.key, h.seq, h.since);
    }
  }

  private void unhold(KeyState<T> k) {
    Held<T> h = k.waiting.remove();
    waitingItems -= h.batch.size();
    if (k.waiting.isEmpty()) {
      waitingKeys.remove(k.key);
    }
  }

  /**
   * Returns when the loop should look again for a held batch that a bucket holds back.
   *
   * @return the earliest time a held batch of a free, unpaused key may go; now if none (call
   *     only when {@link #waitsForTime} is true)
   */
  public long wakeAt() {
    long now = time.nanoTime();
    long wake = now;
    boolean found = false;
    for (Object key : waitingKeys) {
      KeyState<T> k = keys.get(key);
      Held<T> h = k == null ? null : k.waiting.peek();
      if (k == null || h == null || k.paused || k.inFlight) {
        continue;
      }
      long at = readyAt(k, h.batch.size(), h.weight, now);
      if (!found || at - wake < 0) {
        wake = at;
        found = true;
      }
    }
    return wake;
  }

  /**
   * Returns whether a held batch waits only for time (not for a resume or a running flush).
   *
   * @return true if {@link #wakeAt} names a time
   */
  public boolean waitsForTime() {
    for (Object key : waitingKeys) {
      KeyState<T> k = keys.get(key);
      if (k != null && !k.paused && !k.inFlight && !k.waiting.isEmpty()) {
        return true;
      }
    }
    return false;
  }

  /**
   * Sends every held batch that can go, waiting for buckets and running flushes: for a
   * {@code flush()} request and at close. Batches of paused keys stay held (a flush() request) or
   * fail with KEY_PAUSED (at close). Once the buffer gives up, gives up every held batch.
   *
   * @param closing whether the buffer closes
   * @return how many items of paused keys are still held
   */
  public long drain(boolean closing) {
    for (; ; ) {
      releaseReady();
      if (dispatcher.aborting() || problems.fatal() != null) {
        giveUpHeld();
        return 0;
      }
      long pausedItems = 0;
      boolean more = false;
      for (Object key : new ArrayList<>(waitingKeys)) {
        KeyState<T> k = keys.get(key);
        if (k == null) {
          continue;
        }
        if (k.paused) {
          if (closing) {
            failHeld(k);
          } else {
            for (Held<T> h : k.waiting) {
              pausedItems += h.batch.size();
            }
          }
          continue;
        }
        more |= !k.waiting.isEmpty();
      }
      if (!more) {
        return pausedItems;
      }
      boolean timed = waitsForTime();
      dispatcher.awaitFinishedOr(timed, timed ? wakeAt() : 0L);
    }
  }

  /** Fails every held batch of a paused key with KEY_PAUSED. */
  private void failHeld(KeyState<T> k) {
    while (!k.waiting.isEmpty()) {
      Held<T> h = k.waiting.peek();
      unhold(k);
      dispatcher.failPaused(h.batch, h.futures, h.held, k.key);
    }
  }

  /** The buffer gives up: so does every held batch, in acceptance order per key. */
  private void giveUpHeld() {
    for (Object key : new ArrayList<>(waitingKeys)) {
      KeyState<T> k = keys.get(key);
      while (k != null && !k.waiting.isEmpty()) {
        Held<T> h = k.waiting.peek();
        unhold(k);
        dispatcher.giveUpHeld(h.seq, h.batch, h.futures, h.held);
      }
    }
  }

  /** Forgets keys that are not paused, hold nothing, run nothing and have full buckets. */
  private void sweep(long now) {
    for (Iterator<KeyState<T>> it = keys.values().iterator(); it.hasNext(); ) {
      KeyState<T> k = it.next();
      if (!k.paused && !k.inFlight && k.waiting.isEmpty()) {
        refill(k, now);
        if (k.items == itemBurst && k.bytes == byteBurst) {
          it.remove();
        }
      }
    }
    nextSweep = now + NANOS_PER_SECOND;
  }

  // ---- buckets --------------------------------------------------------------------------------

  private long weigh(Dispatcher.Batch<T> batch) {
    Weigher<? super T> w = weigher;
    if (w == null) {
      return 0;
    }
    long sum = 0;
    for (T item : batch) {
      try {
        sum = Math.addExact(sum, Math.max(0, w.weigh(item)));
      } catch (ArithmeticException e) {
        return Long.MAX_VALUE;
      } catch (Throwable t) { // a weigher that throws: the item counts as one byte
        problems.caught(t);
        problems.report(Problems.Kind.POLICY_FAILED, "the weigher of keyByteRateLimit threw; the "
            + "item counts as one byte", t);
        sum = sum == Long.MAX_VALUE ? sum : sum + 1;
      }
    }
    return sum;
  }

  private void refill(KeyState<T> k, long now) {
    long dt = now - k.refilledAt;
    if (dt <= 0) {
      return;
    }
    k.refilledAt = now;
    if (itemRate > 0 && k.items < itemBurst) {
      k.items = Math.min(itemBurst, saturatedAdd(k.items, tokens(dt, itemRate)));
    }
    if (byteRate > 0 && k.bytes < byteBurst) {
      k.bytes = Math.min(byteBurst, saturatedAdd(k.bytes, tokens(dt, byteRate)));
    }
  }

  /** The tokens {@code dt} nanoseconds add at {@code rate} per second, saturated. */
  private static long tokens(long dt, long rate) {
    return dt > (Long.MAX_VALUE / 4) / rate ? Long.MAX_VALUE / 4 : dt * rate;
  }

  /** The tokens a batch of {@code n} needs before it may go, capped at a full bucket. */
  private static long need(long n, long rate, long burst) {
    return n >= rate ? burst : n * NANOS_PER_SECOND;
  }

  /** The tokens a batch takes: its whole size, saturated. */
  private static long cost(long n) {
    return n > Long.MAX_VALUE / NANOS_PER_SECOND ? Long.MAX_VALUE / 2 : n * NANOS_PER_SECOND;
  }

  private boolean take(KeyState<T> k, int size, long weight, long now) {
    if (itemRate == 0 && byteRate == 0) {
      return true;
    }
    refill(k, now);
    if (itemRate > 0 && k.items < need(size, itemRate, itemBurst)) {
      return false;
    }
    if (byteRate > 0 && k.bytes < need(weight, byteRate, byteBurst)) {
      return false;
    }
    if (itemRate > 0) {
      k.items = saturatedAdd(k.items, -cost(size));
    }
    if (byteRate > 0) {
      k.bytes = saturatedAdd(k.bytes, -cost(weight));
    }
    return true;
  }

  private long readyAt(KeyState<T> k, int size, long weight, long now) {
    refill(k, now);
    long wait = 0;
    if (itemRate > 0) {
      long deficit = need(size, itemRate, itemBurst) - k.items;
      if (deficit > 0) {
        wait = Math.max(wait, Math.ceilDiv(deficit, itemRate));
      }
    }
    if (byteRate > 0) {
      long deficit = need(weight, byteRate, byteBurst) - k.bytes;
      if (deficit > 0) {
        wait = Math.max(wait, Math.ceilDiv(deficit, byteRate));
      }
    }
    return now + wait;
  }

  private static long saturatedAdd(long a, long b) {
    long r = a + b;
    if (((a ^ r) & (b ^ r)) < 0) {
      return a < 0 ? Long.MIN_VALUE / 2 : Long.MAX_VALUE / 2;
    }
    return r;
  }

  /**
   * Returns the items held now, for the stats and tests.
   *
   * @return the held item count
   */
  public long waitingItems() {
    return waitingItems;
  }
}
