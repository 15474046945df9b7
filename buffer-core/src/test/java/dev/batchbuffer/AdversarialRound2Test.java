package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Round two of the adversarial review of the delivery layer. Each test is named after the
 * behaviour that should hold; its javadoc says what goes wrong today, or, for a test that passes,
 * what it covers that no other test does.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AdversarialRound2Test {
  static final Duration WAIT = Duration.ofSeconds(10);
  static final Duration HOURS = Duration.ofHours(1);

  static <T> BufferListener<T> onClosed(CountDownLatch closed) {
    return new BufferListener<>() {
      @Override
      public void closed(BufferStats stats) {
        closed.countDown();
      }
    };
  }

  /** Identity of the stats at a quiescent point. */
  static void assertIdentity(BufferStats s) {
    assertThat(s.accepted())
        .as("accepted == flushed + failed + rejected + undelivered + waiting + flushing: %s", s)
        .isEqualTo(s.flushed() + s.failed() + s.rejected() + s.undelivered() + s.itemsWaiting()
            + s.itemsFlushing());
  }

  // ---- stats ------------------------------------------------------------------------------------

  /**
   * README (Stats): "accepted never goes back" and the identity holds at any quiescent point.
   * A flush() request claims a channel slot first and is subtracted from the producer index
   * ({@code Telemetry.requested()}) only afterwards (Engine.flush). A stats() snapshot taken in
   * between (here from the listener's producerUnblocked, which runs in exactly that window; any
   * concurrent Micrometer scrape can hit it too) counts the request as an accepted item, and
   * {@code maxAccepted} latches that value: after close, a CLOSED buffer reports one item more
   * accepted than it ever took, and {@code itemsWaiting() == 1} forever.
   */
  @Test
  void aFlushRequestIsNeverCountedAsAnAcceptedItem() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    List<Long> seenAccepted = new CopyOnWriteArrayList<>();
    FlushFunc<String> flush = batch -> {
      if (batch.contains("a")) {
        inFlush.countDown();
        release.await();
      }
    };
    Buffer<String> buffer = Buffer.start(
        Config.builder(flush).capacity(1).chanSize(1).flushInterval(HOURS).build(),
        Options.<String>builder().listener(new BufferListener<>() {
          @Override
          public void producerUnblocked(String name, Duration waited) {
            seenAccepted.add(self.get().stats().accepted());
          }
        }).build());
    self.set(buffer);
    buffer.add("a");
    assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
    buffer.add("b"); // the channel (of 1) is full now
    AtomicReference<CompletableFuture<Void>> request = new AtomicReference<>();
    Thread requester = Thread.ofVirtual().start(() -> {
      try {
        request.set(buffer.flush()); // waits for room
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    await().atMost(WAIT).until(() -> buffer.stats().producersBlocked() == 1);
    release.countDown();
    assertThat(requester.join(WAIT)).isTrue();
    request.get().get(10, TimeUnit.SECONDS);
    buffer.close();
    BufferStats s = buffer.stats();
    assertThat(s.state()).isEqualTo(BufferStats.State.CLOSED);
    assertThat(s.flushed()).isEqualTo(2);
    assertThat(s.accepted()).as("accepted after close").isEqualTo(2);
    assertThat(s.itemsWaiting()).as("itemsWaiting of a CLOSED buffer").isZero();
    assertIdentity(s);
    assertThat(seenAccepted).as("accepted seen while the flush() request claimed its slot")
        .allMatch(n -> n <= 2);
  }

  // ---- fatal errors -----------------------------------------------------------------------------

  /**
   * README (What bad input gets): "a VirtualMachineError (e.g. OutOfMemoryError) from a callback,
   * on any thread: the buffer stops at once: admission closes ... the listener hears closed".
   * The maxBufferedBytes weigher is a callback that runs on the producer's thread (Engine.admit
   * -> MemoryGate.weightOf), outside any catch: a StackOverflowError there goes straight to the
   * caller of add and is never recorded (Problems.caught), so the buffer keeps running, accepts
   * the next item, and stats() says RUNNING.
   */
  @Test
  void aFatalErrorFromTheMemoryWeigherStopsTheBuffer() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    CountDownLatch closed = new CountDownLatch(1);
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(10).flushInterval(HOURS)
        .build(), Options.<String>builder()
        .maxBufferedBytes(s -> {
          if (s.equals("boom")) {
            throw new StackOverflowError("weigher");
          }
          return s.length();
        }, 1_000)
        .listener(onClosed(closed))
        .build());
    try {
      assertThatThrownBy(() -> buffer.add("boom")).isInstanceOf(StackOverflowError.class);
      assertThat(buffer.stats().state()).as("state after a fatal error in a callback")
          .isEqualTo(BufferStats.State.FAILED);
      assertThatThrownBy(() -> buffer.add("later")).as("admission after a fatal error")
          .isInstanceOf(IllegalStateException.class);
      assertThat(closed.await(5, TimeUnit.SECONDS)).as("listener hears closed").isTrue();
    } finally {
      buffer.close();
    }
  }

  // ---- producers racing close(timeout) ---------------------------------------------------------

  /** What the backend and the callbacks saw. */
  static final class Sink {
    final List<Long> delivered = Collections.synchronizedList(new ArrayList<>());
    final List<Long> failed = Collections.synchronizedList(new ArrayList<>());
    final List<Long> rejected = Collections.synchronizedList(new ArrayList<>());
    final Map<Long, AtomicInteger> running = new ConcurrentHashMap<>();
    final List<String> violations = new CopyOnWriteArrayList<>();
    final long seed;

    Sink(long seed) {
      this.seed = seed;
    }

    /** A backend call: slow for some batches, failing for some, answering interrupts. */
    void write(long key, List<Long> batch, boolean keyed) throws Exception {
      AtomicInteger inKey = running.computeIfAbsent(key, k -> new AtomicInteger());
      if (keyed && inKey.incrementAndGet() > 1) {
        violations.add("flushes of key " + key + " overlap");
      }
      try {
        long h = (batch.get(0) * 0x9E3779B97F4A7C15L) ^ seed;
        long micros = Math.floorMod(h, 400);
        long deadline = System.nanoTime() + micros * 1000;
        while (System.nanoTime() - deadline < 0) {
          LockSupport.parkNanos(deadline - System.nanoTime());
          if (Thread.interrupted()) {
            throw new InterruptedException("flush interrupted");
          }
        }
        if (Math.floorMod(h >>> 17, 6) == 0) {
          throw new IOException("backend says no");
        }
        delivered.addAll(batch);
      } finally {
        if (keyed) {
          inKey.decrementAndGet();
        }
      }
    }
  }

  static boolean refusedByCanAdd(long item) {
    return item % 13 == 0;
  }

  BufferFace<Long> plain(SplittableRandom r, Sink sink, CountDownLatch closed) {
    int maxInFlight = 1 + r.nextInt(4);
    Config<Long> config = Config.<Long>builder(batch -> sink.write(0, batch, false))
        .capacity(1 + r.nextInt(8)).chanSize(1 + r.nextInt(32))
        .flushInterval(Duration.ofMillis(1 + r.nextInt(5)))
        .canAdd((batch, item) -> !refusedByCanAdd(item))
        .onReject(sink.rejected::add)
        .onFlushError((e, batch) -> sink.failed.addAll(batch))
        .build();
    Buffer<Long> b = Buffer.start(config, Options.<Long>builder().maxInFlight(maxInFlight)
        .listener(onClosed(closed)).build());
    return BufferFace.of(b, "plain maxInFlight=" + maxInFlight + " " + config);
  }

  BufferFace<Long> keyed(SplittableRandom r, Sink sink, CountDownLatch closed, int keys) {
    int maxInFlight = 1 + r.nextInt(4);
    int count = 1 + r.nextInt(6);
    KeyedBuffer<Long, Long> b = KeyedBuffer.<Long, Long>builder(item -> item % keys,
            (key, batch) -> sink.write(key, batch, true))
        .policy(FlushPolicy.<Long>count(count).or(FlushPolicy.custom((batch, item) -> false,
            (batch, item) -> !refusedByCanAdd(item), batch -> false)))
        .flushInterval(Duration.ofMillis(1 + r.nextInt(5)))
        .chanSize(1 + r.nextInt(32))
        .maxKeys(1 + r.nextInt(keys + 1))
        .maxBufferedItems(1 + r.nextInt(20))
        .maxInFlight(maxInFlight)
        .onReject(sink.rejected::add)
        .onFlushError((e, batch) -> sink.failed.addAll(batch))
        .listener(onClosed(closed))
        .start();
    return BufferFace.of(b,
        "keyed maxInFlight=" + maxInFlight + " count=" + count + " keys=" + keys);
  }

  /**
   * Covers what no other test does: producers mixing add/offer/offer(timeout)/submit/flush() keep
   * going while close(timeout) of 0-3 ms on the system clock gives up, plain and keyed, with 1-4
   * flushes in flight, failing and slow flushes, refusals, maxKeys and maxBufferedItems pressure.
   * Checks that every accepted item is in exactly one place (delivered, onFlushError, onReject,
   * undelivered) and no refused item is anywhere, that futures and stats() agree with that, that
   * every flush() future completes, that undelivered() is in each producer's order (per key for
   * keyed), and that flushes of one key never overlap.
   */
  @Test
  void everyItemAcceptedWhileCloseWithTimeoutGivesUpEndsInExactlyOnePlace() throws Exception {
    long base = Long.getLong("batchbuffer.seed", System.nanoTime());
    for (int i = 0; i < Integer.getInteger("rounds", 24); i++) {
      long seed = base + i;
      raceClose(seed, i % 2 == 1);
    }
  }

  private void raceClose(long seed, boolean keyedBuffer) throws Exception {
    SplittableRandom r = new SplittableRandom(seed);
    Sink sink = new Sink(seed);
    CountDownLatch closed = new CountDownLatch(1);
    int keys = 1 + r.nextInt(5);
    BufferFace<Long> target = keyedBuffer ? keyed(r, sink, closed, keys) : plain(r, sink, closed);
    String where = "seed " + seed + " (-Dbatchbuffer.seed=" + seed + "), " + target;
    int producers = 1 + r.nextInt(3);
    int closeAfter = r.nextInt(400);
    long closeMillis = r.nextInt(4);
    AtomicInteger acceptedSoFar = new AtomicInteger();
    List<List<Long>> acceptedBy = new ArrayList<>();
    List<Set<Long>> refusedBy = new ArrayList<>();
    Map<Long, CompletableFuture<Void>> futures = new ConcurrentHashMap<>();
    List<CompletableFuture<Void>> requests = new CopyOnWriteArrayList<>();
    List<String> problems = new CopyOnWriteArrayList<>();
    List<Thread> threads = new ArrayList<>();
    for (int p = 0; p < producers; p++) {
      List<Long> accepted = new ArrayList<>();
      Set<Long> refused = new HashSet<>();
      acceptedBy.add(accepted);
      refusedBy.add(refused);
      long producerSeed = r.nextLong();
      int pid = p;
      threads.add(Thread.ofVirtual().start(() -> {
        SplittableRandom pr = new SplittableRandom(producerSeed);
        for (long n = 0; ; n++) {
          long item = (pid + 1) * 1_000_000L + n;
          int op = pr.nextInt(10);
          try {
            boolean ok;
            switch (op) {
              case 0, 1, 2 -> {
                target.add(item);
                ok = true;
              }
              case 3, 4 -> ok = target.offer(item);
              case 5, 6 -> ok = target.offer(item, Duration.ofMillis(1));
              case 7, 8 -> {
                futures.put(item, target.submit(item));
                ok = true;
              }
              default -> {
                requests.add(target.flush());
                continue;
              }
            }
            if (ok) {
              accepted.add(item);
              acceptedSoFar.incrementAndGet();
            } else {
              refused.add(item);
            }
          } catch (IllegalStateException e) {
            if (op < 9) {
              refused.add(item);
            }
            return;
          } catch (InterruptedException e) {
            problems.add("producer interrupted");
            return;
          } catch (RuntimeException e) {
            problems.add("producer got " + e);
            return;
          }
        }
      }));
    }
    await().atMost(WAIT).until(() -> acceptedSoFar.get() >= closeAfter
        || threads.stream().noneMatch(Thread::isAlive));
    CloseResult<Long> result = target.close(Duration.ofMillis(closeMillis));
    for (Thread t : threads) {
      assertThat(t.join(WAIT)).as("producer ends after close: %s", where).isTrue();
    }
    assertThat(closed.await(10, TimeUnit.SECONDS)).as("listener hears closed: %s", where).isTrue();
    assertThat(problems).as(where).isEmpty();
    assertThat(sink.violations).as(where).isEmpty();

    Map<Long, String> place = new HashMap<>();
    List<String> twice = new ArrayList<>();
    for (var e : Map.of("delivered", List.copyOf(sink.delivered), "failed",
        List.copyOf(sink.failed), "rejected", List.copyOf(sink.rejected), "undelivered",
        result.undelivered()).entrySet()) {
      for (Long item : e.getValue()) {
        String before = place.put(item, e.getKey());
        if (before != null) {
          twice.add(item + " in " + before + " and " + e.getKey());
        }
      }
    }
    assertThat(twice).as("items in two places: %s", where).isEmpty();
    Set<Long> accepted = new HashSet<>();
    acceptedBy.forEach(accepted::addAll);
    Set<Long> lost = new HashSet<>(accepted);
    lost.removeAll(place.keySet());
    assertThat(lost).as("accepted items in no place: %s", where).isEmpty();
    Set<Long> ghost = new HashSet<>(place.keySet());
    ghost.removeAll(accepted);
    assertThat(ghost).as("items in a place that were never accepted (refused ones?): %s", where)
        .isEmpty();
    for (Set<Long> refused : refusedBy) {
      for (Long item : refused) {
        assertThat(place).as("refused item %s: %s", item, where).doesNotContainKey(item);
      }
    }

    // Futures agree with the place of their item.
    for (var e : futures.entrySet()) {
      CompletableFuture<Void> f = e.getValue();
      assertThat(f).as("future of %s done: %s", e.getKey(), where).isDone();
      String at = place.get(e.getKey());
      if ("delivered".equals(at)) {
        assertThat(f).as("future of delivered %s: %s", e.getKey(), where).isCompleted();
        assertThat(f.isCompletedExceptionally()).as("future of delivered %s: %s", e.getKey(), where)
            .isFalse();
      } else {
        DeliveryException.Reason expected = "failed".equals(at) ? DeliveryException.Reason.FAILED
            : "rejected".equals(at) ? DeliveryException.Reason.REJECTED
            : DeliveryException.Reason.UNDELIVERED;
        try {
          f.get();
          throw new AssertionError("future of " + at + " item " + e.getKey() + " succeeded: " + where);
        } catch (ExecutionException ex) {
          if (!(ex.getCause() instanceof DeliveryException d)) {
            throw new AssertionError("future of " + at + " item " + e.getKey() + " failed with "
                + ex.getCause() + ": " + where, ex);
          }
          assertThat(d.reason()).as("future of %s item %s: %s", at, e.getKey(), where)
              .isEqualTo(expected);
        }
      }
    }
    for (CompletableFuture<Void> request : requests) {
      assertThat(request).as("flush() future done after close: %s", where).isDone();
    }

    // undelivered() is in acceptance order: each producer's items (of one key) in its order.
    Map<String, List<Long>> streams = new HashMap<>();
    for (Long item : result.undelivered()) {
      String stream = (item / 1_000_000L) + (keyedBuffer ? "/" + (item % keys) : "");
      streams.computeIfAbsent(stream, k -> new ArrayList<>()).add(item);
    }
    for (var e : streams.entrySet()) {
      assertThat(e.getValue()).as("undelivered of producer/key %s in order: %s", e.getKey(), where)
          .isSorted();
    }

    // stats() agrees.
    BufferStats s = target.stats();
    assertThat(s.state()).as(where).isEqualTo(BufferStats.State.CLOSED);
    assertThat(s.accepted()).as("accepted: %s", where).isEqualTo(accepted.size());
    assertThat(s.flushed()).as("flushed: %s", where).isEqualTo(sink.delivered.size());
    assertThat(s.failed()).as("failed: %s", where).isEqualTo(sink.failed.size());
    assertThat(s.rejected()).as("rejected: %s", where).isEqualTo(sink.rejected.size());
    assertThat(s.undelivered()).as("undelivered: %s", where).isEqualTo(result.undelivered().size());
    assertThat(s.itemsWaiting() + s.itemsFlushing()).as("pending after close: %s", where).isZero();
    assertThat(s.flushesInFlight()).as("flushesInFlight after close: %s", where).isZero();
    if (!result.undelivered().isEmpty()) {
      assertThat(result.drained()).as(where).isFalse();
    }
  }

  // ---- Config slot mixes ------------------------------------------------------------------------

  /**
   * README (What bad input gets): "Config slots holding faces of different policies ... every
   * limit is honoured"; (Flush policies) a face called directly "is always correct". A policy with
   * a per-item limit under {@code Oversize.SEND_ALONE} in the canAdd slot sends an oversize item
   * alone when it is the only face (Limits.of takes it as the primary policy), but once the
   * shouldFlush slot holds a face of another policy, PolicyFace.policyOf picks that one as primary
   * and the canAdd face is evaluated as a plain predicate (PolicyFace.Admission.test), which simply
   * admits a SEND_ALONE item: the oversize item is batched together with ordinary ones.
   */
  @Test
  @SuppressWarnings("NullAway") // null is the nine-argument form's "default"
  void anOversizeItemUnderSendAloneGoesAloneWhateverPolicyFillsTheOtherSlots() throws Exception {
    Weigher<String> size = String::length;
    FlushPolicy<String> perItem = FlushPolicy.bytes(size, 100, 10, Oversize.SEND_ALONE);
    FlushPolicy<String> count = FlushPolicy.count(4);
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = new Config<>(flush, null, perItem.asCanAdd(), null,
        count.asShouldFlush(), null, 0, 0, HOURS);
    String big = "x".repeat(50);
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("a");
      buffer.add(big);
      buffer.add("b");
      buffer.add("c");
    }
    for (List<String> batch : flush.batches()) {
      if (batch.contains(big)) {
        assertThat(batch).as("the batch holding the 50-byte item (per-item limit 10, SEND_ALONE): %s",
            flush.batches()).containsExactly(big);
      }
    }
    assertThat(flush.items()).containsExactlyInAnyOrder("a", big, "b", "c");
  }

  // ---- fatal errors on the loop and on flush threads -------------------------------------------

  /**
   * Covers a fatal error from a KeyedBuffer's key function (on the loop) with maxInFlight 2 and a
   * flush running: the buffer stops (state FAILED), every pending future completes, close()
   * returns, the listener hears closed exactly once.
   */
  @Test
  void aFatalErrorFromTheKeyFunctionStopsAKeyedBufferCompletely() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger closedCount = new AtomicInteger();
    CountDownLatch closed = new CountDownLatch(1);
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(item -> {
          if (item.equals("boom")) {
            Thread.currentThread().setUncaughtExceptionHandler((t, e) -> {});
            throw new OutOfMemoryError("key function");
          }
          return item.substring(0, 1);
        }, (key, batch) -> {
          if (batch.contains("a1")) {
            inFlush.countDown();
            release.await();
          }
        })
        .policy(FlushPolicy.count(1)).maxInFlight(2).flushInterval(HOURS)
        .listener(new BufferListener<>() {
          @Override
          public void closed(BufferStats stats) {
            closedCount.incrementAndGet();
            closed.countDown();
          }
        })
        .start();
    CompletableFuture<Void> a1 = buffer.submit("a1");
    assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> boom = buffer.submit("boom");
    await().atMost(WAIT).until(() -> buffer.stats().state() == BufferStats.State.FAILED);
    assertThatThrownBy(() -> buffer.submit("b1")).isInstanceOf(IllegalStateException.class);
    release.countDown();
    buffer.close();
    a1.get(5, TimeUnit.SECONDS); // running flushes finish normally
    assertThat(boom).isCompletedExceptionally();
    assertThat(closed.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(closedCount.get()).isEqualTo(1);
    BufferStats s = buffer.stats();
    assertThat(s.state()).isEqualTo(BufferStats.State.FAILED);
    assertIdentity(s);
  }

  /**
   * Covers a fatal error thrown by a flush on a flush thread (maxInFlight 3) while other flushes
   * run and items wait: nothing more is flushed, the waiting items' futures fail UNDELIVERED,
   * close(timeout) lists them in order, the listener hears closed once, state is FAILED.
   */
  @Test
  void aFatalErrorOnAFlushThreadGivesUpWhatWaitsInOrder() throws Exception {
    CountDownLatch slowRunning = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch closed = new CountDownLatch(1);
    List<List<String>> started = new CopyOnWriteArrayList<>();
    FlushFunc<String> flush = batch -> {
      started.add(batch);
      if (batch.contains("slow")) {
        slowRunning.countDown();
        release.await();
      } else if (batch.contains("oom")) {
        throw new OutOfMemoryError("flush thread");
      }
    };
    Config<String> config = Config.builder(flush).capacity(1).chanSize(64).flushInterval(HOURS)
        // runs on the loop first: a fatal error settled there is rethrown on the loop thread
        .shouldFlush(batch -> {
          Thread.currentThread().setUncaughtExceptionHandler((t, e) -> {});
          return batch.size() >= 1;
        })
        .build();
    Buffer<String> buffer = Buffer.start(config,
        Options.<String>builder().maxInFlight(3).listener(onClosed(closed)).build());
    CompletableFuture<Void> slow = buffer.submit("slow");
    assertThat(slowRunning.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> oom = buffer.submit("oom");
    await().atMost(WAIT).until(() -> buffer.stats().state() == BufferStats.State.FAILED);
    assertThatThrownBy(() -> buffer.add("late")).isInstanceOf(IllegalStateException.class);
    release.countDown();
    CloseResult<String> result = buffer.close(WAIT);
    slow.get(5, TimeUnit.SECONDS);
    assertThat(oom).isCompletedExceptionally();
    assertThat(result.drained()).isFalse();
    assertThat(closed.await(5, TimeUnit.SECONDS)).isTrue();
    assertIdentity(buffer.stats());
    assertThat(started).hasSize(2);
  }

  // ---- middleware interrupted by close(timeout) on a manual clock -------------------------------

  /**
   * Covers a circuit breaker that waits while open (maxInFlight 2), with close(timeout) timed on
   * the same ManualTimeSource: the waiting flush answers close's interrupt, its item comes back
   * undelivered, the delivered item stays delivered, the failed one stays failed, nothing hangs.
   */
  @Test
  void aFlushWaitingInAnOpenCircuitBreakerIsGivenUpByCloseWithTimeout() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    List<String> delivered = new CopyOnWriteArrayList<>();
    List<String> failed = new CopyOnWriteArrayList<>();
    FlushFunc<String> backend = batch -> {
      if (batch.contains("f")) {
        throw new IOException("down");
      }
      delivered.addAll(batch);
    };
    FlushFunc<String> flush = FlushMiddleware.chain(backend,
        FlushMiddleware.circuitBreaker(1, HOURS, true, time));
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).flushInterval(HOURS)
            .onFlushError((e, batch) -> failed.addAll(batch)).build(),
        Options.<String>builder().timeSource(time).maxInFlight(2).build());
    buffer.submit("ok").get(5, TimeUnit.SECONDS);
    CompletableFuture<Void> f = buffer.submit("f");
    await().atMost(WAIT).until(f::isDone);
    CompletableFuture<Void> a = buffer.submit("a");
    await().atMost(WAIT).until(() -> time.timedWaiters() == 1); // "a" waits in the open breaker
    AtomicReference<CloseResult<String>> result = new AtomicReference<>();
    Thread closer = Thread.ofVirtual().start(() -> result.set(buffer.close(Duration.ofMillis(100))));
    await().atMost(WAIT).until(() -> time.timedWaiters() == 2);
    time.advance(Duration.ofMillis(100));
    if (!closer.join(Duration.ofSeconds(2))) {
      time.advance(Duration.ofMillis(200)); // the grace, on the same clock
    }
    assertThat(closer.join(WAIT)).isTrue();
    assertThat(result.get().undelivered()).containsExactly("a");
    assertThat(result.get().stillFlushing()).isFalse();
    assertThat(delivered).containsExactly("ok");
    assertThat(failed).containsExactly("f");
    assertThatThrownBy(() -> a.get(1, TimeUnit.SECONDS)).hasCauseInstanceOf(DeliveryException.class);
    assertIdentity(buffer.stats());
  }
}
