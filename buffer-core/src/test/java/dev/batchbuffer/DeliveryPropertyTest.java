package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.LongStream;
import software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The delivery contract under random combinations of what a buffer can be given: plain or keyed,
 * one to four flushes in flight, count, byte and custom limits, a memory bound, retry, circuit
 * breaker (waiting while open) and timeout middleware, a delivery timeout (random, a few times the linger), whole and partial failures,
 * callbacks that throw (onReject, onFlushError, the
 * listener, a weigher, a key's policy function), several producers mixing add/offer/submit and
 * flush(), close() or close(timeout), and an adaptive {@link FlowControl} with random limits,
 * factor and rate (its failures are then throttling errors, which cut it); keyed buffers also get
 * a random per-key rate limit and a random pause mode for keys whose batch failed, with random
 * resume calls while producers run. Each seed checks, at the end:
 * <ul>
 *   <li>every accepted item ends in exactly one of delivered / failed / rejected / undelivered, as
 *       seen by the callbacks, the futures, CloseResult and the stats (the accounting identity);
 *       an expired item is a failed one (onFlushError, counted in failed), and no more items
 *       expire than the stats count (none without a delivery timeout);
 *   <li>flushes of one key never overlap (a plain buffer with maxInFlight > 1 may overlap), and a producer's items of one key reach the flush
 *       function in the order it added them (for a plain buffer, with one flush in flight);
 *   <li>a flush() future completes only after every item its producer added before it is settled
 *       (or fails with KEY_PAUSED while items of a paused key wait), and never succeeds when one
 *       of those items failed or was given up.
 * </ul>
 * Seeded: a failure names its seed. {@code -Dbatchbuffer.propertySeeds=N} runs N seeds.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DeliveryPropertyTest {

  static LongStream seeds() {
    return LongStream.rangeClosed(1, Long.getLong("batchbuffer.propertySeeds", 40));
  }

  /** What one seed chose, printed with a failure. */
  record Scenario(long seed, boolean keyed, int keys, int maxInFlight, int capacity, int chanSize,
      boolean bytes, boolean canAdd, boolean memory, boolean retry, boolean timeout,
      boolean throwingCallbacks, int producers, int itemsPerProducer, int closeMillis,
      int deadlineMillis, @Nullable FlowControl flow, long keyRate, @Nullable PauseMode pause,
      boolean breaker) {
    static Scenario of(long seed) {
      SplittableRandom r = new SplittableRandom(seed);
      // The deadline is drawn from a random of its own, so each seed keeps its earlier choices.
      SplittableRandom d = new SplittableRandom(seed * 17 + 3);
      boolean keyed = r.nextBoolean();
      Scenario s = new Scenario(seed, keyed, 1 + r.nextInt(5), 1 + r.nextInt(4),
          1 + r.nextInt(20), 1 + r.nextInt(40), r.nextBoolean(), r.nextInt(3) == 0,
          r.nextInt(3) == 0, r.nextBoolean(), r.nextInt(3) == 0, r.nextBoolean(),
          1 + r.nextInt(3), 100 + r.nextInt(400), r.nextInt(3) == 0 ? 1 + r.nextInt(20) : 0,
          d.nextBoolean() ? 3 + d.nextInt(10) : 0, null, 0, null, d.nextInt(3) == 0);
      // Per-key limits and pausing come from a random of their own too.
      SplittableRandom k = new SplittableRandom(seed * 29 + 11);
      long keyRate = keyed && k.nextInt(3) == 0 ? 500 + k.nextInt(3_000) : 0;
      int pauseChoice = k.nextInt(3);
      PauseMode pause = !keyed || pauseChoice == 0 ? null
          : pauseChoice == 1 ? PauseMode.FAIL_FAST : PauseMode.WAIT;
      if (r.nextInt(3) != 0) { // drawn last, so the other choices of a seed stay what they were
        return new Scenario(seed, s.keyed(), s.keys(), s.maxInFlight(), s.capacity(),
            s.chanSize(), s.bytes(), s.canAdd(), s.memory(), s.retry(), s.timeout(),
            s.throwingCallbacks(), s.producers(), s.itemsPerProducer(), s.closeMillis(),
            s.deadlineMillis(), null, keyRate, pause, s.breaker());
      }
      int initial = 1 + r.nextInt(3);
      FlowControl.Builder flow = FlowControl.aimd().initialLimit(initial)
          .maxLimit(initial + r.nextInt(4)).increase(1 + r.nextInt(2))
          .decreaseFactor(0.3 + r.nextInt(6) / 10.0);
      if (r.nextBoolean()) { // fast enough that the whole run stays short
        double rate = 20_000 + r.nextInt(80_000);
        flow.itemsPerSecond(rate, rate / 4, rate * 2, rate / 10);
      }
      // FlowControl's maximum takes the place of maxInFlight, which stays 1.
      return new Scenario(seed, s.keyed(), s.keys(), 1, s.capacity(), s.chanSize(), s.bytes(),
          s.canAdd(), s.memory(), s.retry(), s.timeout(), s.throwingCallbacks(), s.producers(),
          s.itemsPerProducer(), s.closeMillis(), s.deadlineMillis(), flow.build(), keyRate, pause,
          s.breaker());
    }

    /** Whether flushes of the plain buffer never overlap, so its order is checked too. */
    boolean sequential() {
      FlowControl f = flow;
      return maxInFlight == 1 && (f == null || f.maxLimit() == 1);
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void everyAcceptedItemEndsInExactlyOneOutcomeAndKeysNeverOverlap(long seed) throws Exception {
    Scenario sc = Scenario.of(seed);
    String why = sc.toString();
    SplittableRandom backendRandom = new SplittableRandom(seed * 31 + 7);
    Queue<Long> delivered = new ConcurrentLinkedQueue<>();
    Queue<Long> failed = new ConcurrentLinkedQueue<>();
    Queue<Long> rejected = new ConcurrentLinkedQueue<>();
    Queue<String> violations = new ConcurrentLinkedQueue<>();
    Map<Long, AtomicInteger> running = new ConcurrentHashMap<>();
    Map<Long, Long> lastSeen = new ConcurrentHashMap<>();
    AtomicInteger callbackThrows = new AtomicInteger();

    // The backend: random whole and partial failures; records what it accepted.
    FlushFunc<Long> backend = batch -> {
      int roll;
      synchronized (backendRandom) {
        roll = backendRandom.nextInt(12);
      }
      if (roll == 0) {
        throw sc.flow() != null ? new ProvisionedThroughputExceededException()
            : new IOException("whole batch failed");
      }
      if (roll <= 2 && batch.size() > 1) {
        List<Integer> bad = new ArrayList<>();
        for (int i = 0; i < batch.size(); i++) {
          if (i % 2 == 0) {
            bad.add(i);
          } else {
            delivered.add(batch.get(i));
          }
        }
        throw new PartialFlushException(bad, sc.flow() != null
            ? new ProvisionedThroughputExceededException()
            : new IOException("some entries throttled"));
      }
      delivered.addAll(batch);
    };
    FlushFunc<Long> inner = backend;
    if (sc.retry()) {
      inner = FlushMiddleware.chain(inner, FlushMiddleware.retry(RetryPolicy.builder()
          .maxAttempts(2).backoff(Duration.ZERO, Duration.ZERO).build(), TimeSource.system()));
    }
    if (sc.breaker()) { // waits while open: with a deadline, no longer than it
      inner = FlushMiddleware.chain(inner, FlushMiddleware.circuitBreaker(2,
          Duration.ofMillis(2), true, TimeSource.system()));
    }
    if (sc.timeout()) {
      inner = FlushMiddleware.chain(inner,
          FlushMiddleware.timeout(Duration.ofHours(1), TimeSource.system()));
    }
    FlushFunc<Long> middle = inner;
    // The outermost layer watches overlap and order per key (the whole buffer is one key).
    KeyedFlushFunc<Long, Long> watched = (key, batch) -> {
      AtomicInteger now = running.computeIfAbsent(key, k -> new AtomicInteger());
      if (now.incrementAndGet() > 1 && (sc.keyed() || sc.sequential())) {
        violations.add("two flushes of key " + key + " at once");
      }
      if (sc.keyed() || sc.sequential()) {
        // A producer's items of one key reach the flush function in the order it added them.
        for (long item : batch) {
          Long previous = lastSeen.put(key * 1_000 + item / 1_000_000, item);
          if (previous != null && previous >= item) {
            violations.add("key " + key + ": item " + item + " flushed after " + previous);
          }
        }
      }
      try {
        middle.flush(batch);
      } finally {
        now.decrementAndGet();
      }
    };

    FlushPolicy<Long> policy = FlushPolicy.count(sc.capacity());
    if (sc.bytes()) {
      policy = policy.or(FlushPolicy.bytes(item -> {
        if (sc.throwingCallbacks() && item % 97 == 5) {
          throw new IllegalStateException("weigher fails on " + item);
        }
        return item % 7 + 1;
      }, 6 + sc.capacity()));
    }
    if (sc.canAdd()) {
      policy = FlushPolicy.anyOf(policy, FlushPolicy.custom((b, item) -> false,
          (b, item) -> item % 11 != 3, b -> false));
    }
    java.util.function.Consumer<Long> onReject = item -> {
      rejected.add(item);
      if (sc.throwingCallbacks() && item % 2 == 0) {
        callbackThrows.incrementAndGet();
        throw new IllegalStateException("onReject fails");
      }
    };
    java.util.function.BiConsumer<Exception, List<Long>> onFlushError = (e, items) -> {
      if (e instanceof PartialFlushException p) {
        if (!p.failedItems(items).equals(items)) {
          violations.add("onFlushError's exception does not index its list: " + p.failedIndexes()
              + " vs " + items.size());
        }
      }
      failed.addAll(items);
      if (sc.throwingCallbacks() && items.get(0) % 3 == 0) {
        callbackThrows.incrementAndGet();
        throw new IllegalStateException("onFlushError fails");
      }
    };
    BufferListener<Object> listener = new BufferListener<>() {
      @Override
      public void flushed(FlushInfo info) {
        if (sc.throwingCallbacks()) {
          throw new IllegalStateException("listener fails");
        }
      }
    };
    AtomicReference<@Nullable KeyedBuffer<Long, Long>> keyedBuffer = new AtomicReference<>();
    BufferFace<Long> target = sc.keyed()
        ? keyed(sc, watched, policy, onReject, onFlushError, listener, keyedBuffer)
        : plain(sc, watched, policy, onReject, onFlushError, listener);
    // Random resume calls while the producers run (a paused WAIT key would hold its items).
    AtomicBoolean producing = new AtomicBoolean(true);
    KeyedBuffer<Long, Long> pausing = sc.pause() == null ? null : keyedBuffer.get();
    CompletableFuture<Void> resumer = pausing == null ? CompletableFuture.completedFuture(null)
        : CompletableFuture.runAsync(() -> {
          SplittableRandom rr = new SplittableRandom(seed * 17 + 3);
          while (producing.get()) {
            for (Long key : pausing.pausedKeys()) {
              if (rr.nextBoolean()) {
                pausing.resume(key);
              }
            }
            LockSupport.parkNanos(200_000); // pacing between rounds, not a wait for a condition
          }
        }, Async.VIRTUAL);

    // Producers: each owns a range of items, mixes add/offer/submit and sometimes flush().
    Map<Long, CompletableFuture<Void>> futures = new ConcurrentHashMap<>();
    Queue<Long> accepted = new ConcurrentLinkedQueue<>();
    List<CompletableFuture<Void>> producers = new ArrayList<>();
    Queue<CompletableFuture<Void>> flushChecks = new ConcurrentLinkedQueue<>();
    for (int p = 0; p < sc.producers(); p++) {
      long base = (long) p * 1_000_000;
      SplittableRandom pr = new SplittableRandom(seed * 131 + p);
      producers.add(CompletableFuture.runAsync(() -> {
        List<CompletableFuture<Void>> mine = new ArrayList<>();
        try {
          for (long i = base; i < base + sc.itemsPerProducer(); i++) {
            int how = pr.nextInt(10);
            if (how < 5) {
              CompletableFuture<Void> f = target.submit(i);
              futures.put(i, f);
              mine.add(f);
              accepted.add(i);
            } else if (how < 8) {
              target.add(i);
              accepted.add(i);
            } else if (target.offer(i)) {
              accepted.add(i);
            }
            if (pr.nextInt(50) == 0) {
              List<CompletableFuture<Void>> before = List.copyOf(mine); // since its last flush()
              mine.clear();
              CompletableFuture<Void> flushed = target.flush();
              flushChecks.add(flushed.whenComplete((v, e) -> {
                for (CompletableFuture<Void> f : before) {
                  if (!f.isDone() && !isKeyPaused(e)) {
                    violations.add("flush() completed before an item added ahead of it settled");
                  } else if (e == null && f.isCompletedExceptionally() && !isRejected(f)
                      && sc.producers() == 1) { // each failure is told to one flush() only
                    violations.add("flush() succeeded though an item ahead of it was not delivered");
                  }
                }
              }));
            }
          }
        } catch (IllegalStateException closed) {
          // a producer racing close: its item was not accepted
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          violations.add("producer interrupted");
        }
      }, Async.VIRTUAL));
    }
    CompletableFuture.allOf(producers.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
    producing.set(false);
    resumer.get(30, TimeUnit.SECONDS);
    CloseResult<Long> result;
    if (sc.closeMillis() > 0) {
      result = target.close(Duration.ofMillis(sc.closeMillis()));
    } else {
      target.close();
      result = new CloseResult<>(true, List.of(), false);
    }

    // Futures: each says exactly the bucket the callbacks put its item in.
    Map<Long, DeliveryException.Reason> outcome = new java.util.HashMap<>();
    for (Map.Entry<Long, CompletableFuture<Void>> e : futures.entrySet()) {
      try {
        e.getValue().get(30, TimeUnit.SECONDS);
      } catch (ExecutionException ex) {
        DeliveryException d = (DeliveryException) Objects.requireNonNull(ex.getCause());
        outcome.put(e.getKey(), d.reason());
      }
    }
    for (CompletableFuture<Void> check : flushChecks) {
      check.handle((v, e) -> null).get(30, TimeUnit.SECONDS); // each flush() future completed
    }
    assertThat(violations).as(why).isEmpty();
    List<Long> settled = new ArrayList<>(delivered);
    settled.addAll(failed);
    settled.addAll(rejected);
    settled.addAll(result.undelivered());
    Collections.sort(settled);
    List<Long> acceptedSorted = new ArrayList<>(accepted);
    Collections.sort(acceptedSorted);
    assertThat(settled).as(why + ": every accepted item exactly once").isEqualTo(acceptedSorted);
    for (Map.Entry<Long, CompletableFuture<Void>> e : futures.entrySet()) {
      long item = e.getKey();
      DeliveryException.Reason r = outcome.get(item);
      String bucket = r == null ? "delivered" : r.name();
      boolean inBucket = switch (bucket) {
        case "delivered" -> delivered.contains(item);
        case "FAILED", "EXPIRED", "KEY_PAUSED" -> failed.contains(item);
        case "REJECTED" -> rejected.contains(item);
        default -> result.undelivered().contains(item);
      };
      assertThat(inBucket).as(why + ": item " + item + "'s future says " + bucket).isTrue();
    }
    BufferStats s = target.stats();
    assertThat(s.accepted()).as(why).isEqualTo(accepted.size());
    assertThat(s.flushed()).as(why).isEqualTo(delivered.size());
    assertThat(s.failed()).as(why).isEqualTo(failed.size());
    assertThat(s.rejected()).as(why).isEqualTo(rejected.size());
    assertThat(s.undelivered()).as(why).isEqualTo(result.undelivered().size());
    assertThat(s.state()).as(why).isEqualTo(BufferStats.State.CLOSED);
    long expiredFutures = outcome.values().stream()
        .filter(r -> r == DeliveryException.Reason.EXPIRED).count();
    assertThat(s.expired()).as(why + ": expired items are failed ones").isLessThanOrEqualTo(
        s.failed()).isGreaterThanOrEqualTo(expiredFutures);
    if (sc.deadlineMillis() == 0) {
      assertThat(s.expired()).as(why).isZero();
    }
    FlowControl flow = sc.flow();
    if (flow != null) {
      assertThat(s.concurrencyLimit()).as(why).isBetween(flow.minLimit(), flow.maxLimit());
    }
  }

  private static boolean isKeyPaused(@Nullable Throwable e) {
    return e instanceof DeliveryException d && d.reason() == DeliveryException.Reason.KEY_PAUSED;
  }

  private static boolean isRejected(CompletableFuture<Void> f) {
    try {
      f.join();
      return false;
    } catch (java.util.concurrent.CompletionException e) {
      return e.getCause() instanceof DeliveryException d
          && d.reason() == DeliveryException.Reason.REJECTED;
    }
  }

  private static BufferFace<Long> plain(Scenario sc, KeyedFlushFunc<Long, Long> flush,
      FlushPolicy<Long> policy, java.util.function.Consumer<Long> onReject,
      java.util.function.BiConsumer<Exception, List<Long>> onFlushError,
      BufferListener<Object> listener) {
    Options.Builder<Long> options = Options.<Long>builder().maxInFlight(sc.maxInFlight())
        .listener(listener);
    if (sc.deadlineMillis() > 0) {
      options.deliveryTimeout(Duration.ofMillis(sc.deadlineMillis()));
    }
    FlowControl flow = sc.flow();
    if (flow != null) {
      options.flowControl(flow);
    }
    if (sc.memory()) {
      options.maxBufferedBytes(item -> item % 5 + 1, 40);
    }
    Buffer<Long> b = Buffer.start(Config.<Long>builder(batch -> flush.flush(0L, batch))
        .policy(policy).chanSize(sc.chanSize()).flushInterval(Duration.ofMillis(2))
        .onReject(onReject).onFlushError(onFlushError).build(), options.build());
    return BufferFace.of(b, sc.toString());
  }

  private static BufferFace<Long> keyed(Scenario sc, KeyedFlushFunc<Long, Long> flush,
      FlushPolicy<Long> policy, java.util.function.Consumer<Long> onReject,
      java.util.function.BiConsumer<Exception, List<Long>> onFlushError,
      BufferListener<Object> listener,
      AtomicReference<@Nullable KeyedBuffer<Long, Long>> started) {
    KeyedBuffer.Builder<Long, Long> builder = KeyedBuffer.<Long, Long>builder(
            item -> item % sc.keys(), flush)
        .policy(key -> {
          if (sc.throwingCallbacks() && key == 4) {
            throw new IllegalStateException("no policy for key 4");
          }
          return policy;
        })
        .chanSize(sc.chanSize()).flushInterval(Duration.ofMillis(2)).maxInFlight(sc.maxInFlight())
        .maxKeys(Math.max(1, sc.keys() - 1)).onReject(onReject).onFlushError(onFlushError)
        .listener(listener);
    if (sc.memory()) {
      builder.maxBufferedBytes(item -> item % 5 + 1, 40);
    }
    if (sc.deadlineMillis() > 0) {
      builder.deliveryTimeout(Duration.ofMillis(sc.deadlineMillis()));
    }
    FlowControl flow = sc.flow();
    if (flow != null) {
      builder.flowControl(flow);
    }
    if (sc.keyRate() > 0) {
      builder.keyRateLimit(sc.keyRate());
    }
    PauseMode pause = sc.pause();
    if (pause != null) {
      builder.pauseKeyOnFailure(pause);
    }
    KeyedBuffer<Long, Long> b = builder.start();
    started.set(b);
    return BufferFace.of(b, sc.toString());
  }
}
