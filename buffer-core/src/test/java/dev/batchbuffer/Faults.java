package dev.batchbuffer;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Fault injection for {@link FaultInjectionTest} and {@link SoakTest}: items that carry the fault
 * the buffer must meet when it handles them, a backend and callbacks that inject those faults, the
 * two kinds of buffer behind one face, and {@link Outcomes}, which checks that every accepted item
 * ended in exactly one reported place and that futures and {@code stats()} agree.
 */
final class Faults {
  private Faults() {}

  /** What an item does to the buffer: the first faulty item of a batch decides its flush call. */
  enum Fault {
    /** Nothing. */
    NONE,
    /** The flush throws an {@link IOException}. */
    CHECKED,
    /** The flush throws an {@link IllegalStateException}. */
    UNCHECKED,
    /** The flush throws an {@link AssertionError}: an {@link Error} that is not fatal. */
    ERROR,
    /** The first call that holds this item throws an {@link IOException}; later calls succeed. */
    TRANSIENT,
    /** The flush delivers the batch except its PARTIAL items, which it names as failed. */
    PARTIAL,
    /** The flush names an index outside its batch: the whole batch counts as failed. */
    PARTIAL_OUT_OF_RANGE,
    /** The flush takes a while (answering an interrupt), then succeeds. */
    SLOW,
    /** The flush waits until it is interrupted, then throws {@link InterruptedException}. */
    HANG,
    /** {@code canAdd} refuses the item: it goes to onReject. */
    REFUSED,
    /** {@code canAdd} throws for the item: it goes to onReject. */
    CAN_ADD_THROWS,
    /** The batch policy's weigher throws for the item: it goes to onReject. */
    WEIGHER_THROWS,
    /** A keyed buffer's key function throws for the item: it goes to onReject. */
    KEY_THROWS;

    /** Faults a flush call shows. */
    static final List<Fault> OF_FLUSH = List.of(CHECKED, UNCHECKED, ERROR, TRANSIENT, PARTIAL,
        PARTIAL_OUT_OF_RANGE, SLOW, HANG);
    /** Faults of the callbacks that judge an item. */
    static final List<Fault> OF_CALLBACKS = List.of(REFUSED, CAN_ADD_THROWS, WEIGHER_THROWS,
        KEY_THROWS);
  }

  /**
   * An item: who made it, its number, its fault and a payload (whose length is its weight). Equal
   * by {@link #id()} alone; the payload is never copied.
   */
  static final class Item {
    final int producer;
    final int seq;
    final Fault fault;
    final byte[] payload;

    Item(int producer, int seq, Fault fault, int bytes) {
      this.producer = producer;
      this.seq = seq;
      this.fault = fault;
      this.payload = new byte[bytes];
    }

    long id() {
      return ((long) producer << 32) | (seq & 0xFFFF_FFFFL);
    }

    long weight() {
      return payload.length;
    }

    /** A producer's items share a key. */
    int key(int keys) {
      return Math.floorMod(producer, keys);
    }

    @Override
    public boolean equals(@Nullable Object o) {
      return o instanceof Item other && other.id() == id();
    }

    @Override
    public int hashCode() {
      return Long.hashCode(id());
    }

    @Override
    public String toString() {
      return "p" + producer + "-" + seq + (fault == Fault.NONE ? "" : ":" + fault);
    }
  }

  /**
   * The backend: a flush function that injects the fault its batch carries (unless {@link #healthy}
   * is set), records by id what it delivered, and counts the faults it injected. Its slow and hung
   * calls answer interrupts at once.
   */
  static final class Backend {
    final Map<Long, AtomicInteger> delivered = new ConcurrentHashMap<>();
    final AtomicLong deliveredCount = new AtomicLong();
    final Map<Fault, AtomicLong> injected = new ConcurrentHashMap<>();
    /** Every Error it threw, by identity. */
    final Set<Throwable> errorsThrown = ConcurrentHashMap.newKeySet();
    private final Set<Long> transientSeen = ConcurrentHashMap.newKeySet();
    /** Set when the fault phase ends: every later call succeeds at once. */
    volatile boolean healthy;
    /** Counted down by every call as it starts. */
    final java.util.concurrent.CountDownLatch entered = new java.util.concurrent.CountDownLatch(1);
    /** Every call waits for it (interruptibly) before it does anything else. */
    volatile java.util.concurrent.CountDownLatch hold = new java.util.concurrent.CountDownLatch(0);
    final long slowNanos;

    Backend(Duration slow) {
      this.slowNanos = slow.toNanos();
    }

    void flush(List<Item> batch) throws Exception {
      entered.countDown();
      hold.await();
      Fault fault = Fault.NONE;
      if (!healthy) {
        for (Item item : batch) {
          if (Fault.OF_FLUSH.contains(item.fault)) {
            fault = item.fault;
            break;
          }
        }
      }
      if (fault != Fault.NONE) {
        count(injected, fault);
      }
      switch (fault) {
        case CHECKED -> throw new IOException("injected: backend down");
        case UNCHECKED -> throw new IllegalStateException("injected: client bug");
        case ERROR -> {
          AssertionError error = new AssertionError("injected: an Error from the flush");
          errorsThrown.add(error);
          throw error;
        }
        case TRANSIENT -> {
          for (Item item : batch) {
            if (item.fault == Fault.TRANSIENT && transientSeen.add(item.id())) {
              throw new IOException("injected: transient failure");
            }
          }
        }
        case PARTIAL -> {
          List<Integer> failed = new ArrayList<>();
          List<Item> ok = new ArrayList<>();
          for (int i = 0; i < batch.size(); i++) {
            if (batch.get(i).fault == Fault.PARTIAL) {
              failed.add(i);
            } else {
              ok.add(batch.get(i));
            }
          }
          deliver(ok);
          throw new PartialFlushException(failed, new IOException("injected: throttled entries"));
        }
        case PARTIAL_OUT_OF_RANGE -> throw new PartialFlushException(List.of(batch.size()),
            new IOException("injected: a bad index"));
        case SLOW -> pause(slowNanos);
        case HANG -> {
          for (; ; ) {
            LockSupport.park(this); // nobody unparks it: only an interrupt ends the call
            if (Thread.interrupted()) {
              throw new InterruptedException("injected: a hung call, interrupted");
            }
          }
        }
        default -> { }
      }
      deliver(batch);
    }

    private void deliver(List<Item> items) {
      for (Item item : items) {
        delivered.computeIfAbsent(item.id(), k -> new AtomicInteger()).incrementAndGet();
      }
      deliveredCount.addAndGet(items.size());
    }

    /** A slow backend call (not a wait for a condition); an interrupt ends it with a failure. */
    static void pause(long nanos) throws InterruptedException {
      long deadline = System.nanoTime() + nanos;
      for (long left = nanos; left > 0; left = deadline - System.nanoTime()) {
        LockSupport.parkNanos(left);
        if (Thread.interrupted()) {
          throw new InterruptedException("injected: a slow call, interrupted");
        }
      }
    }
  }

  static <K> void count(Map<K, AtomicLong> counters, K key) {
    counters.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
  }

  /** Middleware chains in front of the backend. */
  enum Middleware {
    NONE,
    RETRY,
    RETRY_TIMEOUT,
    BREAKER_RETRY_TIMEOUT;

    boolean times() {
      return this == RETRY_TIMEOUT || this == BREAKER_RETRY_TIMEOUT;
    }

    /** The chain: breaker outermost, retry, timeout innermost (per attempt). */
    FlushFunc<Item> wrap(FlushFunc<Item> backend, Duration timeout, boolean waitWhileOpen) {
      TimeSource time = TimeSource.system();
      FlushMiddleware<Item> retry = FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(3)
          .backoff(Duration.ofMillis(1), Duration.ofMillis(2)).build(), time);
      return switch (this) {
        case NONE -> backend;
        case RETRY -> FlushMiddleware.chain(backend, retry);
        case RETRY_TIMEOUT -> FlushMiddleware.chain(backend, retry,
            FlushMiddleware.timeout(timeout, time));
        case BREAKER_RETRY_TIMEOUT -> FlushMiddleware.chain(backend,
            FlushMiddleware.circuitBreaker(3, Duration.ofMillis(10), waitWhileOpen, time), retry,
            FlushMiddleware.timeout(timeout, time));
      };
    }
  }

  /**
   * How a buffer under test is made.
   *
   * @param keyed a {@link KeyedBuffer} (4 keys) or a {@link Buffer}
   * @param maxInFlight flushes at once
   * @param capacity items per batch (or bytes per batch, {@code capacity * itemBytes}, if
   *     {@code bytePolicy})
   * @param chanSize the channel
   * @param bytePolicy batches end by bytes (the policy's weigher) instead of count
   * @param maxBufferedBytes the memory bound, or 0 for none
   * @param linger the flush interval
   * @param middleware in front of the backend
   * @param waitWhileOpen the breaker's choice
   * @param throwingCallbacks onReject, onFlushError, the listener and periodic tasks throw (after
   *     they recorded what they heard)
   * @param itemBytes the payload of an item, for the byte policy
   */
  record Setup(boolean keyed, int maxInFlight, int capacity, int chanSize, boolean bytePolicy,
      long maxBufferedBytes, Duration linger, Middleware middleware, boolean waitWhileOpen,
      boolean throwingCallbacks, int itemBytes) {
    static final Duration TIMEOUT = Duration.ofMillis(100);
    static final int KEYS = 4;
  }

  /** Starts a buffer made as {@code setup} says, wired to {@code backend} and {@code outcomes}. */
  static BufferFace<Item> start(Setup setup, Backend backend, Outcomes outcomes) {
    FlushFunc<Item> flush = setup.middleware().wrap(backend::flush, Setup.TIMEOUT,
        setup.waitWhileOpen());
    boolean throwing = setup.throwingCallbacks();
    Weigher<Item> weigher = item -> {
      if (item.fault == Fault.WEIGHER_THROWS) {
        throw new IllegalStateException("injected: cannot weigh " + item);
      }
      return item.weight();
    };
    FlushPolicy<Item> policy = (setup.bytePolicy()
        ? FlushPolicy.bytes(weigher, (long) setup.capacity() * Math.max(1, setup.itemBytes()))
        : FlushPolicy.<Item>count(setup.capacity()).or(FlushPolicy.bytes(weigher, 1L << 50)))
        .or(FlushPolicy.custom((batch, item) -> false, (batch, item) -> {
          if (item.fault == Fault.CAN_ADD_THROWS) {
            throw new IllegalStateException("injected: canAdd threw for " + item);
          }
          return item.fault != Fault.REFUSED;
        }, batch -> false));
    BufferListener<Item> listener = new BufferListener<>() {
      private void maybeThrow(String what) {
        if (throwing) {
          throw new IllegalStateException("injected: the listener's " + what + " threw");
        }
      }

      @Override
      public void flushed(FlushInfo info) {
        maybeThrow("flushed");
      }

      @Override
      public void flushFailed(FlushInfo info, Throwable error) {
        maybeThrow("flushFailed");
      }

      @Override
      public void rejected(String buffer, Item item) {
        maybeThrow("rejected");
      }

      @Override
      public void producerBlocked(String buffer) {
        maybeThrow("producerBlocked");
      }

      @Override
      public void producerUnblocked(String buffer, Duration waited) {
        maybeThrow("producerUnblocked");
      }

      @Override
      public void closed(BufferStats stats) {
        outcomes.closed.countDown();
        maybeThrow("closed");
      }
    };
    PeriodicTask task = () -> {
      if (throwing) {
        throw new IOException("injected: a periodic task failed");
      }
    };
    Duration period = Duration.ofMillis(5);
    if (setup.keyed()) {
      KeyedBuffer.Builder<Integer, Item> b = KeyedBuffer.<Integer, Item>builder(item -> {
            if (item.fault == Fault.KEY_THROWS) {
              throw new IllegalStateException("injected: no key for " + item);
            }
            return item.key(Setup.KEYS);
          }, (key, batch) -> flush.flush(batch))
          .policy(policy).flushInterval(setup.linger()).chanSize(setup.chanSize())
          .maxInFlight(setup.maxInFlight())
          .onReject(item -> outcomes.rejected(item, throwing))
          .onFlushError((e, batch) -> outcomes.failed(e, batch, throwing))
          .listener(listener).periodic(period, task).periodicAsync(period, task);
      if (setup.maxBufferedBytes() > 0) {
        b = b.maxBufferedBytes(Item::weight, setup.maxBufferedBytes());
      }
      KeyedBuffer<Integer, Item> k = b.start();
      return BufferFace.of(k, setup.toString());
    }
    Config<Item> config = Config.builder(flush).policy(policy).flushInterval(setup.linger())
        .chanSize(setup.chanSize())
        .onReject(item -> outcomes.rejected(item, throwing))
        .onFlushError((e, batch) -> outcomes.failed(e, batch, throwing)).build();
    Options.Builder<Item> o = Options.<Item>builder().maxInFlight(setup.maxInFlight())
        .listener(listener).periodic(period, task).periodicAsync(period, task);
    if (setup.maxBufferedBytes() > 0) {
      o = o.maxBufferedBytes(Item::weight, setup.maxBufferedBytes());
    }
    Buffer<Item> b = Buffer.start(config, o.build());
    return BufferFace.of(b, setup.toString());
  }

  /**
   * Where every item went, by id: accepted by the buffer (the call returned normally), refused
   * (the call threw or returned false), failed (onFlushError), rejected (onReject), undelivered
   * (close(timeout)), with the future of each submitted item. The backend knows what it delivered.
   */
  static final class Outcomes {
    final Set<Long> accepted = ConcurrentHashMap.newKeySet();
    final Set<Long> refused = ConcurrentHashMap.newKeySet();
    final Map<Long, CompletableFuture<Void>> futures = new ConcurrentHashMap<>();
    final Queue<Long> failed = new ConcurrentLinkedQueue<>();
    final Queue<Long> rejected = new ConcurrentLinkedQueue<>();
    final Queue<Long> undelivered = new ConcurrentLinkedQueue<>();
    final Queue<Exception> flushErrors = new ConcurrentLinkedQueue<>();
    final Queue<CompletableFuture<Void>> flushes = new ConcurrentLinkedQueue<>();
    /** Accepted items by the fault they carry. */
    final Map<Fault, AtomicLong> acceptedFaults = new ConcurrentHashMap<>();
    final java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);

    void failed(Exception e, List<Item> batch, boolean thenThrow) {
      flushErrors.add(e);
      for (Item item : batch) {
        failed.add(item.id());
      }
      if (thenThrow) {
        throw new IllegalStateException("injected: onFlushError threw");
      }
    }

    void rejected(Item item, boolean thenThrow) {
      rejected.add(item.id());
      if (thenThrow) {
        throw new IllegalStateException("injected: onReject threw");
      }
    }

    void undelivered(List<Item> items) {
      for (Item item : items) {
        undelivered.add(item.id());
      }
    }

    /**
     * Checks, once the buffer's loop has ended and every flush settled: each accepted item is in
     * exactly one place (delivered once by the backend, failed, rejected or undelivered), no
     * refused item is anywhere, each future agrees with its item's place, each Error the backend
     * threw reached onFlushError once, wrapped in an ExecutionException, and {@code stats} agrees
     * with the counts.
     *
     * @return the violations, empty if none
     */
    List<String> violations(Backend backend, BufferStats stats) {
      List<String> out = new ArrayList<>();
      Map<Long, Integer> failedCount = counts(failed);
      Map<Long, Integer> rejectedCount = counts(rejected);
      Map<Long, Integer> undeliveredCount = counts(undelivered);
      for (long id : accepted) {
        int d = backend.delivered.getOrDefault(id, new AtomicInteger()).get();
        int f = failedCount.getOrDefault(id, 0);
        int r = rejectedCount.getOrDefault(id, 0);
        int u = undeliveredCount.getOrDefault(id, 0);
        if (d + f + r + u != 1) {
          out.add(name(id) + " delivered " + d + ", failed " + f + ", rejected " + r
              + ", undelivered " + u + " times");
          continue;
        }
        CompletableFuture<Void> future = futures.get(id);
        if (future != null) {
          String want = d == 1 ? "delivered" : f == 1 ? "FAILED" : r == 1 ? "REJECTED" : "UNDELIVERED";
          String got = outcomeOf(future);
          if (!want.equals(got)) {
            out.add(name(id) + " is " + want + " but its future says " + got);
          }
        }
      }
      for (long id : refused) {
        if (accepted.contains(id) || backend.delivered.containsKey(id) || failedCount.containsKey(id)
            || rejectedCount.containsKey(id) || undeliveredCount.containsKey(id)) {
          out.add(name(id) + " was refused to its producer yet reached the buffer");
        }
      }
      for (long id : backend.delivered.keySet()) {
        if (!accepted.contains(id)) {
          out.add(name(id) + " was delivered but never accepted");
        }
      }
      Set<Throwable> wrapped = ConcurrentHashMap.newKeySet();
      for (Exception e : flushErrors) {
        if (e instanceof ExecutionException && e.getCause() instanceof Error error) {
          if (!backend.errorsThrown.contains(error) || !wrapped.add(error)) {
            out.add("onFlushError got an unknown or repeated Error: " + error);
          }
        }
        if (e.getCause() instanceof Error && !(e instanceof ExecutionException)) {
          out.add("an Error reached onFlushError unwrapped: " + e);
        }
      }
      if (!wrapped.equals(backend.errorsThrown)) {
        out.add("Errors thrown by the flush " + backend.errorsThrown.size()
            + ", reaching onFlushError wrapped " + wrapped.size());
      }
      long pendingFlushes = flushes.stream().filter(f -> !f.isDone()).count();
      if (pendingFlushes != 0) {
        out.add(pendingFlushes + " flush() futures never completed");
      }
      long delivered = backend.deliveredCount.get();
      if (stats.accepted() != accepted.size() || stats.flushed() != delivered
          || stats.failed() != failed.size() || stats.rejected() != rejected.size()
          || stats.undelivered() != undelivered.size()
          || stats.itemsWaiting() != 0 || stats.itemsFlushing() != 0) {
        out.add("stats disagree: " + stats + "; seen accepted " + accepted.size() + ", delivered "
            + delivered + ", failed " + failed.size() + ", rejected " + rejected.size()
            + ", undelivered " + undelivered.size());
      }
      return out;
    }

    /** Items accepted that are not (yet) in any place. */
    long lost(Backend backend) {
      return accepted.size() - backend.deliveredCount.get() - failed.size() - rejected.size()
          - undelivered.size();
    }

    private static Map<Long, Integer> counts(Queue<Long> ids) {
      Map<Long, Integer> out = new java.util.HashMap<>();
      for (long id : ids) {
        out.merge(id, 1, Integer::sum);
      }
      return out;
    }

    private static String outcomeOf(CompletableFuture<Void> future) {
      try {
        future.get(0, TimeUnit.NANOSECONDS);
        return "delivered";
      } catch (ExecutionException e) {
        return e.getCause() instanceof DeliveryException d ? d.reason().name()
            : "failed with " + e.getCause();
      } catch (java.util.concurrent.TimeoutException e) {
        return "not done";
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return "interrupted";
      }
    }

    private static String name(long id) {
      return "p" + (id >>> 32) + "-" + (int) id;
    }
  }

  /** How a producer sends its items. */
  enum Call { ADD, SUBMIT, OFFER, TIMED_OFFER }

  static final List<Call> CALLS = List.of(Call.values());

  /**
   * One producer's run: items {@code 0..n-1} of producer {@code p}, each with a fault drawn by
   * {@code faults} and a payload of {@code bytes}, sent by a random call (and now and then a
   * {@code flush()}, whose future is kept in {@link Outcomes#flushes}). An item whose call returned
   * normally (true, for an offer) is accepted; one whose call threw {@link InterruptedException}
   * or the closed buffer's {@link IllegalStateException}, or returned false, is refused. Anything
   * else thrown (an injected callback failure reaching the producer, say) ends the run, and so
   * does the first refusal by a closed buffer.
   *
   * @return how many calls an interrupt ended
   */
  static int produce(BufferFace<Item> buffer, Outcomes out, int p, int n, SplittableRandom r,
      Function<SplittableRandom, Fault> faults, int bytes) {
    int interrupted = 0;
    for (int i = 0; i < n; i++) {
      Item item = new Item(p, i, faults.apply(r), bytes);
      Call call = CALLS.get(r.nextInt(CALLS.size()));
      try {
        if (r.nextInt(25) == 0) {
          out.flushes.add(buffer.flush());
        }
        boolean ok = switch (call) {
          case ADD -> {
            buffer.add(item);
            yield true;
          }
          case SUBMIT -> {
            out.futures.put(item.id(), buffer.submit(item));
            yield true;
          }
          case OFFER -> buffer.offer(item);
          case TIMED_OFFER -> buffer.offer(item, Duration.ofMillis(r.nextInt(5)));
        };
        (ok ? out.accepted : out.refused).add(item.id());
        if (ok && item.fault != Fault.NONE) {
          count(out.acceptedFaults, item.fault);
        }
      } catch (InterruptedException e) {
        interrupted++;
        out.refused.add(item.id());
      } catch (IllegalStateException e) {
        if (!isClosed(e)) {
          throw e;
        }
        out.refused.add(item.id());
        return interrupted; // closed for good: the rest would be refused the same way
      }
    }
    return interrupted;
  }

  /** Whether {@code e} is the closed buffer's refusal, not something else that went wrong. */
  static boolean isClosed(IllegalStateException e) {
    String m = String.valueOf(e.getMessage());
    return m.endsWith(" is closed") || m.endsWith(" stopped on a fatal error");
  }

  static void requireNoViolations(List<String> violations, String context) {
    if (!violations.isEmpty()) {
      throw new AssertionError(context + ": " + violations.size() + " violations, first "
          + violations.subList(0, Math.min(20, violations.size())));
    }
  }
}
