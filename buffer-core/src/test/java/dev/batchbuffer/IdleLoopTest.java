package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * After a burst that kept the channel full (which marks it contended: the loop then polls for
 * arrivals instead of parking), the loop must go back to sleep once the load stops, and stay
 * asleep: it parks on the buffer's clock, which counts every park here.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class IdleLoopTest {
  final CountingClock clock = new CountingClock();
  final AtomicInteger flushed = new AtomicInteger();

  /** Producers, half on virtual and half on platform threads, add {@code each} items each at once. */
  void burst(ThrowingAdd add, int producers, int each) throws InterruptedException {
    CountDownLatch go = new CountDownLatch(1);
    Async.Producers threads = new Async.Producers();
    for (int p = 0; p < producers; p++) {
      String name = "p" + p;
      threads.start(name, p % 2 == 0, () -> {
        go.await();
        for (int i = 0; i < each; i++) {
          add.add(name + "-" + i);
        }
      });
    }
    go.countDown();
    threads.joinAll(Duration.ofSeconds(30));
  }

  interface ThrowingAdd {
    void add(String item) throws Exception;
  }

  /** Waits until the loop is parked and then checks that it makes no further park for a while. */
  void assertTheLoopParksAndStaysParked(int expectedTimedWaiters) {
    await().atMost(WAIT).until(() -> clock.time.waiters() == 1
        && clock.time.timedWaiters() == expectedTimedWaiters);
    long parks = clock.parks.get();
    await().during(Duration.ofMillis(300)).atMost(WAIT)
        .until(() -> clock.parks.get() == parks && clock.time.waiters() == 1);
  }

  /** capacity 1: nothing is left in a batch, so the loop waits without a deadline. */
  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {1, 4, 64})
  void afterAContendedBurstTheLoopParksWithoutADeadline(int chanSize) throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.<String>builder(b -> flushed.addAndGet(
            b.size())).capacity(1).chanSize(chanSize).flushInterval(Duration.ofHours(1)).build(),
        Options.<String>builder().timeSource(clock).build())) {
      burst(buffer::add, 4, 3_000);
      await().atMost(WAIT).until(() -> flushed.get() == 12_000);
      assertTheLoopParksAndStaysParked(0);
      assertThat(buffer.stats().producersBlocked()).isZero();
      assertThat(buffer.itemsInChannel()).isZero();
    }
  }

  /** A partial batch is left: the loop waits for its linger on the clock, and only for that. */
  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {2, 16})
  void afterAContendedBurstTheLoopLingersOnItsPartialBatch(int chanSize) throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.<String>builder(b -> flushed.addAndGet(
            b.size())).capacity(7).chanSize(chanSize).flushInterval(Duration.ofSeconds(1)).build(),
        Options.<String>builder().timeSource(clock).build())) {
      burst(buffer::add, 4, 3_001); // 12 004 = 7 * 1714 + 6
      await().atMost(WAIT).until(() -> flushed.get() == 7 * 1714);
      assertTheLoopParksAndStaysParked(1);
      clock.time.advance(Duration.ofSeconds(1));
      await().atMost(WAIT).until(() -> flushed.get() == 12_004);
      assertTheLoopParksAndStaysParked(0);
    }
  }

  @Test
  void afterAContendedBurstAKeyedLoopParks() throws Exception {
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            s -> s.substring(0, 2), (key, b) -> flushed.addAndGet(b.size()))
        .policy(FlushPolicy.count(1)).chanSize(4).flushInterval(Duration.ofSeconds(1))
        .timeSource(clock).start()) {
      burst(buffer::add, 4, 3_000);
      await().atMost(WAIT).until(() -> flushed.get() == 12_000);
      // Idle keys are swept on the clock: the loop waits with that deadline.
      assertTheLoopParksAndStaysParked(1);
    }
  }

  @Test
  void afterAContendedBurstWithFlushesInParallelTheLoopParks() throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.<String>builder(b -> flushed.addAndGet(
            b.size())).capacity(2).chanSize(4).flushInterval(Duration.ofHours(1)).build(),
        Options.<String>builder().timeSource(clock).maxInFlight(3).build())) {
      burst(buffer::add, 4, 3_000);
      await().atMost(WAIT).until(() -> flushed.get() == 12_000);
      assertTheLoopParksAndStaysParked(0);
    }
  }
}
