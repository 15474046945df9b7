package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * accepted = delivered + failed for good + rejected + undelivered at close, under random whole and
 * partial failures, retries, rejections, concurrent flushes and a bounded close. Every item has a
 * future; each future must end in exactly the bucket the callbacks counted. Seeded.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DeliveryAccountingTest {

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
  void everyAcceptedItemEndsInExactlyOneBucket(long seed) throws Exception {
    SplittableRandom random = new SplittableRandom(seed);
    ConcurrentLinkedQueue<Long> delivered = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<Long> failed = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<Long> rejected = new ConcurrentLinkedQueue<>();
    SplittableRandom backendRandom = random.split();
    FlushFunc<Long> backend = batch -> {
      int roll;
      synchronized (backendRandom) {
        roll = backendRandom.nextInt(10);
      }
      if (roll == 0) {
        throw new IOException("whole batch failed");
      }
      if (roll <= 2 && batch.size() > 1) {
        List<Integer> bad = new ArrayList<>();
        for (int i = 0; i < batch.size(); i += 2) {
          bad.add(i);
        }
        for (int i = 1; i < batch.size(); i += 2) {
          delivered.add(batch.get(i));
        }
        throw new PartialFlushException(bad, new IOException("some entries throttled"));
      }
      delivered.addAll(batch);
    };
    RetryPolicy retry = RetryPolicy.builder().maxAttempts(1 + random.nextInt(3))
        .backoff(Duration.ZERO, Duration.ZERO).build();
    FlushFunc<Long> flush = FlushMiddleware.chain(backend, FlushMiddleware.retry(retry, TimeSource.system()));
    Config<Long> config = Config.builder(flush)
        .capacity(1 + random.nextInt(30))
        .chanSize(1 + random.nextInt(60))
        .flushInterval(Duration.ofMillis(1 + random.nextInt(5)))
        .canAdd((batch, item) -> item % 13 != 0)
        .onReject(rejected::add)
        .onFlushError((e, batch) -> failed.addAll(batch))
        .build();
    Buffer<Long> buffer = Buffer.start(config,
        Options.builder().maxInFlight(1 + random.nextInt(3)).build());
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    List<Long> accepted = new ArrayList<>();
    int n = 500 + random.nextInt(2000);
    for (long i = 0; i < n; i++) {
      futures.add(buffer.submit(i));
      accepted.add(i);
    }
    CloseResult<Long> result = buffer.close(Duration.ofMillis(random.nextBoolean() ? 1 : 10_000));

    long[] ok = {0};
    long[] failedFutures = {0};
    long[] rejectedFutures = {0};
    long[] undeliveredFutures = {0};
    for (CompletableFuture<Void> f : futures) {
      try {
        f.get(10, TimeUnit.SECONDS);
        ok[0]++;
      } catch (ExecutionException e) {
        DeliveryException d = (DeliveryException) java.util.Objects.requireNonNull(e.getCause());
        switch (d.reason()) {
          case FAILED, EXPIRED, KEY_PAUSED -> failedFutures[0]++; // all went to onFlushError
          case REJECTED -> rejectedFutures[0]++;
          case UNDELIVERED -> undeliveredFutures[0]++;
        }
      }
    }
    String why = "seed " + seed + ", " + result;
    assertThat(ok[0] + failedFutures[0] + rejectedFutures[0] + undeliveredFutures[0])
        .as(why).isEqualTo(accepted.size());
    assertThat((long) delivered.size()).as(why).isEqualTo(ok[0]);
    assertThat((long) failed.size()).as(why).isEqualTo(failedFutures[0]);
    assertThat((long) rejected.size()).as(why).isEqualTo(rejectedFutures[0]);
    assertThat((long) result.undelivered().size()).as(why).isEqualTo(undeliveredFutures[0]);
    List<Long> all = new ArrayList<>(delivered);
    all.addAll(failed);
    all.addAll(rejected);
    all.addAll(result.undelivered());
    assertThat(all.stream().sorted().toList()).as(why + ": every item exactly once").isEqualTo(accepted);
  }
}
