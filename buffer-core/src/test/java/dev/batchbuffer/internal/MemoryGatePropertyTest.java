package dev.batchbuffer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.Async;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The memory bound is exact: racing producers acquire random weights (some above the whole bound),
 * a consumer releases them. Right after a producer's acquire of {@code w} returns, the gate holds
 * its {@code w} (nothing releases it yet), so the bound the gate promises can be checked without a
 * race: an item within the bound shares the gate with at most {@code limit - w} other bytes
 * ({@code w <= used() <= limit}); an oversize item is admitted only into an empty gate and nothing
 * joins it ({@code used() == w}); a weightless item holds nothing and pins nothing. Once everything
 * is released, {@code used()} is 0 again. Seeded;
 * the seed is in the test name and in every message.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MemoryGatePropertyTest {

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {11, 12, 13, 14, 15, 16, 17, 18})
  void heldBytesNeverExceedTheBoundUnlessOneOversizeItemIsAlone(long seed) throws Exception {
    SplittableRandom random = new SplittableRandom(seed);
    long limit = 10L + random.nextInt(100);
    MemoryGate<Long> gate = new MemoryGate<>(w -> w, limit, TimeSource.system());
    ArrayBlockingQueue<Long> held = new ArrayBlockingQueue<>(10_000);
    Queue<String> violations = new ConcurrentLinkedQueue<>();
    AtomicLong oversizeAdmitted = new AtomicLong();
    int producers = 4;
    int each = 2_000;
    Async.Producers threads = new Async.Producers();
    for (int p = 0; p < producers; p++) {
      SplittableRandom r = random.split();
      threads.start("producer-" + p, () -> {
        for (int i = 0; i < each; i++) {
          long w = r.nextInt(20) == 0 ? limit + r.nextInt(10) : r.nextInt((int) limit / 3 + 1);
          assertThat(gate.acquire(w, false, 0, () -> false)).isTrue();
          long used = gate.used(); // includes our w: only the consumer releases, after held.add
          // A weightless item holds nothing, so it pins nothing: an oversize item may come after it.
          boolean ok = w == 0 || (w > limit ? used == w : used >= w && used <= limit);
          if (w > limit) {
            oversizeAdmitted.incrementAndGet();
          }
          if (!ok) {
            violations.add("holding " + w + " of limit " + limit + ", used() was " + used);
          }
          held.add(w);
        }
      });
    }
    threads.start("consumer", () -> {
      for (int n = 0; n < producers * each; n++) {
        gate.release(held.take());
      }
    });
    threads.joinAll(Duration.ofSeconds(50));
    assertThat(violations).as("seed %d, limit %d", seed, limit).isEmpty();
    assertThat(oversizeAdmitted.get()).as("seed %d: oversize items were tried", seed).isPositive();
    assertThat(gate.used()).as("seed %d: everything released", seed).isZero();
    assertThat(gate.waiting()).as("seed %d: nobody waits", seed).isZero();
  }
}
