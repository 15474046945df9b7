package dev.batchbuffer.internal;

import dev.batchbuffer.BufferListener;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.FlushError;
import dev.batchbuffer.FlushInfo;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/**
 * What a buffer counts and tells: the counters behind {@link BufferStats}, the
 * {@link BufferListener} and the JFR events. Counters the loop alone writes are published with
 * release stores (a plain store on x86) and read without locks; none is written per item.
 * Thread-safe.
 *
 * @param <T> the item type
 */
public final class Telemetry<T> {
  // Slots of `slots`. Loop-written unless marked.
  private static final int FLUSHED = 0;
  private static final int FAILED = 1;
  private static final int REJECTED = 2;
  private static final int RETRIED = 3; // any flush thread
  private static final int UNDELIVERED = 4;
  private static final int REFUSED = 5; // any producer
  private static final int REQUESTS = 6; // any producer: flush() requests in the channel's count
  private static final int FLUSHING_ITEMS = 7;
  private static final int FLUSHING_BYTES = 8;
  private static final int WAITING_BYTES = 9;
  private static final int ACTIVE = 10;
  private static final int BATCH_MIN = 11;
  private static final int BATCH_MAX = 12;
  private static final int FLUSH_NANOS = 13;
  private static final int FLUSH_MAX = 14;
  private static final int OLDEST_AT = 15;
  private static final int LISTENER_ERRORS = 16; // any thread
  private static final int HOOK_ERRORS = 17; // any thread
  private static final int EXPIRED = 18;
  private static final int REASONS = 19;
  private static final FlushReason[] REASON_VALUES = FlushReason.values();
  private static final int PAUSED_KEYS = REASONS + REASON_VALUES.length;
  private static final int PAUSED_FAILED = PAUSED_KEYS + 1;
  private static final int RATE_LIMITED = PAUSED_KEYS + 2;
  private static final int SLOTS = RATE_LIMITED + 1;

  /** The value of OLDEST_AT when no batch holds an item. */
  public static final long NONE = Long.MIN_VALUE;

  private final String name;
  private final TimeSource time;
  private final Problems problems;
  private final @Nullable BufferListener<? super T> listener;
  private final long started;
  private final AtomicLongArray slots = new AtomicLongArray(SLOTS);
  private final LatencyHistogram latency = new LatencyHistogram();
  /** The largest accepted count reported, so the exported counter never goes back. */
  private final AtomicLong maxAccepted = new AtomicLong();
  /** The last few failures, copied on write (failures are rare). */
  private volatile List<FlushError> recentErrors = List.of();
  /** The flow control whose limit and rate the stats show, or null. */
  private volatile @Nullable FlowLimiter flow;

  /**
   * Creates the telemetry of one buffer.
   *
   * @param name the buffer's name
   * @param time its clock
   * @param problems where listener failures are logged
   * @param listener its listener, or null
   */
  public Telemetry(String name, TimeSource time, Problems problems,
      @Nullable BufferListener<? super T> listener) {
    this.name = name;
    this.time = time;
    this.problems = problems;
    this.listener = listener;
    this.started = time.nanoTime();
    slots.set(OLDEST_AT, NONE);
    slots.set(BATCH_MIN, Long.MAX_VALUE);
  }

  /**
   * Returns the buffer's name.
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  /** The slot of a reason's count: the enum's dense index, as an EnumMap uses it. */
  @SuppressWarnings("EnumOrdinal")
  private static int slotOf(FlushReason reason) {
    return REASONS + reason.ordinal();
  }

  private void add(int slot, long n) {
    slots.lazySet(slot, slots.get(slot) + n);
  }

  /**
   * A batch is being handed to the flush function. Loop thread.
   *
   * @param items its size
   * @param bytes its weight
   * @param reason why
   */
  public void flushStarted(int items, long bytes, FlushReason reason) {
    add(slotOf(reason), 1);
    add(FLUSHING_ITEMS, items);
    add(FLUSHING_BYTES, bytes);
    add(ACTIVE, 1);
    if (items < slots.get(BATCH_MIN)) {
      slots.lazySet(BATCH_MIN, items);
    }
    if (items > slots.get(BATCH_MAX)) {
      slots.lazySet(BATCH_MAX, items);
    }
  }

  /**
   * A flush has been settled: counts its items, its duration, and tells the listener. Loop
   * thread.
   *
   * @param key the batch's key, or null
   * @param items the batch's size
   * @param bytes its weight
   * @param reason why it was flushed
   * @param nanos how long the flush function took
   * @param failed how many of its items failed
   * @param undelivered how many of its items close(timeout) interrupted and handed back
   * @param error what the flush threw, or null
   */
  public void flushSettled(@Nullable Object key, int items, long bytes, FlushReason reason,
      long nanos, int failed, int undelivered, @Nullable Throwable error) {
    // Out of "flushing" first, then into "flushed"/"failed": snapshot() reads them the other way
    // round, so a settle it overlaps can make an item count in neither, never in both.
    add(FLUSHING_ITEMS, -items);
    add(FLUSHING_BYTES, -bytes);
    add(FLUSHED, items - failed - undelivered);
    add(FAILED, failed);
    add(UNDELIVERED, undelivered);
    add(ACTIVE, -1);
    add(FLUSH_NANOS, nanos);
    if (nanos > slots.get(FLUSH_MAX)) {
      slots.lazySet(FLUSH_MAX, nanos);
    }
    latency.record(nanos);
    if (error != null) {
      List<FlushError> errors = new ArrayList<>(recentErrors);
      if (errors.size() == BufferStats.RECENT_ERRORS) {
        errors.remove(0);
      }
      errors.add(new FlushError(Instant.now(), items, failed, reason, error));
      recentErrors = List.copyOf(errors);
    }
    if (listener != null) {
      FlushInfo info = new FlushInfo(name, key, items, bytes, reason, Duration.ofNanos(nanos),
          failed + undelivered);
      tell(error == null ? l -> l.flushed(info) : l -> l.flushFailed(info, error));
    }
  }

  /**
   * An item was handed to onReject. Loop thread.
   *
   * @param item the item
   */
  public void rejected(T item) {
    add(REJECTED, 1);
    if (listener != null) {
      tell(l -> l.rejected(name, item));
    }
  }

  /**
   * A flush handed over was given up before it started. Loop thread.
   *
   * @param items its size
   * @param bytes its weight
   */
  public void flushAbandoned(int items, long bytes) {
    add(FLUSHING_ITEMS, -items);
    add(FLUSHING_BYTES, -bytes);
    add(ACTIVE, -1);
  }

  /**
   * Items were given up without being flushed. Loop thread.
   *
   * @param n how many
   * @param handedBack true if close(timeout) returns them as undelivered, false if they went to
   *     onFlushError (counted as failed) because it had already returned
   */
  public void gaveUp(long n, boolean handedBack) {
    add(handedBack ? UNDELIVERED : FAILED, n);
  }

  /**
   * Items expired (their delivery timeout passed): already counted as failed, this counts them
   * again as expired. Loop thread.
   *
   * @param n how many
   */
  public void expired(long n) {
    add(EXPIRED, n);
  }

  /**
   * A key paused or was resumed. Loop thread.
   *
   * @param delta +1 when it paused, -1 when it was resumed
   */
  public void keyPaused(int delta) {
    add(PAUSED_KEYS, delta);
  }

  /**
   * Items of a paused key failed without being sent (they went to onFlushError). Loop thread.
   *
   * @param n how many
   */
  public void pausedFailed(long n) {
    add(PAUSED_FAILED, n);
    add(FAILED, n);
  }

  /** A batch had to wait for its key's rate limit. Loop thread. */
  public void rateLimited() {
    add(RATE_LIMITED, 1);
  }

  /** A call was refused because the buffer is closed. Any thread. */
  public void refused() {
    slots.getAndIncrement(REFUSED);
  }

  /**
   * A flush() request is about to take a channel slot (1), or did not get one after all (-1).
   * Any thread.
   *
   * @param n 1 or -1
   */
  public void requested(int n) {
    slots.getAndAdd(REQUESTS, n);
  }

  /**
   * Items are being sent again by a retry. Any thread.
   *
   * @param n how many
   */
  public void retried(long n) {
    slots.getAndAdd(RETRIED, n);
  }

  /** A periodic hook threw. Any thread. */
  public void hookFailed() {
    slots.getAndIncrement(HOOK_ERRORS);
  }

  /**
   * Publishes what the batches hold now. Loop thread, once per loop iteration.
   *
   * @param bytes the weight in batches
   * @param oldestAt when the oldest batch took its first item, or {@link #NONE}
   */
  public void waiting(long bytes, long oldestAt) {
    if (slots.get(WAITING_BYTES) != bytes) {
      slots.lazySet(WAITING_BYTES, bytes);
    }
    if (slots.get(OLDEST_AT) != oldestAt) {
      slots.lazySet(OLDEST_AT, oldestAt);
    }
  }

  /**
   * Returns whether a listener wants producer events.
   *
   * @return true if a listener is set
   */
  public boolean hearsProducers() {
    return listener != null;
  }

  /** A producer is about to wait for room. Producer's thread. */
  public void producerBlocked() {
    tell(l -> l.producerBlocked(name));
  }

  /**
   * A producer stopped waiting. Producer's thread.
   *
   * @param nanos how long it waited
   */
  public void producerUnblocked(long nanos) {
    tell(l -> l.producerUnblocked(name, Duration.ofNanos(nanos)));
  }

  /**
   * The loop ended. Loop thread.
   *
   * @param stats the final stats
   */
  public void closed(BufferStats stats) {
    tell(l -> l.closed(stats));
  }

  /** Tells the listener, if any; what it throws is counted and logged, never passed on. */
  private void tell(Consumer<BufferListener<? super T>> event) {
    BufferListener<? super T> l = listener;
    if (l == null) {
      return;
    }
    try {
      event.accept(l);
    } catch (Throwable t) {
      problems.caught(t);
      slots.getAndIncrement(LISTENER_ERRORS);
      problems.report(Problems.Kind.LISTENER_FAILED, "a BufferListener method threw; ignored", t);
    }
  }

  /**
   * Shows a flow control's limit, rate and throttles in the stats.
   *
   * @param flow the flow control's state
   */
  public void bindFlow(FlowLimiter flow) {
    this.flow = flow;
  }

  /**
   * Takes a snapshot.
   *
   * @param state the buffer's state
   * @param claimed reads how many elements the channel has accepted (items and flush requests)
   * @param producersBlocked producers waiting for room
   * @param keys live keys, or 0
   * @return the stats
   */
  public BufferStats snapshot(BufferStats.State state, LongSupplier claimed, int producersBlocked,
      int keys) {
    long now = time.nanoTime();
    // Read where items end up before where they pass through, and the accepted count last: each
    // counter only grows, so no item is counted twice (derived values are clamped at 0).
    long flushed = slots.get(FLUSHED);
    long failed = slots.get(FAILED);
    long rejected = slots.get(REJECTED);
    long undelivered = slots.get(UNDELIVERED);
    long flushing = slots.get(FLUSHING_ITEMS);
    // A flush() request is counted a moment after it claims its slot; never let accepted go back.
    long accepted = maxAccepted.accumulateAndGet(claimed.getAsLong() - slots.get(REQUESTS),
        Math::max);
    long waiting = Math.max(0, accepted - flushed - failed - rejected - undelivered - flushing);
    Map<FlushReason, Long> reasons = new EnumMap<>(FlushReason.class);
    long batches = 0; // every flush started counts once under its reason
    for (FlushReason r : REASON_VALUES) {
      long n = slots.get(slotOf(r));
      reasons.put(r, n);
      batches += n;
    }
    long max = slots.get(FLUSH_MAX);
    long oldestAt = slots.get(OLDEST_AT);
    FlowLimiter f = flow;
    return new BufferStats(name, state, Duration.ofNanos(Math.max(0, now - started)),
        waiting, Math.max(0, flushing), slots.get(WAITING_BYTES),
        Math.max(0, slots.get(FLUSHING_BYTES)), accepted, flushed, failed, rejected,
        slots.get(RETRIED), undelivered, slots.get(REFUSED), reasons,
        batches == 0 ? 0 : (int) slots.get(BATCH_MIN),
        batches == 0 ? 0 : (double) (flushed + failed + flushing) / batches,
        (int) slots.get(BATCH_MAX),
        Duration.ofNanos(latency.quantile(0.50, max)),
        Duration.ofNanos(latency.quantile(0.99, max)),
        Duration.ofNanos(max), Duration.ofNanos(slots.get(FLUSH_NANOS)),
        oldestAt == NONE ? Duration.ZERO : Duration.ofNanos(Math.max(0, now - oldestAt)),
        (int) Math.max(0, slots.get(ACTIVE)), producersBlocked, keys,
        slots.get(LISTENER_ERRORS), slots.get(HOOK_ERRORS), recentErrors, slots.get(EXPIRED),
        f == null ? 0 : f.limit(), f == null ? 0 : f.rate(), f == null ? 0 : f.throttledCount(),
        (int) slots.get(PAUSED_KEYS), slots.get(PAUSED_FAILED), slots.get(RATE_LIMITED));
  }
}
