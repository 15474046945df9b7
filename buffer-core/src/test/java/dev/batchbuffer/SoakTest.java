package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.batchbuffer.Faults.Backend;
import dev.batchbuffer.Faults.Fault;
import dev.batchbuffer.Faults.Middleware;
import dev.batchbuffer.Faults.Outcomes;
import dev.batchbuffer.Faults.Setup;
import dev.batchbuffer.FaultInjectionTest.Producers;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import java.util.stream.Stream;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A bounded soak: for {@code -Dbatchbuffer.soakSeconds} (3 in the default build, 60 under
 * {@code ./mvnw -pl buffer-core -Psoak verify}) it runs one buffer lifetime after another, each
 * with a random configuration (plain or keyed, 1-4 flushes in flight, count or byte batches, a
 * memory bound or none, no middleware or retry, timeout and circuit breaker in front), random
 * producers (add, offer, timed offer, submit, flush()), random faults (flushes that throw, fail
 * some items, hang until interrupted or are slow; callbacks that refuse or throw; producers
 * interrupted while they wait) and a random close (bounded or not, racing the producers or after
 * them). Each lifetime ends with the accounting identity checked item by item: every accepted item
 * was delivered once, failed, rejected or returned undelivered, nothing refused got in, futures and
 * {@code stats()} agree. A summary line gives the totals, the faults injected by kind, the items
 * lost (which must be 0) and the peak heap retained.
 *
 * <p>Seeded from {@code -Dbatchbuffer.seed}, else from a random seed that is printed first.
 */
@Timeout(value = 2, unit = TimeUnit.HOURS) // the run bounds itself below, by its own length
class SoakTest {
  static final Duration WAIT = Duration.ofSeconds(10);
  static final List<Middleware> MIDDLEWARES = List.of(Middleware.values());
  /** Every fault but NONE. */
  static final List<Fault> FAULTS = Stream.concat(Fault.OF_FLUSH.stream(),
      Fault.OF_CALLBACKS.stream()).toList();

  /** What all lifetimes did together. */
  static final class Totals {
    long lifetimes;
    long accepted;
    long delivered;
    long failed;
    long rejected;
    long undelivered;
    long refused;
    long lost;
    final Map<String, AtomicLong> faults = new ConcurrentHashMap<>();
  }

  @Test
  void randomLifetimesUnderRandomFaultsLoseNoItemAndKeepTheAccountingIdentity() {
    int seconds = Integer.getInteger("batchbuffer.soakSeconds", 3);
    Long given = Long.getLong("batchbuffer.seed");
    long seed = given != null ? given : ThreadLocalRandom.current().nextLong();
    System.out.println("soak: seed " + seed + " (replay: -Dbatchbuffer.seed=" + seed + "), "
        + seconds + " s");
    assertTimeoutPreemptively(Duration.ofSeconds(seconds + 300L), () -> soak(seed, seconds));
  }

  private static void soak(long seed, int seconds) throws Exception {
    SplittableRandom r = new SplittableRandom(seed);
    Totals totals = new Totals();
    AtomicLong peakHeap = new AtomicLong();
    AtomicBoolean running = new AtomicBoolean(true);
    long baseline = FaultInjectionTest.heapAfterGc();
    Thread sampler = Thread.ofPlatform().name("soak-heap-sampler").daemon().start(() -> {
      while (running.get()) {
        peakHeap.accumulateAndGet(FaultInjectionTest.heapAfterGc(), Math::max);
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(250)); // sampling period
      }
    });
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    try {
      while (System.nanoTime() - end < 0) {
        long lifeSeed = r.nextLong();
        try {
          lifetime(lifeSeed, totals);
        } catch (Exception | AssertionError e) {
          throw new AssertionError("lifetime " + (totals.lifetimes + 1) + " failed (soak seed "
              + seed + ", replay: -Dbatchbuffer.seed=" + seed + "): " + e, e);
        }
        totals.lifetimes++;
      }
    } finally {
      running.set(false);
      sampler.join();
    }
    Map<String, Long> faults = new TreeMap<>();
    totals.faults.forEach((k, v) -> faults.put(k, v.get()));
    System.out.printf("SOAK seed=%d seconds=%d lifetimes=%d accepted=%d delivered=%d failed=%d"
            + " rejected=%d undelivered=%d refused=%d faults=%s lost=%d peakHeapMB=%.1f"
            + " (baseline %.1f)%n", seed, seconds, totals.lifetimes, totals.accepted,
        totals.delivered, totals.failed, totals.rejected, totals.undelivered, totals.refused,
        faults, totals.lost, peakHeap.get() / 1e6, baseline / 1e6);
    assertThat(totals.lost).as("items lost").isZero();
    assertThat(totals.lifetimes).as("lifetimes run").isPositive();
  }

  /** One buffer's life, from a random configuration to the check after its close. */
  private static void lifetime(long seed, Totals totals) throws Exception {
    SplittableRandom r = new SplittableRandom(seed);
    Middleware middleware = MIDDLEWARES.get(r.nextInt(MIDDLEWARES.size()));
    int itemBytes = 1 + r.nextInt(64);
    Setup setup = new Setup(r.nextBoolean(), 1 + r.nextInt(4), 1 + r.nextInt(16),
        1 + r.nextInt(64), r.nextBoolean(),
        r.nextInt(3) == 0 ? (long) itemBytes * (1 + r.nextInt(32)) : 0,
        Duration.ofMillis(1 + r.nextInt(10)), middleware, r.nextBoolean(), r.nextInt(3) == 0,
        itemBytes);
    int faultPercent = r.nextInt(40);
    Function<SplittableRandom, Fault> faults = fr -> {
      if (fr.nextInt(100) >= faultPercent) {
        return Fault.NONE;
      }
      Fault f = FAULTS.get(fr.nextInt(FAULTS.size()));
      return f == Fault.HANG && fr.nextInt(4) != 0 ? Fault.SLOW : f; // hangs are costly: fewer
    };
    // A hang without a timeout in front ends only by close(timeout)'s interrupt, so such a
    // lifetime closes with a timeout, while its producers run (they may wait behind the hang).
    boolean hangsUncut = !middleware.times() && faultPercent > 0;
    boolean racing = hangsUncut || r.nextBoolean();
    boolean bounded = hangsUncut || r.nextBoolean();
    boolean interrupting = r.nextBoolean();
    String context = "lifetime seed " + seed + ": " + setup + " faultPercent=" + faultPercent
        + " racing=" + racing + " boundedClose=" + bounded + " interrupting=" + interrupting;

    Backend backend = new Backend(Duration.ofNanos(r.nextInt(2_000_000)));
    Outcomes out = new Outcomes();
    BufferFace<Faults.Item> buffer = Faults.start(setup, backend, out);
    Producers producers = new Producers();
    AtomicLong interrupts = new AtomicLong();
    int producerCount = 1 + r.nextInt(8);
    for (int p = 0; p < producerCount; p++) {
      int id = p;
      long s = r.nextLong();
      int n = 50 + r.nextInt(450);
      producers.start("soak-producer-" + p, () -> Faults.produce(buffer, out, id, n,
          new SplittableRandom(s), faults, itemBytes));
    }
    AtomicBoolean interrupterOn = new AtomicBoolean(interrupting);
    long is = r.nextLong();
    Thread interrupter = Thread.ofVirtual().start(() -> {
      SplittableRandom ir = new SplittableRandom(is);
      while (interrupterOn.get() && producers.threads.stream().anyMatch(Thread::isAlive)) {
        producers.threads.get(ir.nextInt(producers.threads.size())).interrupt();
        interrupts.incrementAndGet();
        LockSupport.parkNanos(ir.nextInt(2_000_000)); // pacing of the interrupts
      }
    });
    if (racing) {
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(r.nextInt(150))); // the close's moment
    } else {
      producers.join();
    }
    if (bounded) {
      CloseResult<Faults.Item> result = buffer.close(Duration.ofMillis(r.nextInt(50)));
      out.undelivered(result.undelivered());
      if (!result.drained()) {
        Faults.count(totals.faults, "closeGaveUp");
      }
    } else {
      buffer.close();
    }
    interrupterOn.set(false);
    producers.join();
    assertThat(interrupter.join(WAIT)).isTrue();
    assertThat(out.closed.await(10, TimeUnit.SECONDS)).as("the loop ended").isTrue();
    try {
      // A flush that was still running when close(timeout) gave up is settled when it returns.
      await().atMost(WAIT).pollInterval(Duration.ofMillis(1)).until(
          () -> buffer.stats().itemsFlushing() == 0 && out.lost(backend) == 0);
    } catch (ConditionTimeoutException e) {
      // the check below says what is missing
    }
    Faults.requireNoViolations(out.violations(backend, buffer.stats()), context);

    totals.accepted += out.accepted.size();
    totals.delivered += backend.deliveredCount.get();
    totals.failed += out.failed.size();
    totals.rejected += out.rejected.size();
    totals.undelivered += out.undelivered.size();
    totals.refused += out.refused.size();
    totals.lost += out.lost(backend);
    backend.injected.forEach((k, v) -> totals.faults.computeIfAbsent(k.name(), x -> new AtomicLong())
        .addAndGet(v.get()));
    for (Faults.Fault f : Fault.OF_CALLBACKS) {
      long n = out.acceptedFaults.getOrDefault(f, new AtomicLong()).get();
      if (n > 0) {
        totals.faults.computeIfAbsent(f.name(), x -> new AtomicLong()).addAndGet(n);
      }
    }
    if (interrupts.get() > 0) {
      totals.faults.computeIfAbsent("interrupt", x -> new AtomicLong()).addAndGet(interrupts.get());
    }
    if (setup.throwingCallbacks()) {
      Faults.count(totals.faults, "throwingCallbackLifetimes");
    }
  }
}
