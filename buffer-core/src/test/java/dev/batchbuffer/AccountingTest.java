package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The no-loss identity, accepted = flushed + failed + rejected, under racing producers, random
 * flush failures, random rejections and a close in the middle. Seeded: the seed is in the name.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AccountingTest {

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3, 42, 1234567})
  void everyAcceptedItemIsFlushedFailedOrRejected(long seed) throws Exception {
    SplittableRandom random = new SplittableRandom(seed);
    int failEvery = 2 + random.nextInt(5);
    int rejectEvery = 3 + random.nextInt(7);
    Ledger<Long> ledger = new Ledger<>();
    FlushFunc<Long> flush = batch -> {
      if (batch.get(0) % failEvery == 0) {
        throw new IOException("scripted failure");
      }
      ledger.flushed.flush(batch);
    };
    Config<Long> config = Config.builder(flush)
        .capacity(1 + random.nextInt(50))
        .chanSize(1 + random.nextInt(100))
        .flushInterval(Duration.ofMillis(1 + random.nextInt(20)))
        .canAdd((batch, item) -> item % rejectEvery != 0)
        .onReject(ledger::onReject)
        .onFlushError(ledger::onFlushError)
        .build();
    Buffer<Long> buffer = Buffer.start(config);
    int producers = 1 + random.nextInt(6);
    int perProducer = 2_000 + random.nextInt(3_000);
    Async.Producers threads = new Async.Producers();
    Thread first = null;
    for (int p = 0; p < producers; p++) {
      long base = (long) p << 32;
      boolean useOffer = random.nextBoolean();
      Thread t = threads.start("producer-" + p, () -> {
        for (long i = 0; i < perProducer; i++) {
          try {
            if (useOffer ? buffer.offer(base + i, Duration.ofMillis(5)) : addAndTrue(buffer, base + i)) {
              ledger.accepted.incrementAndGet();
            }
          } catch (IllegalStateException closed) {
            return;
          }
        }
      });
      first = first == null ? t : first;
    }
    // Close while producers may still be running.
    java.util.Objects.requireNonNull(first).join();
    buffer.close();
    threads.joinAll(TestConstants.WAIT);
    assertThat(buffer.itemsInChannel()).isZero();
    ledger.assertBalanced();
  }

  /**
   * The identity with its "while open" term: at a quiescent point of an open buffer (the loop
   * parked, with a partial batch waiting for its linger), what was accepted equals what was
   * flushed, failed and rejected plus what still waits in the channel or the batch; after close,
   * without that term. The callbacks count the first three, the stats the last.
   */
  @Test
  void identityHoldsAtAQuiescentPointWhileOpenAndAfterClose() throws Exception {
    Ledger<Integer> ledger = new Ledger<>();
    ManualTimeSource time = new ManualTimeSource();
    FlushFunc<Integer> flush = batch -> {
      if (batch.contains(4)) {
        throw new IOException("scripted failure");
      }
      ledger.flushed.flush(batch);
    };
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(3)
        .flushInterval(Duration.ofSeconds(1)).canAdd((batch, item) -> item % 5 != 0)
        .onReject(ledger::onReject).onFlushError(ledger::onFlushError).build(),
        Options.builder().timeSource(time).build());
    for (int i = 1; i <= 11; i++) { // 5 and 10 rejected; [1 2 3] flushed, [4 6 7] failed, [8 9 11] flushed
      buffer.add(i);
      ledger.accepted.incrementAndGet();
    }
    buffer.add(12); // the partial batch [12] waits for its linger
    ledger.accepted.incrementAndGet();
    // Quiescent: no producer adds, the clock stands still, the first eleven items are settled and
    // the loop is parked for the linger of [12] ([12] may still be in the channel: a lingering
    // batch is not woken per item). The ledger is waited for first: a timed waiter that an arrival
    // has unparked still counts as one until it runs, so the park alone does not prove quiescence.
    await("the first eleven items settled").atMost(TestConstants.WAIT).until(() ->
        ledger.flushed.itemCount() + ledger.failed.size() + ledger.rejected.size() == 11);
    time.awaitTimedWaiters(1, TestConstants.WAIT);
    BufferStats stats = buffer.stats();
    long waiting = stats.itemsWaiting(); // in the channel or the batch
    assertThat(waiting).as("the partial batch [12] waits, %s", stats).isEqualTo(1);
    assertThat((long) ledger.flushed.itemCount() + ledger.failed.size() + ledger.rejected.size()
        + waiting + stats.itemsFlushing()).as("accepted while open, %s", stats).isEqualTo(12);
    assertThat(stats.accepted()).isEqualTo(ledger.accepted.get()).isEqualTo(12);
    buffer.close();
    ledger.assertBalanced();
    assertThat(ledger.rejected).containsExactly(5, 10);
    assertThat(ledger.failed).containsExactly(4, 6, 7);
    assertThat(ledger.flushed.batches()).containsExactly(List.of(1, 2, 3), List.of(8, 9, 11),
        List.of(12));
  }

  private static boolean addAndTrue(Buffer<Long> buffer, long item) throws InterruptedException {
    buffer.add(item);
    return true;
  }
}
