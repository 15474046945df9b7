package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link Buffer#stats()} and {@link KeyedBuffer#stats()}: every field, driven on a manual clock. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class StatsTest {
  static final Duration LINGER = Duration.ofSeconds(5);
  final ManualTimeSource time = new ManualTimeSource();

  Options<Object> manual() {
    return Options.builder().timeSource(time).build();
  }

  /** The identity of DESIGN.md, read from the stats alone. */
  static void assertBalanced(BufferStats s) {
    assertThat(s.flushed() + s.failed() + s.rejected() + s.undelivered() + s.itemsWaiting()
        + s.itemsFlushing()).as("identity in %s", s).isEqualTo(s.accepted());
  }

  @Test
  void countersFollowEveryItemToItsOutcome() throws Exception {
    ScriptedFlush<Integer> flush = ScriptedFlush.<Integer>builder()
        .succeed().fail(new IOException("down")).build();
    Ledger<Integer> ledger = new Ledger<>();
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(10).flushInterval(LINGER)
        .canAdd((batch, item) -> item % 7 != 0).onReject(ledger::onReject)
        .onFlushError(ledger::onFlushError).build(), manual());
    for (int i = 0; i < 100; i++) {
      buffer.add(i);
    }
    buffer.close();
    BufferStats s = buffer.stats();
    assertThat(s.accepted()).isEqualTo(100);
    assertThat(s.rejected()).isEqualTo(15).isEqualTo(ledger.rejected.size());
    assertThat(s.failed()).isEqualTo(10).isEqualTo(ledger.failed.size());
    assertThat(s.flushed()).isEqualTo(75).isEqualTo(flush.delivered().size());
    assertThat(s.itemsWaiting()).isZero();
    assertThat(s.itemsFlushing()).isZero();
    assertThat(s.flushes(FlushReason.COUNT)).isEqualTo(8);
    assertThat(s.flushes(FlushReason.CLOSE)).isEqualTo(1);
    assertThat(s.flushes()).isEqualTo(9);
    assertThat(s.state()).isEqualTo(BufferStats.State.CLOSED);
    assertBalanced(s);
  }

  @Test
  void flushesAreCountedByCountTimeExplicitAndCloseReasons() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(
        Config.builder(flush).capacity(2).chanSize(8).flushInterval(LINGER).build(), manual());
    buffer.add("a");
    buffer.add("b");
    flush.awaitBatches(1, WAIT);
    buffer.add("c");
    await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
    time.advance(LINGER);
    flush.awaitBatches(2, WAIT);
    buffer.add("d");
    buffer.flush().get(10, TimeUnit.SECONDS);
    buffer.add("e");
    buffer.close();
    assertThat(buffer.stats().flushesByReason()).containsAllEntriesOf(Map.of(
        FlushReason.COUNT, 1L, FlushReason.TIME, 1L, FlushReason.EXPLICIT, 1L,
        FlushReason.CLOSE, 1L, FlushReason.BYTES, 0L));
    assertThat(buffer.stats().flushesByReason()).containsOnlyKeys(FlushReason.values());
  }

  @Test
  void flushesAreCountedByBytesOverflowAndOversizeReasons() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    FlushPolicy<String> policy = FlushPolicy.<String>count(100)
        .or(FlushPolicy.bytes(String::length, 10, 10, Oversize.SEND_ALONE));
    Buffer<String> buffer = Buffer.start(
        Config.builder(flush).policy(policy).flushInterval(LINGER).build(), manual());
    for (String s : List.of("aaaaa", "bbbbb", "cccccc", "dddddd", "x".repeat(20))) {
      buffer.add(s);
    }
    buffer.close();
    assertThat(flush.batches()).containsExactly(List.of("aaaaa", "bbbbb"), List.of("cccccc"),
        List.of("dddddd"), List.of("x".repeat(20)));
    BufferStats s = buffer.stats();
    assertThat(s.flushes(FlushReason.BYTES)).isEqualTo(1);
    assertThat(s.flushes(FlushReason.OVERFLOW)).isEqualTo(2);
    assertThat(s.flushes(FlushReason.OVERSIZE)).isEqualTo(1);
    assertThat(s.flushes(FlushReason.CLOSE)).isZero();
  }

  @Test
  void flushesAreCountedByConditionAndPressureReasons() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .shouldFlush(batch -> batch.contains("!")).flushInterval(LINGER).build(), manual());
    buffer.add("a");
    buffer.add("!");
    buffer.close();
    assertThat(buffer.stats().flushes(FlushReason.CONDITION)).isEqualTo(1);

    KeyedBuffer<String, String> keyed = KeyedBuffer.<String, String>builder(s -> s,
        (key, batch) -> {}).maxKeys(1).timeSource(time).start();
    keyed.add("a");
    keyed.add("b"); // a second key while one is live: the first key's batch is flushed
    keyed.close();
    assertThat(keyed.stats().flushes(FlushReason.PRESSURE)).isEqualTo(1);
    assertThat(keyed.stats().flushes(FlushReason.CLOSE)).isEqualTo(1);
  }

  @Test
  void waitingAndFlushingGaugesShowAFlushInFlight() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder().awaitThenSucceed(gate).build();
    FlushPolicy<String> policy = FlushPolicy.<String>count(3)
        .or(FlushPolicy.bytes(String::length, 1000));
    Buffer<String> buffer = Buffer.start(
        Config.builder(flush).policy(policy).flushInterval(LINGER).build(), manual());
    buffer.add("aa");
    buffer.add("bb");
    buffer.add("cc");
    buffer.add("d");
    buffer.add("e");
    await().atMost(WAIT).untilAsserted(() -> {
      BufferStats s = buffer.stats();
      assertThat(s.itemsFlushing()).isEqualTo(3);
      assertThat(s.bytesFlushing()).isEqualTo(6);
      assertThat(s.flushesInFlight()).isEqualTo(1);
      assertThat(s.itemsWaiting()).isEqualTo(2); // still in the channel: the loop is flushing
      assertBalanced(s);
    });
    gate.countDown();
    await().atMost(WAIT).untilAsserted(() -> {
      BufferStats s = buffer.stats();
      assertThat(s.flushed()).isEqualTo(3);
      assertThat(s.itemsFlushing()).isZero();
      assertThat(s.flushesInFlight()).isZero();
      assertThat(s.itemsWaiting()).isEqualTo(2);
      assertThat(s.bytesWaiting()).isEqualTo(2); // weighed once the loop took them
    });
    buffer.close();
    BufferStats s = buffer.stats();
    assertThat(s.itemsWaiting()).isZero();
    assertThat(s.bytesWaiting()).isZero();
    assertBalanced(s);
  }

  @Test
  void oldestItemAgeAndUptimeFollowTheClock() throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .capacity(100).flushInterval(LINGER).build(), manual())) {
      time.advance(Duration.ofSeconds(1));
      assertThat(buffer.stats().uptime()).isEqualTo(Duration.ofSeconds(1));
      assertThat(buffer.stats().oldestItemAge()).isZero();
      buffer.add("a");
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(3));
      buffer.add("b"); // a younger item does not make the oldest younger
      assertThat(buffer.stats().oldestItemAge()).isEqualTo(Duration.ofSeconds(3));
      time.advance(Duration.ofSeconds(2)); // the linger flushes both
      await().atMost(WAIT).until(() -> buffer.stats().oldestItemAge().isZero());
      assertThat(buffer.stats().uptime()).isEqualTo(Duration.ofSeconds(6));
    }
  }

  @Test
  void batchSizesAndFlushLatencyAreSummarised() throws Exception {
    // Each flush takes as many milliseconds of the manual clock as its batch has items.
    FlushFunc<Integer> flush = batch -> time.advance(Duration.ofMillis(batch.size()));
    try (Buffer<Integer> buffer = Buffer.start(
        Config.builder(flush).capacity(1000).flushInterval(LINGER).build(), manual())) {
      BufferStats before = buffer.stats();
      assertThat(before.minBatchSize()).isZero();
      assertThat(before.meanBatchSize()).isZero();
      assertThat(before.flushLatencyP99()).isZero();
      for (int size = 1; size <= 10; size++) {
        for (int i = 0; i < size; i++) {
          buffer.add(i);
        }
        buffer.flush().get(10, TimeUnit.SECONDS);
      }
      BufferStats s = buffer.stats();
      assertThat(s.minBatchSize()).isEqualTo(1);
      assertThat(s.maxBatchSize()).isEqualTo(10);
      assertThat(s.meanBatchSize()).isEqualTo(5.5);
      assertThat(s.flushLatencyMax()).isEqualTo(Duration.ofMillis(10));
      assertThat(s.flushLatencyP99()).isEqualTo(Duration.ofMillis(10));
      assertThat(s.flushLatencyP50()).isBetween(Duration.ofMillis(5), Duration.ofMillis(5).plus(
          Duration.ofMillis(5).dividedBy(8)));
      assertThat(s.flushTimeTotal()).isEqualTo(Duration.ofMillis(55));
    }
  }

  @Test
  void producersBlockedCountsProducersWaitingForRoom() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder().awaitThenSucceed(gate).build();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(1)
        .flushInterval(LINGER).build(), manual());
    buffer.add("a");
    await().atMost(WAIT).until(() -> buffer.stats().flushesInFlight() == 1);
    buffer.add("b");
    Thread producer = Async.adding("producer", buffer, "c");
    await().atMost(WAIT).until(() -> buffer.stats().producersBlocked() == 1);
    gate.countDown();
    producer.join();
    buffer.close();
    assertThat(buffer.stats().producersBlocked()).isZero();
    assertThat(flush.delivered()).containsExactly("a", "b", "c");
  }

  @Test
  void stateGoesFromRunningThroughClosingToClosed() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder().awaitThenSucceed(gate).build();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1)
        .flushInterval(LINGER).build(), manual());
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.RUNNING);
    buffer.add("a");
    Thread closer = Thread.ofVirtual().start(buffer::close);
    await().atMost(WAIT).until(() -> buffer.stats().state() == BufferStats.State.CLOSING);
    gate.countDown();
    closer.join();
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }

  @Test
  void stateIsFailedAfterAFatalError() throws Exception {
    Map<String, Throwable> seen = new ConcurrentHashMap<>();
    FlushFunc<Integer> flush = batch -> {
      Thread.currentThread().setUncaughtExceptionHandler((t, e) -> seen.put(t.getName(), e));
      throw new OutOfMemoryError("simulated");
    };
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1)
        .flushInterval(LINGER).build(), Options.builder().name("stats-fatal").build());
    buffer.add(1);
    await().atMost(WAIT).until(() -> buffer.stats().state() == BufferStats.State.FAILED);
    buffer.close();
    assertThat(buffer.stats().state()).as("still FAILED after close").isEqualTo(BufferStats.State.FAILED);
    assertThat(buffer.stats().flushed()).isZero();
    await().atMost(WAIT).until(() -> seen.containsKey("stats-fatal"));
    assertThat(seen.get("stats-fatal")).isInstanceOf(OutOfMemoryError.class);
  }

  @Test
  void refusedCountsCallsAfterClose() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>()).build(),
        manual());
    buffer.close();
    assertThatThrownBy(() -> buffer.add("a")).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> buffer.offer("b")).isInstanceOf(IllegalStateException.class);
    assertThat(buffer.stats().refused()).isEqualTo(2);
    assertThat(buffer.stats().accepted()).isZero();
  }

  @Test
  void undeliveredCountsWhatCloseGaveUpOn() throws Exception {
    CountDownLatch never = new CountDownLatch(1);
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder().awaitThenSucceed(never).build();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).flushInterval(LINGER)
        .onFlushError((e, batch) -> {}).build(), manual());
    buffer.add("a");
    await().atMost(WAIT).until(() -> buffer.stats().flushesInFlight() == 1);
    buffer.add("b");
    buffer.add("c");
    CompletableFuture<CloseResult<String>> closing =
        Async.call(() -> buffer.close(Duration.ofMillis(50)));
    time.awaitTimedWaiters(1, WAIT); // close waits on the manual clock (the loop is in the flush)
    time.advance(Duration.ofMillis(50));
    CloseResult<String> result = closing.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    // The flush close(timeout) interrupted is handed back too: nothing reached the backend.
    assertThat(result.undelivered()).containsExactly("a", "b", "c");
    BufferStats s = buffer.stats();
    assertThat(s.undelivered()).isEqualTo(3);
    assertThat(s.failed()).isZero();
    assertBalanced(s);
  }

  @Test
  void retriedCountsItemsSentAgainByTheRetryMiddleware() throws Exception {
    ScriptedFlush<String> backend = ScriptedFlush.<String>builder()
        .fail(2, new IOException("busy")).succeed()
        .failItems(new IOException("one throttled"), 1).succeed().build();
    RetryPolicy policy = RetryPolicy.builder().maxAttempts(3)
        .backoff(Duration.ofMillis(1), Duration.ofMillis(1)).jitter(0).build();
    FlushFunc<String> flush = FlushMiddleware.<String>retry(policy, TimeSource.system())
        .wrap(backend);
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(3)
        .flushInterval(LINGER).build(), manual());
    for (String s : List.of("a", "b", "c", "d", "e", "f")) {
      buffer.add(s);
    }
    buffer.close();
    BufferStats s = buffer.stats();
    assertThat(s.retried()).isEqualTo(2 * 3 + 1);
    assertThat(s.flushed()).isEqualTo(6);
    assertThat(s.failed()).isZero();
  }

  @Test
  void recentErrorsKeepTheLastFewFailuresWithoutTheirItems() throws Exception {
    ScriptedFlush<Integer> flush = ScriptedFlush.<Integer>builder()
        .thenFail(new IOException("down")).build();
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(2)
        .flushInterval(LINGER).onFlushError((e, batch) -> {}).build(), manual());
    assertThat(buffer.stats().lastError()).isNull();
    for (int i = 0; i < 21; i++) {
      buffer.add(i);
    }
    buffer.close();
    BufferStats s = buffer.stats();
    assertThat(s.recentErrors()).hasSize(BufferStats.RECENT_ERRORS);
    FlushError last = java.util.Objects.requireNonNull(s.lastError());
    assertThat(last.batchSize()).isEqualTo(1); // the close flush of the 21st item
    assertThat(last.failed()).isEqualTo(1);
    assertThat(last.reason()).isEqualTo(FlushReason.CLOSE);
    assertThat(last.error()).hasMessage("down");
    assertThat(s.recentErrors().get(0).batchSize()).isEqualTo(2);
    assertThat(s.failed()).isEqualTo(21);
  }

  @Test
  void keyedStatsCountLiveKeys() throws Exception {
    RecordingFlush<String> flushed = new RecordingFlush<>();
    KeyedBuffer<Character, String> keyed = KeyedBuffer.<Character, String>builder(
        s -> s.charAt(0), (key, batch) -> flushed.flush(batch))
        .policy(FlushPolicy.count(10)).timeSource(time).name("keyed-stats").start();
    keyed.add("a1");
    keyed.add("b1");
    keyed.add("c1");
    await().atMost(WAIT).until(() -> keyed.stats().keys() == 3);
    BufferStats s = keyed.stats();
    assertThat(s.name()).isEqualTo("keyed-stats");
    assertThat(s.itemsWaiting()).isEqualTo(3);
    keyed.close();
    assertThat(keyed.stats().flushed()).isEqualTo(3);
    assertThat(keyed.stats().flushes(FlushReason.CLOSE)).isEqualTo(3);
    assertBalanced(keyed.stats());
  }

  @Test
  void keyedBytesWaitingFollowAppendsAndEveryKindOfFlush() throws Exception {
    KeyedBuffer<Character, String> keyed = KeyedBuffer.<Character, String>builder(
            s -> s.charAt(0), (key, batch) -> {})
        .policy(FlushPolicy.<String>count(3).or(FlushPolicy.bytes(String::length, 10)))
        .flushInterval(LINGER).timeSource(time).start();
    keyed.add("a1");
    keyed.add("b22");
    await().atMost(WAIT).until(() -> keyed.stats().bytesWaiting() == 5);
    keyed.add("a333333"); // a: 2 + 7 = 9 bytes
    keyed.add("a44");     // overflows a's 10 bytes: a's 9 leave, 3 come in
    await().atMost(WAIT).until(() -> keyed.stats().bytesWaiting() == 3 + 3);
    keyed.add("b5");
    keyed.add("b6");      // b's third item: a count flush
    await().atMost(WAIT).until(() -> keyed.stats().bytesWaiting() == 3);
    keyed.flush().get(10, TimeUnit.SECONDS);
    assertThat(keyed.stats().bytesWaiting()).isZero();
    keyed.add("c1");
    await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
    time.advance(LINGER); // a time flush
    await().atMost(WAIT).until(() -> keyed.stats().flushes(FlushReason.TIME) == 1);
    await().atMost(WAIT).until(() -> keyed.stats().bytesWaiting() == 0);
    keyed.close();
    assertBalanced(keyed.stats());
  }

  @Test
  void statsOfAPlainBufferHaveNoKeys() throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>()).build(),
        Options.builder().name("plain").build())) {
      assertThat(buffer.stats().keys()).isZero();
      assertThat(buffer.stats().name()).isEqualTo("plain");
    }
  }

  @Test
  void flushesInFlightNeverExceedsMaxInFlight() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
        .awaitThenSucceed(gate).awaitThenSucceed(gate).build();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(8)
        .flushInterval(LINGER).build(), Options.builder().timeSource(time).maxInFlight(2).build());
    buffer.add("a");
    buffer.add("b");
    buffer.add("c"); // its flush waits for a free slot
    await().atMost(WAIT).until(() -> buffer.stats().flushesInFlight() == 2);
    BufferStats s = buffer.stats();
    assertThat(s.itemsFlushing()).isEqualTo(2);
    assertThat(s.itemsWaiting()).isEqualTo(1);
    assertBalanced(s);
    gate.countDown();
    buffer.close();
    assertThat(buffer.stats().flushed()).isEqualTo(3);
  }

  @Test
  void keyedOldestItemAgeIsTheOldestBatchEvenWhenKeysLingerDifferently() throws Exception {
    KeyedBuffer<String, String> keyed = KeyedBuffer.<String, String>builder(s -> s,
            (key, batch) -> {})
        .policy(key -> FlushPolicy.<String>count(10).or(FlushPolicy.age(
            key.equals("slow") ? Duration.ofSeconds(10) : Duration.ofSeconds(1))))
        .flushInterval(Duration.ofHours(1)).timeSource(time).start();
    keyed.add("slow");
    await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
    time.advance(Duration.ofSeconds(5));
    keyed.add("fast"); // armed later but due sooner
    await().atMost(WAIT).untilAsserted(() -> {
      BufferStats s = keyed.stats();
      assertThat(s.itemsWaiting()).isEqualTo(2);
      assertThat(s.oldestItemAge()).isEqualTo(Duration.ofSeconds(5));
    });
    keyed.close();
  }

  @Test
  void aPartialFailureNamingNoItemCountsAsDelivered() throws Exception {
    Ledger<String> ledger = new Ledger<>();
    FlushFunc<String> flush = batch -> {
      ledger.flushed.flush(batch);
      throw new PartialFlushException(List.of(), new IOException("nothing failed"));
    };
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).flushInterval(LINGER)
        .onFlushError(ledger::onFlushError).build(), manual());
    java.util.concurrent.CompletableFuture<Void> a = buffer.submit("a");
    buffer.add("b");
    buffer.close();
    assertThat(a).isCompleted();
    assertThat(ledger.failed).isEmpty();
    assertThat(buffer.stats().flushed()).isEqualTo(2);
    assertThat(buffer.stats().failed()).isZero();
    assertThat(buffer.stats().recentErrors()).isEmpty();
  }

  @Test
  void retriesOutsideTheFlushFunctionAreNotCounted() throws Exception {
    ScriptedFlush<String> deadLetters = ScriptedFlush.<String>builder()
        .fail(new IOException("busy")).build();
    RetryPolicy policy = RetryPolicy.builder().maxAttempts(3)
        .backoff(Duration.ofMillis(1), Duration.ofMillis(1)).jitter(0).build();
    FlushFunc<String> retryingDeadLetters = FlushMiddleware.<String>retry(policy,
        TimeSource.system()).wrap(deadLetters);
    ScriptedFlush<String> backend = ScriptedFlush.<String>builder()
        .thenFail(new IOException("down")).build();
    Buffer<String> buffer = Buffer.start(Config.builder(backend).capacity(1).flushInterval(LINGER)
        .onFlushError((e, batch) -> {
          try {
            retryingDeadLetters.flush(batch);
          } catch (Exception ex) {
            throw new IllegalStateException(ex);
          }
        }).build(), manual());
    buffer.add("a");
    buffer.close();
    assertThat(deadLetters.calls()).hasSize(2); // the dead-letter write was retried once...
    assertThat(buffer.stats().retried()).isZero(); // ...but not by this buffer's flush function
  }
}
