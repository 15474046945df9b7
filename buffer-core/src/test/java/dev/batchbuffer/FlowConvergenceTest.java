package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntUnaryOperator;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException;

/**
 * {@link FlowControl} against a simulated backend of fixed capacity: it serves at most C calls at
 * once, and throttles the calls beyond C (a Kinesis shard answering
 * {@code ProvisionedThroughputExceededException}). The test is the backend's clock: it holds every
 * call, and each round (100 ms of the manual clock) answers the calls in flight, the first C with
 * success and the rest throttled, one call at a time, waiting after each for the buffer to settle
 * it and start what its limit allows. So the run is deterministic, and each round shows the limit
 * and the calls in flight. It proves that the limit converges near C (the AIMD sawtooth between C/2
 * and C+1) with a low throttled fraction, and that when the capacity is raised (throttling ends)
 * the limit and the throughput recover. Every accepted item is delivered or handed to onFlushError.
 * The numbers are printed.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FlowConvergenceTest {
  private static final Duration WAIT = Duration.ofSeconds(20);
  private static final int BATCH = 10;

  /** One round of the backend: the limit when it began, the calls in it, how many were throttled. */
  record Round(int index, int limit, int calls, int throttled) {}

  /** A call held until the test answers it. */
  static final class Call {
    final int items;
    final CountDownLatch answered = new CountDownLatch(1);
    volatile boolean throttle;

    Call(int items) {
      this.items = items;
    }
  }

  /** Holds every call until the test answers it; after open(), answers every call with success. */
  static final class HeldBackend implements FlushFunc<Integer> {
    private final List<Call> held = new ArrayList<>();
    private boolean open;
    final AtomicLong delivered = new AtomicLong();

    @Override
    public void flush(List<Integer> batch) throws Exception {
      Call call = new Call(batch.size());
      synchronized (this) {
        if (open) {
          call.answered.countDown();
        } else {
          held.add(call);
        }
      }
      call.answered.await();
      if (call.throttle) {
        throw new ProvisionedThroughputExceededException();
      }
      delivered.addAndGet(batch.size());
    }

    synchronized List<Call> takeAll() {
      List<Call> round = new ArrayList<>(held);
      held.clear();
      return round;
    }

    synchronized int held() {
      return held.size();
    }

    synchronized void open() {
      open = true;
      for (Call c : takeAll()) {
        c.answered.countDown();
      }
    }
  }

  /**
   * Runs {@code rounds} rounds against a backend whose capacity in round r is
   * {@code capacity.applyAsInt(r)}; prints and returns them.
   */
  private static List<Round> simulate(String title, FlowControl flow, int rounds,
      IntUnaryOperator capacity) throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    HeldBackend backend = new HeldBackend();
    AtomicLong failed = new AtomicLong();
    AtomicLong accepted = new AtomicLong();
    Buffer<Integer> buffer = Buffer.start(Config.builder(backend).capacity(BATCH).chanSize(4_000)
        .flushInterval(Duration.ofHours(1)).onFlushError((e, items) -> failed.addAndGet(items.size()))
        .build(), Options.builder().timeSource(time).flowControl(flow).build());
    CompletableFuture<Void> producer = Async.run(() -> {
      for (int i = 0; ; i++) {
        try {
          buffer.add(i);
        } catch (IllegalStateException closed) {
          return;
        }
        accepted.incrementAndGet();
      }
    });
    List<Round> out = new ArrayList<>();
    try {
      awaitSteady(buffer, backend, 0, 0);
      long settled = 0;
      for (int r = 0; r < rounds; r++) {
        int limit = buffer.stats().concurrencyLimit();
        List<Call> round = backend.takeAll();
        int c = capacity.applyAsInt(r);
        int throttled = 0;
        for (int i = 0; i < round.size(); i++) {
          if (i >= c) {
            round.get(i).throttle = true;
            throttled++;
          }
        }
        for (int i = 0; i < round.size(); i++) {
          Call call = round.get(i);
          call.answered.countDown();
          settled += call.items;
          awaitSteady(buffer, backend, settled, round.size() - i - 1);
        }
        out.add(new Round(r, limit, round.size(), throttled));
        time.advance(Duration.ofMillis(100));
      }
    } finally {
      backend.open();
      buffer.close();
      producer.get(30, TimeUnit.SECONDS);
    }
    assertThat(backend.delivered.get() + failed.get()).as("accepted = delivered + failed")
        .isEqualTo(accepted.get());
    assertThat(buffer.stats().failed()).isEqualTo(failed.get());
    print(title, out);
    return out;
  }

  /**
   * Waits until the buffer has settled {@code settled} items and can start no more flushes: every
   * flush it started is held by the backend (or is one of the {@code unanswered} of this round)
   * and they are at least its limit.
   */
  private static void awaitSteady(Buffer<Integer> buffer, HeldBackend backend, long settled,
      int unanswered) {
    Awaitility.await().atMost(WAIT).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1))
        .until(() -> {
          BufferStats s = buffer.stats();
          int inFlight = backend.held() + unanswered;
          return s.flushed() + s.failed() == settled && s.flushesInFlight() == inFlight
              && inFlight >= s.concurrencyLimit();
        });
  }

  private static void print(String title, List<Round> rounds) {
    StringBuilder sb = new StringBuilder("\n" + title + "\nround  t(ms)  limit  calls  throttled\n");
    for (Round r : rounds) {
      sb.append(String.format("%5d  %5d  %5d  %5d  %9d%n", r.index(), r.index() * 100, r.limit(),
          r.calls(), r.throttled()));
    }
    System.out.print(sb);
  }

  private static double throttledFraction(List<Round> rounds) {
    long calls = rounds.stream().mapToLong(Round::calls).sum();
    long throttled = rounds.stream().mapToLong(Round::throttled).sum();
    return (double) throttled / calls;
  }

  private static IntSummaryLine summary(List<Round> rounds) {
    return new IntSummaryLine(rounds.stream().mapToInt(Round::calls).min().orElse(0),
        rounds.stream().mapToInt(Round::calls).max().orElse(0),
        rounds.stream().mapToInt(Round::calls).average().orElse(0));
  }

  /** Calls in flight per round: the least, the most and the mean. */
  record IntSummaryLine(int min, int max, double mean) {}

  @Test
  void theLimitConvergesNearTheBackendsCapacityWithFewThrottledCalls() throws Exception {
    int c = 8;
    List<Round> rounds = simulate("convergence: capacity " + c + " calls at once, AIMD 1..64",
        FlowControl.aimd().initialLimit(1).maxLimit(64).build(), 80, r -> c);
    List<Round> steady = rounds.subList(20, rounds.size());
    IntSummaryLine calls = summary(steady);
    double fraction = throttledFraction(rounds);
    System.out.printf("steady state (rounds 20..79): calls in flight min %d, max %d, mean %.2f"
        + " (capacity %d); throttled fraction over all rounds %.4f%n", calls.min(), calls.max(),
        calls.mean(), c, fraction);
    assertThat(rounds.get(0).limit()).isEqualTo(1);
    // The AIMD sawtooth: never above C + 1 (the round that finds the capacity, and the round of
    // the calls already in flight when it was cut), never below half of it; on average at least
    // 75% of the capacity (measured: 6..9, mean 7.80 for C = 8). Each sawtooth throttles two calls,
    // one that cuts and one of the old window that does not (measured: 4.7% of the calls).
    assertThat(calls.min()).isGreaterThanOrEqualTo(c / 2);
    assertThat(calls.max()).isLessThanOrEqualTo(c + 1);
    assertThat(calls.mean()).isBetween(0.75 * c, 1.0 * c);
    assertThat(fraction).as("throttled calls / calls").isLessThan(0.06);
    assertThat(steady).allMatch(r -> r.throttled() <= 1, "at most one throttled call a round");
  }

  @Test
  void whenThrottlingEndsTheLimitAndThroughputRecover() throws Exception {
    int low = 4;
    int high = 16;
    int raiseAt = 30;
    List<Round> rounds = simulate("recovery: capacity " + low + " until round " + raiseAt
            + ", then " + high + ", AIMD 1..64",
        FlowControl.aimd().initialLimit(1).maxLimit(64).build(), 70,
        r -> r < raiseAt ? low : high);
    IntSummaryLine before = summary(rounds.subList(10, raiseAt));
    int recoveredAt = -1;
    for (Round r : rounds.subList(raiseAt, rounds.size())) {
      if (r.calls() >= high * 3 / 4) {
        recoveredAt = r.index();
        break;
      }
    }
    IntSummaryLine after = summary(rounds.subList(raiseAt + 20, rounds.size()));
    System.out.printf("capacity %d: calls in flight mean %.2f (%.0f items a round); capacity %d"
            + " from round %d: %d calls (75%%) first reached in round %d; rounds %d..%d mean %.2f"
            + " (%.0f items a round); throttled fraction %.4f%n", low, before.mean(),
        before.mean() * BATCH, high, raiseAt, high * 3 / 4, recoveredAt, raiseAt + 20,
        rounds.size() - 1, after.mean(), after.mean() * BATCH, throttledFraction(rounds));
    assertThat(before.max()).isLessThanOrEqualTo(low + 1);
    assertThat(recoveredAt).as("recovers within 20 rounds of the raise")
        .isBetween(raiseAt, raiseAt + 20);
    // measured: 75% of the new capacity first reached 9 rounds after the raise; mean 13.95 of 16
    assertThat(after.mean()).as("throughput recovers to the sawtooth of the new capacity")
        .isBetween(0.75 * high, 1.0 * high);
    assertThat(after.max()).isLessThanOrEqualTo(high + 1);
  }
}
