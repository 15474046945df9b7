package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * A bounded multi-producer, single-consumer channel that can be closed. Thread-safe for any number
 * of producers and exactly one consumer thread, {@linkplain #bindConsumer bound} before first use.
 *
 * <p>Actions of a producer before a successful offer of {@code e} happen-before the consumer's
 * {@link #poll()} that returns {@code e}.
 *
 * @param <E> the element type
 */
public final class Channel<E> {
  /*
   * Design notes.
   *
   * Ring. An array of a power-of-two length >= bound; index i lives in slot i & mask. A producer
   * claims an index by CAS on producerIndex and then publishes its element with a release store;
   * the consumer reads slots with acquire loads, nulls a slot and then release-stores
   * consumerIndex + 1. A producer may claim index p only while p < consumerIndex + bound, so the
   * channel never holds more than `bound` items and a claimed slot was always emptied first (the
   * consumer's null store happens-before the consumerIndex store that the producer, or the producer
   * that cached producerLimit, read). A claimed but not yet published slot is seen by the consumer
   * as null while producerIndex says it exists: it spins briefly (the producer is between two
   * instructions and cannot unmount).
   *
   * Closing. The sign bit of producerIndex. close() sets it with one atomic OR, so a producer's
   * claim either happened before the close (its item will be drained) or fails with CLOSED; after
   * the close producerIndex is final and the consumer drains exactly up to it.
   *
   * Consumer wake-ups (Dekker style on two volatiles). The consumer stores wakeAt = target and then
   * reads producerIndex; a producer CASes producerIndex and then reads wakeAt. Either the consumer
   * sees enough items and does not park, or the producer whose claim reaches `target` sees wakeAt
   * and unparks it. Producers below the target never touch the consumer: one wake-up per batch of
   * arrivals, not one per item.
   *
   * Consumer index. poll() publishes consumerIndex only every publishEvery polls; the rest of the
   * time it lags the consumer's cursor, and producers see the slots in between as taken. The
   * consumer therefore publishes (signalProducers) before anything that may take long or wait: a
   * flush, a refusal (onReject), a flush() request waiting for running flushes, the end of each
   * burst, before it parks, and once it has drained a closed channel (so size() then reads 0);
   * and (releaseSlots, no fence) before every per-item call of user code on the loop (canAdd,
   * willOverflow, shouldFlush, a weigher, a key or policy function), which may block. So the bound
   * is exact whatever the loop waits for; only the count-only path and the byte path whose
   * producers weigh run no user code per item, and they publish every few polls.
   *
   * Lazy state. The padded indices and the slots (a Ring) are made by the first offer, close or
   * consumer wait, and the consumer thread is started by the first wake-up (wakeAt starts at 1):
   * a buffer that was never used holds neither.
   *
   * Producer wake-ups. A producer that finds the channel full increments blockedProducers, adds
   * itself to `parked`, re-tries, and only then parks. The consumer, after freeing slots, issues a
   * full fence and reads blockedProducers; if it is non-zero it unparks every parked producer. The
   * fence orders its consumerIndex store before that read, so a producer either sees the freed
   * slot on its re-try or is seen (and woken) by the consumer.
   */

  /** The claim result of an offer that succeeded. */
  public static final int OK = 0;
  /** The claim result of an offer that found the channel full. */
  public static final int FULL = 1;
  /** The claim result of an offer that found the channel closed. */
  public static final int CLOSED = 2;

  /**
   * The weight a producer carries for an item it could not weigh (see {@link #Channel(int, boolean,
   * boolean, TimeSource)}): it always wakes a waiting consumer, which weighs the item itself.
   */
  public static final long UNWEIGHED = -1L;

  /** Re-tries of a producer on a full channel, or looks of the consumer at an empty one, before a park. */
  private static final int SPINS_BEFORE_PARK = 128;

  /**
   * How long a producer that found the channel full keeps yielding and re-trying before it parks.
   * Long enough to span the consumer's drain of a full channel, short enough that a producer of a
   * stuck consumer costs little.
   */
  private static final long PRODUCER_YIELD_NANOS = 50_000;

  /**
   * How long the consumer of a contended channel keeps polling for the next item before it parks
   * and the channel stops counting as contended. Short: below about 100,000 items a second the
   * loop parks between arrivals rather than keep a processor busy for them.
   */
  private static final long CONSUMER_POLL_NANOS = 10_000;

  /**
   * The most polls after which the consumer publishes its index. Producers read that index (the
   * consumer's cache line) only to find room: publishing it once per few polls instead of once per
   * poll keeps the line from bouncing between the consumer and producers waiting on a full channel.
   * The consumer also publishes before anything slow (a flush) and before it waits.
   */
  private static final int PUBLISH_EVERY = 32;

  private static final long CLOSED_BIT = Long.MIN_VALUE;
  private static final long INDEX_MASK = Long.MAX_VALUE;
  private static final long NOT_WAITING = Long.MAX_VALUE;
  /** The {@code expected} weight of a channel that is not hinted: no weight compares above it. */
  private static final long NOTHING_IS_HEAVIER = -1L;

  private static final VarHandle PRODUCER_INDEX;
  private static final VarHandle PRODUCER_LIMIT;
  private static final VarHandle CONSUMER_INDEX;
  private static final VarHandle WAKE_AT;
  private static final VarHandle BLOCKED;
  private static final VarHandle CONTENDED;
  private static final VarHandle STARTED;
  private static final VarHandle RING;
  private static final VarHandle EXPECTED;
  private static final VarHandle HEAVY_AT;
  private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(Object[].class);

  static {
    try {
      MethodHandles.Lookup lookup = MethodHandles.lookup();
      PRODUCER_INDEX =
          lookup.findVarHandle(ChannelFields.ProducerIndex.class, "producerIndex", long.class);
      PRODUCER_LIMIT =
          lookup.findVarHandle(ChannelFields.ProducerLimit.class, "producerLimit", long.class);
      CONSUMER_INDEX =
          lookup.findVarHandle(ChannelFields.ConsumerIndex.class, "consumerIndex", long.class);
      WAKE_AT = lookup.findVarHandle(ChannelFields.WakeAt.class, "wakeAt", long.class);
      BLOCKED = lookup.findVarHandle(ChannelFields.WakeAt.class, "blockedProducers", int.class);
      CONTENDED = lookup.findVarHandle(ChannelFields.WakeAt.class, "contended", int.class);
      STARTED = lookup.findVarHandle(Channel.class, "started", int.class);
      RING = lookup.findVarHandle(Channel.class, "ring", Ring.class);
      EXPECTED = lookup.findVarHandle(ChannelFields.WakeAt.class, "expected", long.class);
      HEAVY_AT = lookup.findVarHandle(ChannelFields.WakeAt.class, "heavyAt", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /**
   * The hot state of a channel in use: the padded indices, the slots and their weights. Made by the
   * first offer, close or consumer wait, so a buffer that was never used holds none.
   */
  static final class Ring extends ChannelFields.Pad4 {
    final @Nullable Object[] slots;
    /**
     * The weight each slot's item holds under the memory bound, parallel to {@code slots}; null
     * when the buffer has no memory bound. Written before the slot's release store, read by the
     * consumer before it frees the slot, so the producer that reuses the slot cannot overwrite it
     * early.
     */
    final long @Nullable [] weights;

    Ring(int length, boolean weighted, boolean hinted, int bound) {
      this.slots = new Object[length];
      this.weights = weighted ? new long[length] : null;
      this.producerLimit = bound;
      this.expected = hinted ? 0L : NOTHING_IS_HEAVIER;
    }
  }

  /** The ring, published by a CAS and read with acquire loads; never changes once made. */
  private volatile @Nullable Ring ring;
  /** The ring as the consumer first saw it, so later polls need no fence. Consumer only. */
  private @Nullable Ring consumerRing;
  /** 1 once the consumer thread was started (the first wake-up starts it). */
  private volatile int started;
  private final int length;
  private final boolean weighted;
  private final boolean hinted;
  /** How many polls may pass before the consumer index is published. */
  private final int publishEvery;
  private final int mask;
  private final int bound;
  private final TimeSource time;
  private final ParkedThreads parked = new ParkedThreads();
  private @Nullable Thread consumer;

  /**
   * Creates an empty, open channel.
   *
   * @param bound the most items it holds, at least 1 and at most {@code 1 << 30}
   * @param time the time source producers wait with
   */
  public Channel(int bound, TimeSource time) {
    this(bound, false, false, time);
  }

  /**
   * Creates an empty, open channel that may carry a weight with each element.
   *
   * @param bound the most items it holds, at least 1 and at most {@code 1 << 30}
   * @param weighted whether elements carry a weight ({@link #tryOffer(Object, long)})
   * @param hinted whether the weight offered with an element (kept or not) tells whether it may
   *     end the consumer's wait: the consumer then says, with {@link #expect}, the heaviest element
   *     it expects, sleeps through arrivals no heavier until its target count, and the producer of
   *     a heavier one (or of one weighed {@link #UNWEIGHED}) wakes it
   * @param time the time source producers wait with
   */
  public Channel(int bound, boolean weighted, boolean hinted, TimeSource time) {
    if (bound < 1 || bound > (1 << 30)) {
      throw new IllegalArgumentException("bound must be in [1, 2^30] (was " + bound + ")");
    }
    int length = Integer.highestOneBit(bound);
    if (length < bound) {
      length <<= 1;
    }
    this.length = length;
    this.weighted = weighted;
    this.hinted = hinted;
    this.mask = length - 1;
    this.bound = bound;
    this.time = time;
    this.publishEvery = Math.max(1, Math.min(PUBLISH_EVERY, bound / 8));
  }

  /**
   * Names the only thread that will call {@link #poll()}, {@link #await} and {@link #signalProducers}.
   * Must happen-before any producer call. The thread is not started here: the first arrival (or
   * {@link #wakeConsumer()}, {@link #close()}, {@link #startConsumer()}) starts it.
   *
   * @param thread the consumer thread
   */
  public void bindConsumer(Thread thread) {
    this.consumer = thread;
  }

  /**
   * Returns whether {@code thread} is the bound consumer.
   *
   * @param thread a thread
   * @return true if it is the consumer
   */
  public boolean isConsumer(Thread thread) {
    return thread == consumer;
  }

  /**
   * Returns the most items the channel holds.
   *
   * @return the bound
   */
  public int bound() {
    return bound;
  }

  /**
   * Tries to add {@code e} without blocking.
   *
   * @param e the element
   * @return {@link #OK}, {@link #FULL} or {@link #CLOSED}
   */
  public int tryOffer(Object e) {
    return tryOffer(e, 0L);
  }

  /**
   * Tries to add {@code e} with its weight without blocking.
   *
   * @param e the element
   * @param weight its weight, returned by {@link #lastWeight()} after the poll that takes it; kept
   *     only by a weighted channel
   * @return {@link #OK}, {@link #FULL} or {@link #CLOSED}
   */
  public int tryOffer(Object e, long weight) {
    Ring r = ring();
    long limit = r.producerLimit;
    long p;
    do {
      p = r.producerIndex;
      if (p < 0) {
        return CLOSED;
      }
      if (p >= limit) {
        limit = r.consumerIndex + bound;
        if (p >= limit) {
          return FULL;
        }
        PRODUCER_LIMIT.setRelease(r, limit);
      }
    } while (!PRODUCER_INDEX.compareAndSet(r, p, p + 1));
    int slot = (int) (p & mask);
    long[] w = r.weights;
    if (w != null) {
      w[slot] = weight; // published by the release store below
    }
    SLOTS.setRelease(r.slots, slot, e);
    // A heavier element than the consumer expects is marked before wakeAt is read (Dekker with
    // await, which sets wakeAt before it reads the mark): a waiting consumer is woken by this
    // producer, or sees the mark and does not wait. `expected` only grows, so a stale read can
    // only cause an early wake-up. Never true in a channel that is not hinted. Opaque: a plain
    // read of a non-volatile long may tear (JLS 17.7), and half of a newer value can read larger
    // than the consumer expects, hiding a heavy element.
    boolean heavy = Long.compareUnsigned(weight, (long) EXPECTED.getOpaque(r)) > 0;
    if (heavy) {
      markHeavy(r, p + 1);
    }
    long target = r.wakeAt;
    if ((p + 1 >= target || (heavy && target != NOT_WAITING))
        && WAKE_AT.compareAndSet(r, target, NOT_WAITING)) {
      wakeConsumer();
    }
    return OK;
  }

  /** Raises {@code heavyAt} to {@code index} unless it is there already. */
  private static void markHeavy(Ring r, long index) {
    long h;
    do {
      h = r.heavyAt;
      if (h >= index) {
        return;
      }
    } while (!HEAVY_AT.compareAndSet(r, h, index));
  }

  /** The ring, made now if no one made it yet. Any thread. */
  private Ring ring() {
    Ring r = (Ring) RING.getAcquire(this);
    return r != null ? r : makeRing();
  }

  private Ring makeRing() {
    Ring made = new Ring(length, weighted, hinted, bound);
    Ring witness = (Ring) RING.compareAndExchange(this, null, made);
    return witness != null ? witness : made;
  }

  /** The ring, for the consumer. */
  private Ring consumerRing() {
    Ring r = consumerRing;
    if (r == null) {
      r = ring();
      consumerRing = r;
    }
    return r;
  }

  /**
   * Wakes the consumer whatever it waits for (a control message that must not wait its turn);
   * starts it if it has not started yet.
   */
  public void wakeConsumer() {
    Thread c = consumer;
    if (c == null) {
      return;
    }
    if (started == 0) {
      startConsumer();
    } else {
      LockSupport.unpark(c);
    }
  }

  /**
   * Starts the bound consumer thread unless it was started: the first arrival, control message or
   * close does it, so a buffer that was never used holds no running thread (and no stack). The
   * thread started finds whatever the caller published before this call. Any thread.
   */
  public void startConsumer() {
    Thread c = consumer;
    if (c != null && started == 0 && STARTED.compareAndSet(this, 0, 1)) {
      c.start();
    }
  }

  /**
   * Adds {@code e}, waiting while the channel is full. Interruption is checked only while waiting;
   * the caller checks it on entry.
   *
   * @param e the element
   * @param weight its weight, as for {@link #tryOffer(Object, long)}
   * @param timed whether to give up at {@code deadline}
   * @param deadline when to give up, in the time source's nanoseconds (absolute, so the time spent
   *     before this call counts), if timed
   * @return {@link #OK}, {@link #FULL} (timed out) or {@link #CLOSED}
   * @throws InterruptedException if interrupted while waiting; the element was not added
   */
  public int put(Object e, long weight, boolean timed, long deadline) throws InterruptedException {
    int result = tryOffer(e, weight);
    if (result != FULL || (timed && deadline - time.nanoTime() <= 0)) {
      return result;
    }
    return putSlowly(e, weight, timed, deadline);
  }

  @SuppressWarnings("ThreadPriorityCheck") // lets the consumer run if it shares our processor
  private int putSlowly(Object e, long weight, boolean timed, long deadline)
      throws InterruptedException {
    // The consumer is usually mid-drain: a short spin, then yielding the processor, finds room
    // without a park/unpark round trip (which costs tens of microseconds). A full channel means
    // the hand-off is the bottleneck: mark it contended, so the consumer keeps polling instead of
    // parking while items keep coming. Bounded, so a stuck consumer costs nothing more.
    Ring r = ring();
    if (r.contended == 0) {
      CONTENDED.setOpaque(r, 1);
    }
    for (int spins = 0; spins < SPINS_BEFORE_PARK; spins++) {
      Thread.onSpinWait();
      int result = tryOffer(e, weight);
      if (result != FULL) {
        return result;
      }
    }
    long yieldUntil = System.nanoTime() + PRODUCER_YIELD_NANOS;
    do {
      Thread.yield();
      int result = tryOffer(e, weight);
      if (result != FULL) {
        return result;
      }
      if (timed && deadline - time.nanoTime() <= 0) {
        return FULL;
      }
    } while (System.nanoTime() - yieldUntil < 0 && !Thread.currentThread().isInterrupted());
    Thread me = Thread.currentThread();
    BLOCKED.getAndAdd(r, 1);
    parked.add(me);
    try {
      for (; ; ) {
        int result = tryOffer(e, weight);
        if (result != FULL) {
          return result;
        }
        if (Thread.interrupted()) {
          throw new InterruptedException();
        }
        if (timed) {
          if (deadline - time.nanoTime() <= 0) {
            return FULL;
          }
          time.parkUntil(this, deadline);
        } else {
          time.park(this);
        }
      }
    } finally {
      parked.remove(me);
      BLOCKED.getAndAdd(r, -1);
    }
  }

  /**
   * Takes the next element. Consumer only.
   *
   * @return the next element, or null if the channel is empty
   */
  @SuppressWarnings("unchecked")
  public @Nullable E poll() {
    Ring r = consumerRing();
    long c = r.cursor;
    int slot = (int) (c & mask);
    Object e = SLOTS.getAcquire(r.slots, slot);
    if (e == null) {
      if (c >= (r.producerIndex & INDEX_MASK)) {
        return null;
      }
      e = awaitPublication(r.slots, slot);
    }
    long[] w = r.weights;
    if (w != null) {
      r.lastWeight = w[slot];
    }
    SLOTS.setOpaque(r.slots, slot, null);
    r.cursor = c + 1;
    if (c + 1 - r.published >= publishEvery) {
      r.published = c + 1;
      CONSUMER_INDEX.setRelease(r, c + 1);
    }
    return (E) e;
  }

  /**
   * Publishes the slots the consumer emptied, without waking anyone: before a call of user code
   * that may block. Consumer only.
   */
  public void releaseSlots() {
    publish(consumerRing());
  }

  /** Publishes the slots the consumer emptied, so producers may reuse them. Consumer only. */
  private static void publish(Ring r) {
    long c = r.cursor;
    if (r.published != c) {
      r.published = c;
      CONSUMER_INDEX.setRelease(r, c);
    }
  }

  /**
   * Returns the weight offered with the element the last {@link #poll()} returned. Consumer only.
   *
   * @return the weight, or 0 for an unweighted channel
   */
  public long lastWeight() {
    Ring r = consumerRing;
    return r == null ? 0L : r.lastWeight;
  }

  // A producer between its claim and its store is a few instructions (and perhaps a cache miss on
  // the weights) from publishing: spin for it; only a descheduled one is worth a yield.
  @SuppressWarnings("ThreadPriorityCheck")
  private Object awaitPublication(@Nullable Object[] ring, int slot) {
    for (int spins = 0; ; spins++) {
      Object e = SLOTS.getAcquire(ring, slot);
      if (e != null) {
        return e;
      }
      if (spins < 1024) {
        Thread.onSpinWait();
      } else {
        Thread.yield();
      }
    }
  }

  /**
   * Wakes the producers parked on a full channel, if any. Consumer only; call after freeing slots and
   * before anything slow.
   */
  public void signalProducers() {
    Ring r = consumerRing();
    publish(r);
    VarHandle.fullFence();
    if (r.blockedProducers != 0) {
      parked.unparkAll();
    }
  }

  /**
   * Parks the consumer until at least {@code minItems} items are waiting, the channel is closed, the
   * timeout passes, or spuriously. Consumer only.
   *
   * @param minItems how many waiting items make a wake-up worth it, in {@code [1, bound]}
   * @param timed whether to give up at {@code deadline}
   * @param deadline when to stop waiting, in the time source's nanoseconds, if timed
   */
  public void await(int minItems, boolean timed, long deadline) {
    signalProducers(); // a producer may wait for the last slots taken
    Ring r = consumerRing();
    long c = r.cursor;
    long target = c + minItems;
    for (int spins = 0; spins < SPINS_BEFORE_PARK; spins++) {
      long p = r.producerIndex;
      if (p < 0 || p >= target || r.heavyAt > c) {
        return;
      }
      Thread.onSpinWait();
    }
    if (r.contended != 0 && pollWhileContended(r, c)) {
      return;
    }
    WAKE_AT.setVolatile(r, target);
    long p = r.producerIndex;
    if (p >= 0 && p < target && r.heavyAt <= c) {
      if (timed) {
        time.parkUntil(this, deadline);
      } else {
        time.park(this);
      }
    }
    WAKE_AT.setOpaque(r, NOT_WAITING);
  }

  /**
   * Says which weight the consumer's next wait expects at most: a producer whose element is heavier
   * wakes it at once. Consumer only, before {@link #await}; hinted channels only.
   *
   * @param maxWeight the heaviest element that cannot end the wait before its target count
   */
  public void expect(long maxWeight) {
    Ring r = consumerRing();
    if (r.expected != maxWeight) {
      EXPECTED.setRelease(r, maxWeight);
    }
  }

  /**
   * Producers found the channel full lately: while items keep coming, wait for the next one without
   * parking (a park costs the producers a wake-up of this thread, the hand-off's bottleneck). Once
   * none came for {@link #CONSUMER_POLL_NANOS}, the channel is no longer contended.
   *
   * @return true if an item arrived or the channel closed
   */
  @SuppressWarnings("ThreadPriorityCheck") // lets producers or flushes on this carrier run
  private static boolean pollWhileContended(Ring r, long c) {
    long until = System.nanoTime() + CONSUMER_POLL_NANOS;
    do {
      for (int spins = 0; spins < SPINS_BEFORE_PARK; spins++) {
        long p = r.producerIndex;
        if (p < 0 || p > c) {
          return true;
        }
        Thread.onSpinWait();
      }
      Thread.yield();
    } while (System.nanoTime() - until < 0);
    CONTENDED.setOpaque(r, 0);
    return false;
  }

  /**
   * Closes the channel: later offers return {@link #CLOSED}; parked producers and the consumer wake.
   *
   * @return true if this call closed it, false if it was already closed
   */
  public boolean close() {
    long before = (long) PRODUCER_INDEX.getAndBitwiseOr(ring(), CLOSED_BIT);
    parked.unparkAll();
    wakeConsumer();
    return before >= 0;
  }

  /**
   * Returns whether {@link #close()} was called.
   *
   * @return true once closed
   */
  public boolean isClosed() {
    Ring r = ring;
    return r != null && r.producerIndex < 0;
  }

  /**
   * Returns how many items wait in the channel: a snapshot, for monitoring.
   *
   * @return the number of waiting items, in {@code [0, bound]}
   */
  public int size() {
    Ring r = ring;
    if (r == null) {
      return 0;
    }
    long c = r.consumerIndex;
    long p = r.producerIndex & INDEX_MASK;
    return (int) Math.max(0, Math.min(bound, p - c));
  }

  /**
   * Returns how many items were ever accepted.
   *
   * @return the number of successful offers
   */
  public long accepted() {
    Ring r = ring;
    return r == null ? 0L : r.producerIndex & INDEX_MASK;
  }

  /**
   * Returns how many producers wait for room now.
   *
   * @return a snapshot
   */
  public int blockedProducers() {
    Ring r = ring;
    return r == null ? 0 : (int) BLOCKED.getOpaque(r);
  }

}
