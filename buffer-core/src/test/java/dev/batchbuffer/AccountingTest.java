package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
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
    List<Thread> threads = new ArrayList<>();
    for (int p = 0; p < producers; p++) {
      long base = (long) p << 32;
      boolean useOffer = random.nextBoolean();
      threads.add(Thread.ofVirtual().start(() -> {
        for (long i = 0; i < perProducer; i++) {
          try {
            if (useOffer ? buffer.offer(base + i, Duration.ofMillis(5)) : addAndTrue(buffer, base + i)) {
              ledger.accepted.incrementAndGet();
            }
          } catch (IllegalStateException closed) {
            return;
          } catch (InterruptedException e) {
            throw new AssertionError(e);
          }
        }
      }));
    }
    // Close while producers may still be running.
    threads.get(0).join();
    buffer.close();
    for (Thread t : threads) {
      t.join();
    }
    assertThat(buffer.itemsInChannel()).isZero();
    ledger.assertBalanced();
  }

  @Test
  void identityHoldsForAQuietBuffer() throws Exception {
    Ledger<String> ledger = new Ledger<>();
    Buffer<String> buffer = Buffer.start(Config.builder(ledger.flushed).build());
    buffer.close();
    ledger.assertBalanced();
    assertThat(ledger.flushed.batches()).isEmpty();
  }

  private static boolean addAndTrue(Buffer<Long> buffer, long item) throws InterruptedException {
    buffer.add(item);
    return true;
  }
}
