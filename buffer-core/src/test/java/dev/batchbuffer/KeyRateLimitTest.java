package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static dev.batchbuffer.KeyedBufferTest.keyOf;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Proves {@link KeyedBuffer.Builder#keyRateLimit} and {@link KeyedBuffer.Builder#keyByteRateLimit}
 * on the manual clock: a hot key over its rate is held to it (its flushes, measured over every
 * window of the clock, never exceed the rate plus one second's burst) while cold keys are flushed
 * at the instant their batches are formed, inline and with flushes in flight; the bytes limit does
 * the same by weight; a keyed {@link ResultBuffer} is limited too; held batches bound what the loop
 * takes from the channel; close() sends held batches at their rate and close(Duration) gives them
 * up; the stats count the batches that had to wait; settings are validated.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class KeyRateLimitTest {

  /** One flush: its key, its items, and the manual time it started at. */
  record Flush(String key, List<String> items, long at) {}

  /** Records every flush with the clock's time. */
  static final class Recorder implements KeyedFlushFunc<String, String> {
    final ManualTimeSource time;
    final Queue<Flush> flushes = new ConcurrentLinkedQueue<>();

    Recorder(ManualTimeSource time) {
      this.time = time;
    }

    @Override
    public void flush(String key, List<String> batch) {
      flushes.add(new Flush(key, List.copyOf(batch), time.nanoTime()));
    }

    List<Flush> of(String key) {
      return flushes.stream().filter(f -> f.key().equals(key)).toList();
    }

    int items(String key) {
      return of(key).stream().mapToInt(f -> f.items().size()).sum();
    }
  }

  /**
   * Asserts that over every window [a, b] of flush times, what {@code key} sent (items, or bytes
   * by {@code weight}) is at most one second's burst plus the rate times the window.
   */
  static void assertWithinRate(List<Flush> flushes, long perSecond,
      java.util.function.ToLongFunction<String> weight) {
    for (int i = 0; i < flushes.size(); i++) {
      long sent = 0;
      for (int j = i; j < flushes.size(); j++) {
        for (String item : flushes.get(j).items()) {
          sent += weight.applyAsLong(item);
        }
        long nanos = flushes.get(j).at() - flushes.get(i).at();
        assertThat(sent * 1_000_000_000L).as("sent from flush %d to %d, %d ns apart (x 1e9)", i,
            j, nanos).isLessThanOrEqualTo(perSecond * (1_000_000_000L + nanos));
      }
    }
  }

  /** Advances the clock in steps until {@code done}, letting the loop park between steps. */
  static void driveUntil(ManualTimeSource time, Duration step, java.util.function.BooleanSupplier done)
      throws Exception {
    driveUntil(time, step, 1, done);
  }

  /** As above, waiting for {@code waiters} threads parked on the clock before each step. */
  static void driveUntil(ManualTimeSource time, Duration step, int waiters,
      java.util.function.BooleanSupplier done) throws Exception {
    for (int i = 0; i < 10_000 && !done.getAsBoolean(); i++) {
      // The loop parked on the clock, or what it worked for is done (it may have ended).
      await().atMost(WAIT).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1))
          .until(() -> done.getAsBoolean() || time.timedWaiters() >= waiters);
      if (!done.getAsBoolean()) {
        time.advance(step);
      }
    }
    assertThat(done.getAsBoolean()).as("done after driving the clock").isTrue();
  }

  @ParameterizedTest(name = "maxInFlight {0}")
  @ValueSource(ints = {1, 4})
  void aHotKeyOverItsRateDoesNotDelayColdKeys(int maxInFlight) throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Recorder recorder = new Recorder(time);
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, recorder)
        .policy(FlushPolicy.count(2)).flushInterval(HOURS).maxInFlight(maxInFlight)
        .keyRateLimit(10).timeSource(time).start()) {
      for (int i = 0; i < 60; i++) {
        buffer.add("hot:" + i); // 30 batches of 2: 5 go in the burst, 25 wait
      }
      for (int round = 0; round < 5; round++) {
        long addedAt = time.nanoTime();
        buffer.add("cold" + round + ":a");
        buffer.add("cold" + round + ":b");
        String key = "cold" + round;
        // The clock stands still until the cold batch is flushed: it cannot wait for the hot key.
        await().atMost(WAIT).until(() -> !recorder.of(key).isEmpty());
        assertThat(recorder.of(key)).singleElement()
            .satisfies(f -> assertThat(f.at()).as("cold batch flushed at once").isEqualTo(addedAt));
        time.awaitTimedWaiters(1, WAIT);
        time.advance(Duration.ofMillis(300));
      }
      assertThat(recorder.items("hot")).as("the hot key is still held back").isLessThan(60);
      driveUntil(time, Duration.ofMillis(100), () -> recorder.items("hot") == 60);
    }
    assertThat(recorder.of("hot").stream().flatMap(f -> f.items().stream()).toList())
        .as("the hot key's items in order").isEqualTo(hotItems(60));
  }

  @Test
  void theHotKeysMeasuredRateStaysWithinItsLimitPlusBurst() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Recorder recorder = new Recorder(time);
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, recorder)
        .policy(FlushPolicy.count(3)).flushInterval(HOURS).keyRateLimit(20).timeSource(time)
        .start()) {
      for (int i = 0; i < 300; i++) {
        buffer.add("hot:" + i);
      }
      driveUntil(time, Duration.ofMillis(37), () -> recorder.items("hot") == 300);
    }
    List<Flush> hot = recorder.of("hot");
    assertWithinRate(hot, 20, item -> 1);
    double seconds = (hot.get(hot.size() - 1).at() - hot.get(0).at()) / 1e9;
    // 300 items at 20/s after a burst of 20: 14 s at the least, and not much more.
    assertThat(seconds).isBetween(13.9, 14.5);
  }

  @Test
  void aBytesLimitHoldsAKeyToItsBytesPerSecond() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Recorder recorder = new Recorder(time);
    Weigher<String> length = String::length;
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, recorder)
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).keyByteRateLimit(length, 100)
        .timeSource(time).start()) {
      for (int i = 0; i < 40; i++) {
        buffer.add("big:" + "x".repeat(36)); // 40 bytes each: 2.5 per second
      }
      buffer.add("small:1");
      await().atMost(WAIT).until(() -> recorder.items("small") == 1);
      assertThat(recorder.items("big")).as("two in the burst of 100 bytes").isEqualTo(2);
      driveUntil(time, Duration.ofMillis(50), () -> recorder.items("big") == 40);
    }
    List<Flush> big = recorder.of("big");
    assertWithinRate(big, 100, String::length);
    double seconds = (big.get(big.size() - 1).at() - big.get(0).at()) / 1e9;
    assertThat(seconds).as("38 more items of 40 bytes at 100 bytes/s").isBetween(14.4, 15.6);
  }

  @Test
  void aKeyedResultBufferIsRateLimitedPerKey() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Queue<Long> answeredAt = new ConcurrentLinkedQueue<>();
    try (ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      for (int i = 0; i < batch.size(); i++) {
        r.succeed(i, batch.get(i).toUpperCase(java.util.Locale.ROOT));
        answeredAt.add(time.nanoTime());
      }
    }).keyed(KeyedBufferTest::keyOf, b -> b.policy(FlushPolicy.count(1)).flushInterval(HOURS)
        .keyRateLimit(2).timeSource(time)).start()) {
      List<CompletableFuture<String>> hot = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        hot.add(buffer.submit("hot:" + i));
      }
      CompletableFuture<String> cold = buffer.submit("cold:1");
      assertThat(cold.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("COLD:1");
      assertThat(hot.get(1).get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("HOT:1");
      time.awaitTimedWaiters(1, WAIT);
      assertThat(hot.get(2)).as("the third waits for the key's rate").isNotDone();
      driveUntil(time, Duration.ofMillis(100), () -> hot.stream().allMatch(CompletableFuture::isDone));
      for (int i = 0; i < 6; i++) {
        assertThat(hot.get(i).join()).isEqualTo("HOT:" + i);
      }
      assertThat(answeredAt.stream().mapToLong(Long::longValue).max().orElseThrow())
          .as("4 more at 2 per second").isGreaterThanOrEqualTo(TimeUnit.SECONDS.toNanos(2));
    }
  }

  @Test
  void heldItemsAtMaxBufferedItemsStopTheLoopTakingMore() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Recorder recorder = new Recorder(time);
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, recorder)
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).chanSize(1).maxBufferedItems(3)
        .keyRateLimit(1).timeSource(time).start()) {
      for (int i = 0; i < 4; i++) {
        buffer.add("hot:" + i); // one in the burst, three held: the bound
      }
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0);
      buffer.add("cold:1"); // the loop no longer takes it
      time.awaitTimedWaiters(1, WAIT);
      assertThat(buffer.itemsInChannel()).isEqualTo(1);
      assertThat(buffer.offer("cold:2")).as("the channel is full: add would wait").isFalse();
      assertThat(recorder.items("cold")).isZero();
      time.advance(Duration.ofSeconds(1)); // one held batch goes: room for one more
      await().atMost(WAIT).until(() -> recorder.items("cold") == 1);
      assertThat(recorder.items("hot")).isEqualTo(2);
      driveUntil(time, Duration.ofSeconds(1), () -> recorder.items("hot") == 4);
    }
  }

  @Test
  void closeSendsHeldBatchesAtTheirRate() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Recorder recorder = new Recorder(time);
    KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, recorder)
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).keyRateLimit(5).timeSource(time)
        .start();
    for (int i = 0; i < 15; i++) {
      buffer.add("hot:" + i);
    }
    CompletableFuture<Void> closing = Async.run(buffer::close);
    driveUntil(time, Duration.ofMillis(100), closing::isDone);
    closing.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    assertThat(recorder.items("hot")).isEqualTo(15);
    assertWithinRate(recorder.of("hot"), 5, item -> 1);
    assertThat(recorder.of("hot").get(14).at()).isGreaterThanOrEqualTo(TimeUnit.SECONDS.toNanos(2));
  }

  @Test
  void closeWithATimeoutGivesUpHeldBatchesAsUndelivered() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Recorder recorder = new Recorder(time);
    KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, recorder)
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).keyRateLimit(1).timeSource(time)
        .start();
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      futures.add(buffer.submit("hot:" + i));
    }
    CompletableFuture<CloseResult<String>> closing =
        Async.call(() -> buffer.close(Duration.ofMillis(2_500)));
    // Two on the clock: the closer (its timeout) and the loop (the key's bucket).
    driveUntil(time, Duration.ofMillis(500), 2, closing::isDone);
    CloseResult<String> result = closing.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    int sent = recorder.items("hot");
    assertThat(sent).as("the burst, then one at 1 s and 2 s").isEqualTo(3);
    assertThat(result.undelivered()).as("the rest, given up in order")
        .isEqualTo(hotItems(5).subList(sent, 5));
    BufferStats s = buffer.stats();
    assertThat(s.flushed() + s.undelivered()).isEqualTo(s.accepted());
    for (int i = sent; i < 5; i++) {
      assertThat(futures.get(i)).isCompletedExceptionally();
    }
  }

  @Test
  void statsCountTheBatchesThatWaitedForTheirKeysRate() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Recorder recorder = new Recorder(time);
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, recorder)
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).keyRateLimit(2).timeSource(time)
        .start()) {
      for (int i = 0; i < 5; i++) {
        buffer.add("hot:" + i);
      }
      buffer.add("cold:1");
      await().atMost(WAIT).until(() -> recorder.items("cold") == 1);
      assertThat(buffer.stats().batchesRateLimited()).isEqualTo(3);
      assertThat(buffer.stats().itemsWaiting()).as("held items are still waiting").isEqualTo(3);
      driveUntil(time, Duration.ofMillis(250), () -> recorder.items("hot") == 5);
      assertThat(buffer.stats().batchesRateLimited()).isEqualTo(3);
    }
  }

  @Test
  @SuppressWarnings("NullAway") // passing null is the point
  void rateSettingsAreValidatedNamingTheFieldAndTheValue() {
    KeyedBuffer.Builder<String, String> b = KeyedBuffer.builder(KeyedBufferTest::keyOf,
        (key, batch) -> { });
    assertThatThrownBy(() -> b.keyRateLimit(0)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("itemsPerSecond").hasMessageContaining("(was 0)");
    assertThatThrownBy(() -> b.keyRateLimit(1_000_000_001L))
        .hasMessageContaining("itemsPerSecond").hasMessageContaining("1000000001");
    assertThatThrownBy(() -> b.keyByteRateLimit(String::length, -5))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bytesPerSecond")
        .hasMessageContaining("(was -5)");
    assertThatThrownBy(() -> b.keyByteRateLimit(null, 5))
        .isInstanceOf(NullPointerException.class).hasMessageContaining("weigher");
  }

  private static List<String> hotItems(int n) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add("hot:" + i);
    }
    return out;
  }
}
