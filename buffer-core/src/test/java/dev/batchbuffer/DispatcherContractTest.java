package dev.batchbuffer;

/*
 * Regression tests for the dispatcher rewrite: middleware under interruption, per-key flush
 * exclusion, mixed policy faces, the circuit breaker's wait, offer's single timeout, SEND_ALONE's
 * admission view and byte-limit decisions on a still clock. Siblings: CloseContractTest (close,
 * own-thread admission, fatal errors) and CallbackGuardTest (throwing callbacks, rejection reasons).
 *
 * Status against the code before the rewrite (branch point 748d163). "assertion" = an AssertJ or
 * Awaitility failure; "after 10 s" = it waits its bounded WAIT first; none needs the 30 s timeout.
 *   retryInterruptedDuringBackoffReportsOnlyTheFailedItems: FAILS, assertion at once - the backoff
 *     sleep's InterruptedException escapes for the whole batch instead of PartialFlushException([1]).
 *   timeoutOutsideRetryReportsOnlyTheFailedItems: FAILS, assertion at once - timeout throws a
 *     whole-batch FlushTimeoutException, forgetting that items 0 and 2 were delivered.
 *   keyedFlushesOfOneKeyNeverOverlapWhileOtherKeysFlushInParallel: FAILS, assertion at once - with
 *     maxInFlight > 1 the second batch of key "a" starts while the first is still blocked.
 *   mixedPolicyFacesHonourTheByteFaceAndTheCountFace: FAILS, assertion at once - only one face's
 *     policy is used (shouldFlush's count(3)); the byte face in willOverflow is dropped: a 12-char batch.
 *   customShouldFlushBesideAPolicyKeepsThePolicysByteLimit: PASSED before too (a guard) - the loop finds the
 *     policy through its willOverflow face and keeps the byte limit; kept so the rewrite keeps it.
 *   circuitBreakerWaiterParksWhileTheHalfOpenProbeIsInFlight: FAILS, assertion at once - while the
 *     probe is in flight permit() returns 1 ns, so the waiter spins (~2.7 million clock reads in 300 ms).
 *   timedOfferWaitsAtMostItsTimeoutForBytesAndSlotTogether: FAILS, assertion after 10 s - the timeout
 *     restarts for the channel slot after the byte wait: at t = 1 s the offer is still waiting.
 *   sendAloneAsksCanAddWithTheEmptyBatchTheOversizeItemJoins: FAILS, assertion at once - canAdd is
 *     asked with the batch about to be flushed away (["aa"]).
 *   byteOverflowFlushesWithoutWaitingForTheClock: FAILS, assertion after 10 s (its second part) -
 *     after a light first item the loop waits for ceil(room / heaviest seen) arrivals and re-checks
 *     only when 1 ms passes on the clock, which stands still. The brief's literal case ("aaaa",
 *     "bbbb", "cccccccc") is the first part and passed before too: 2 arrivals are predicted, 2 arrive.
 *   oversizeRejectReachesOnRejectWithoutWaitingForTheClock: FAILS, assertion after 10 s - same wait.
 *   oversizeSendAloneIsSentWithoutWaitingForTheClock: FAILS, assertion after 10 s - same wait.
 */

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DispatcherContractTest {

  /**
   * What a future failed with (unwrapped). Fails the test if the future does not complete within
   * {@link TestConstants#WAIT}, or completes normally.
   */
  static Throwable failureOf(CompletableFuture<?> f) {
    try {
      f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      return Objects.requireNonNull(e.getCause());
    } catch (TimeoutException e) {
      throw new AssertionError("the future did not complete within " + WAIT, e);
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("the future completed normally; expected it to fail");
  }

  /** The DeliveryException a future failed with, asserting that it fails within {@link TestConstants#WAIT}. */
  static DeliveryException deliveryFailure(CompletableFuture<?> f) {
    Throwable cause = failureOf(f);
    assertThat(cause).isInstanceOf(DeliveryException.class);
    return (DeliveryException) cause;
  }

  // ---- 4. retry under interruption, and timeout outside retry ----

  @Test
  void retryInterruptedDuringBackoffReportsOnlyTheFailedItems() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    List<List<String>> calls = new CopyOnWriteArrayList<>();
    FlushFunc<String> backend = batch -> {
      calls.add(batch);
      throw new PartialFlushException(List.of(1), new IOException("item 1 throttled"));
    };
    RetryPolicy hourly = RetryPolicy.builder().maxAttempts(3).backoff(HOURS, HOURS).jitter(0).build();
    FlushFunc<String> flush = FlushMiddleware.chain(backend, FlushMiddleware.<String>retry(hourly, time));
    CompletableFuture<Throwable> thrown = new CompletableFuture<>();
    Thread caller = Thread.ofVirtual().start(() -> {
      try {
        flush.flush(List.of("a", "b", "c"));
        thrown.complete(new AssertionError("the flush returned normally"));
      } catch (Throwable t) {
        thrown.complete(t);
      }
    });
    await().atMost(WAIT).until(() -> calls.size() == 1 && time.timedWaiters() == 1); // in the backoff
    caller.interrupt();
    assertThat(thrown).succeedsWithin(WAIT);
    Throwable failure = thrown.join();
    assertThat(failure).as("what the interrupted retry threw").isInstanceOf(PartialFlushException.class);
    assertThat(((PartialFlushException) failure).failedIndexes()).containsExactly(1);
    assertThat(calls).containsExactly(List.of("a", "b", "c"));
  }

  @Test
  void timeoutOutsideRetryReportsOnlyTheFailedItems() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    List<List<String>> calls = new CopyOnWriteArrayList<>();
    FlushFunc<String> backend = batch -> {
      calls.add(batch);
      throw new PartialFlushException(List.of(1), new IOException("item 1 throttled"));
    };
    RetryPolicy hourly = RetryPolicy.builder().maxAttempts(3).backoff(HOURS, HOURS).jitter(0).build();
    FlushFunc<String> flush = FlushMiddleware.chain(backend,
        FlushMiddleware.<String>timeout(Duration.ofSeconds(10), time),
        FlushMiddleware.<String>retry(hourly, time));
    CompletableFuture<Void> done = Async.run(() -> {
      flush.flush(List.of("a", "b", "c"));
    });
    // The timeout's caller waits for its limit, the retry (on the worker) for its backoff.
    await("the first call failed, the retry backs off and the timeout waits")
        .atMost(WAIT).until(() -> calls.size() == 1 && time.timedWaiters() == 2);
    time.advance(Duration.ofSeconds(10)); // the limit passes during the backoff
    Throwable failure = failureOf(done);
    assertThat(failure).as("what the timed-out series threw").isInstanceOf(PartialFlushException.class);
    assertThat(((PartialFlushException) failure).failedIndexes()).containsExactly(1);
  }

  // ---- 7. keyed buffer: one flush per key at a time, keys in parallel ----

  @Test
  void keyedFlushesOfOneKeyNeverOverlapWhileOtherKeysFlushInParallel() throws Exception {
    CountDownLatch firstOfAStarted = new CountDownLatch(1);
    CountDownLatch releaseFirstOfA = new CountDownLatch(1);
    Map<String, AtomicInteger> running = new ConcurrentHashMap<>();
    List<String> overlaps = new CopyOnWriteArrayList<>();
    List<String> started = new CopyOnWriteArrayList<>();
    List<String> finished = new CopyOnWriteArrayList<>();
    KeyedFlushFunc<String, String> flush = (key, batch) -> {
      AtomicInteger mine = running.computeIfAbsent(key, k -> new AtomicInteger());
      if (mine.incrementAndGet() > 1) {
        overlaps.add(key + " " + batch);
      }
      started.addAll(batch);
      try {
        if (batch.contains("a:1")) {
          firstOfAStarted.countDown();
          releaseFirstOfA.await();
        }
        finished.addAll(batch);
      } finally {
        mine.decrementAndGet();
      }
    };
    KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, flush)
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).maxInFlight(4).start();
    try {
      buffer.add("a:1");
      assertThat(firstOfAStarted.await(10, TimeUnit.SECONDS)).isTrue();
      buffer.add("a:2");
      buffer.add("b:1");
      // b:1 came after a:2: once b's batch is done, the loop has had a:2's batch in hand.
      await("b:1 flushed while a:1 is blocked").atMost(WAIT).until(() -> finished.contains("b:1"));
      assertThat(started).as("a:2 must wait for a:1's flush").doesNotContain("a:2");
    } finally {
      releaseFirstOfA.countDown();
    }
    assertThat(buffer.close(WAIT).drained()).isTrue();
    assertThat(overlaps).as("flushes of one key that overlapped").isEmpty();
    assertThat(finished.stream().filter(s -> s.startsWith("a:")).toList()).containsExactly("a:1", "a:2");
  }

  // ---- 8. mixed policy faces ----

  @Test
  @SuppressWarnings("NullAway") // null means "the default" in the nine-argument Config
  void mixedPolicyFacesHonourTheByteFaceAndTheCountFace() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = new Config<>(flush,
        FlushPolicy.<String>bytes(String::length, 10).asWillOverflow(), null, null,
        FlushPolicy.<String>count(3).asShouldFlush(), null, 0, 0, HOURS);
    List<String> items = List.of("aaaa", "bbbb", "cccc", "d", "e", "f", "g", "h", "iiiiiiiiii", "j");
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String item : items) {
        buffer.add(item);
      }
    }
    assertThat(flush.items()).containsExactlyElementsOf(items);
    assertThat(flush.batches()).allSatisfy(batch -> {
      assertThat(batch).as("count face: at most 3 items").hasSizeLessThanOrEqualTo(3);
      assertThat(batch.stream().mapToInt(String::length).sum()).as("byte face: at most 10 chars in %s", batch)
          .isLessThanOrEqualTo(10);
    });
  }

  @Test
  void customShouldFlushBesideAPolicyKeepsThePolicysByteLimit() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).policy(FlushPolicy.bytes(String::length, 10))
        .shouldFlush(b -> b.size() >= 2).flushInterval(HOURS).build();
    List<String> items = List.of("a", "b", "cccccc", "ddddddd", "e", "f");
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String item : items) {
        buffer.add(item);
      }
    }
    assertThat(flush.batches()).containsExactly(
        List.of("a", "b"),            // the custom shouldFlush: 2 items
        List.of("cccccc"),            // 6 + 7 would pass 10: the policy's willOverflow face
        List.of("ddddddd", "e"),      // 2 items again
        List.of("f"));                // the final flush
  }

  // ---- 9. the circuit breaker's waiter parks ----

  @Test
  void circuitBreakerWaiterParksWhileTheHalfOpenProbeIsInFlight() throws Exception {
    AtomicLong clockReads = new AtomicLong();
    TimeSource system = TimeSource.system();
    TimeSource counting = new TimeSource() {
      @Override
      public long nanoTime() {
        clockReads.incrementAndGet();
        return system.nanoTime();
      }

      @Override
      public void park(Object blocker) {
        system.park(blocker);
      }

      @Override
      public void parkNanos(Object blocker, long nanos) {
        system.parkNanos(blocker, nanos);
      }

      @Override
      public void parkUntil(Object blocker, long deadline) {
        system.parkUntil(blocker, deadline);
      }
    };
    CountDownLatch probeStarted = new CountDownLatch(1);
    CountDownLatch releaseProbe = new CountDownLatch(1);
    List<String> calls = new CopyOnWriteArrayList<>();
    FlushFunc<String> backend = batch -> {
      calls.add(batch.get(0));
      if (batch.get(0).equals("first")) {
        throw new IOException("down");
      }
      if (batch.get(0).equals("probe")) {
        probeStarted.countDown();
        releaseProbe.await();
      }
    };
    FlushFunc<String> flush = FlushMiddleware.<String>circuitBreaker(1, Duration.ofMillis(1), true, counting)
        .wrap(backend);
    assertThatThrownBy(() -> flush.flush(List.of("first"))).isInstanceOf(IOException.class); // opens
    CompletableFuture<Void> probe = Async.run(() -> {
      flush.flush(List.of("probe")); // waits out the 1 ms cool-down, then is the half-open probe
    });
    assertThat(probeStarted.await(10, TimeUnit.SECONDS)).isTrue();
    CountDownLatch waiterEntered = new CountDownLatch(1);
    CompletableFuture<Void> waiter = Async.run(() -> {
      waiterEntered.countDown();
      flush.flush(List.of("waiter"));
    });
    assertThat(waiterEntered.await(10, TimeUnit.SECONDS)).isTrue();
    long before = clockReads.get();
    try {
      // 300 ms in which the waiter waits for the probe: it must neither proceed nor spin.
      await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5)).until(() -> !waiter.isDone());
      assertThat(clockReads.get() - before).as("clock reads while the waiter waited 300 ms")
          .isLessThan(1000);
    } finally {
      releaseProbe.countDown();
    }
    assertThat(probe).succeedsWithin(WAIT);
    assertThat(waiter).succeedsWithin(WAIT);
    assertThat(calls).containsExactly("first", "probe", "waiter");
  }

  // ---- 11. offer(item, timeout) waits at most its timeout in all ----

  @Test
  void timedOfferWaitsAtMostItsTimeoutForBytesAndSlotTogether() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch releaseFlush = new CountDownLatch(1);
    CountDownLatch inCanAdd = new CountDownLatch(1);
    CountDownLatch releaseCanAdd = new CountDownLatch(1);
    RecordingFlush<String> recorder = new RecordingFlush<>();
    FlushFunc<String> flush = batch -> {
      if (batch.contains("aaaa")) {
        inFlush.countDown();
        releaseFlush.await();
      }
      recorder.flush(batch);
    };
    // "X" flushes the batch before it (freeing that batch's bytes), then canAdd holds the loop on
    // X, so the channel stays full while the bytes are free.
    Config<String> config = Config.builder(flush).capacity(100).chanSize(1).flushInterval(HOURS)
        .willOverflow((batch, item) -> item.equals("X"))
        .canAdd((batch, item) -> {
          if (item.equals("X")) {
            inCanAdd.countDown();
            try {
              releaseCanAdd.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }
          return true;
        }).build();
    Buffer<String> buffer = Buffer.start(config, Options.<String>builder().timeSource(time)
        .maxBufferedBytes(String::length, 10).build());
    try {
      buffer.add("aaaa");                       // 4 bytes held, in the batch
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0);
      buffer.add("X");                          // 5: its overflow flush of ["aaaa"] blocks the loop
      assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
      buffer.add("bbbb");                       // 9 bytes, and the channel (of 1) is full
      CompletableFuture<Boolean> offered = Async.call(() -> buffer.offer("ccccc", Duration.ofSeconds(1)));
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1); // waiting for bytes since t = 0
      time.advance(Duration.ofMillis(600));
      releaseFlush.countDown();                 // ["aaaa"] done: 4 bytes back, the offer's 5 fit
      assertThat(inCanAdd.await(10, TimeUnit.SECONDS)).isTrue(); // loop held: the slot stays taken
      time.advance(Duration.ofMillis(400));     // t = 1 s: the offer's whole timeout
      assertThat(offered).as("offer(item, 1 s) at t = 1 s").succeedsWithin(WAIT);
      assertThat(offered.join()).isFalse();
    } finally {
      releaseFlush.countDown();
      releaseCanAdd.countDown();
      time.advance(Duration.ofSeconds(5));      // lets a still waiting offer give up, on old code
    }
    assertThat(buffer.close(WAIT).drained()).isTrue();
    assertThat(recorder.items()).containsExactly("aaaa", "X", "bbbb");
  }

  // ---- 12. SEND_ALONE asks canAdd with the batch the oversize item joins ----

  @Test
  void sendAloneAsksCanAddWithTheEmptyBatchTheOversizeItemJoins() throws Exception {
    // Through anyOf, and through Config.builder().canAdd beside the policy.
    Map<String, List<String>> seenByAnyOf = new ConcurrentHashMap<>();
    RecordingFlush<String> first = new RecordingFlush<>();
    FlushPolicy<String> policy = FlushPolicy.anyOf(
        FlushPolicy.<String>bytes(String::length, 10, 5, Oversize.SEND_ALONE),
        FlushPolicy.<String>custom((batch, item) -> false, (batch, item) -> {
          seenByAnyOf.put(item, List.copyOf(batch));
          return true;
        }, batch -> false));
    try (Buffer<String> buffer = Buffer.start(Config.builder(first).policy(policy).flushInterval(HOURS).build())) {
      buffer.add("aa");
      buffer.add("bbbbbbb"); // 7 > 5: oversize, sent alone
    }
    assertThat(first.batches()).containsExactly(List.of("aa"), List.of("bbbbbbb"));
    assertThat(seenByAnyOf.get("bbbbbbb")).as("the batch canAdd saw for the oversize item (anyOf)").isEmpty();

    Map<String, List<String>> seenByBuilder = new ConcurrentHashMap<>();
    RecordingFlush<String> second = new RecordingFlush<>();
    Config<String> config = Config.builder(second)
        .policy(FlushPolicy.bytes(String::length, 10, 5, Oversize.SEND_ALONE))
        .canAdd((batch, item) -> {
          seenByBuilder.put(item, List.copyOf(batch));
          return true;
        }).flushInterval(HOURS).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("aa");
      buffer.add("bbbbbbb");
    }
    assertThat(second.batches()).containsExactly(List.of("aa"), List.of("bbbbbbb"));
    assertThat(seenByBuilder.get("bbbbbbb")).as("the batch canAdd saw for the oversize item (builder)").isEmpty();
  }

  // ---- 13. byte-limit decisions on a clock that never moves ----

  @Test
  void byteOverflowFlushesWithoutWaitingForTheClock() throws Exception {
    // The case of the brief: "aaaa", "bbbb", then "cccccccc" overflows. (It passes on the old code
    // too: after "aaaa" the loop waits for 2 arrivals, and 2 arrive.)
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<String> flush = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).policy(FlushPolicy.bytes(String::length, 10))
        .flushInterval(HOURS).build(), Options.builder().timeSource(time).build())) {
      buffer.add("aaaa");
      buffer.add("bbbb");
      buffer.add("cccccccc");
      assertThat(flush.awaitBatches(1, WAIT)).containsExactly(List.of("aaaa", "bbbb"));
    }
    // The same decision after a light first item the loop has already parked on: it predicted 4
    // arrivals from "aa" (8 bytes of room / 2), but the second arrival overflows.
    ManualTimeSource still = new ManualTimeSource();
    RecordingFlush<String> light = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(light).policy(FlushPolicy.bytes(String::length, 10))
        .flushInterval(HOURS).build(), Options.builder().timeSource(still).build())) {
      buffer.add("aa");
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0 && still.timedWaiters() == 1);
      buffer.add("bbbb");
      buffer.add("cccccccc");
      assertThat(light.awaitBatches(1, WAIT)).containsExactly(List.of("aa", "bbbb"));
    }
  }

  @Test
  void oversizeRejectReachesOnRejectWithoutWaitingForTheClock() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    List<String> rejected = new CopyOnWriteArrayList<>();
    RecordingFlush<String> flush = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).policy(FlushPolicy.bytes(String::length, 10))
        .onReject(rejected::add).flushInterval(HOURS).build(), Options.builder().timeSource(time).build())) {
      buffer.add("a");
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0 && time.timedWaiters() == 1);
      buffer.add("x".repeat(12)); // above the per-item limit of 10: REJECT
      await("onReject of the oversize item on a still clock").atMost(WAIT).until(() -> !rejected.isEmpty());
      assertThat(rejected).containsExactly("x".repeat(12));
    }
    assertThat(flush.batches()).containsExactly(List.of("a"));
  }

  @Test
  void oversizeSendAloneIsSentWithoutWaitingForTheClock() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<String> flush = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush)
        .policy(FlushPolicy.bytes(String::length, 10, 5, Oversize.SEND_ALONE)).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).build())) {
      buffer.add("a");
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0 && time.timedWaiters() == 1);
      buffer.add("bbbbbbb"); // 7 > 5: flushes ["a"], then goes alone
      assertThat(flush.awaitBatches(2, WAIT)).containsExactly(List.of("a"), List.of("bbbbbbb"));
    }
  }

  /** The integers {@code [from, to)}, in order. */
  static List<Integer> range(int from, int to) {
    List<Integer> all = new ArrayList<>(to - from);
    for (int i = from; i < to; i++) {
      all.add(i);
    }
    return all;
  }
}
