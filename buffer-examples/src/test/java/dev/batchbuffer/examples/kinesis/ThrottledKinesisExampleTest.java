package dev.batchbuffer.examples.kinesis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.BufferStats;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlowControl;
import dev.batchbuffer.Options;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;

/**
 * Runs the README's worked example of "Throttling backends": a {@link KinesisPublisher} with the
 * {@code PutRecords} preset, an adaptive {@link FlowControl} fed by
 * {@link KinesisPublisher#throttled}, a delivery timeout and a dead-letter hook, against a stream
 * that throttles records over its write limit per second as Kinesis does (on the manual clock).
 * It proves that a burst far over the limit is written exactly once, record by record, with the
 * throttled records retried and the limit cut and grown again; and that when the stream stops
 * taking anything, records expire into the dead letters after the timeout, counted as expired.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ThrottledKinesisExampleTest {
  static final int RECORDS = 3_000;
  static final int PER_SECOND = 1_000;

  /**
   * A stream whose shards together take {@code perSecond} records per second of the manual clock;
   * a record over that in the current second is answered {@code
   * ProvisionedThroughputExceededException} and not written. While {@link #down}, it takes none.
   */
  static final class ThrottlingStream implements KinesisClient {
    final ManualTimeSource time;
    final int perSecond;
    volatile boolean down;
    final Map<String, AtomicInteger> written = new ConcurrentHashMap<>();
    final AtomicInteger throttled = new AtomicInteger();
    final AtomicInteger calls = new AtomicInteger();
    private long second = -1;
    private int used;

    ThrottlingStream(ManualTimeSource time, int perSecond) {
      this.time = time;
      this.perSecond = perSecond;
    }

    @Override
    public synchronized PutRecordsResponse putRecords(PutRecordsRequest request) {
      calls.incrementAndGet();
      long now = time.nanoTime() / 1_000_000_000L;
      if (now != second) {
        second = now;
        used = 0;
      }
      List<PutRecordsResultEntry> results = new ArrayList<>();
      int failed = 0;
      for (PutRecordsRequestEntry entry : request.records()) {
        if (down || used >= perSecond) {
          failed++;
          throttled.incrementAndGet();
          results.add(PutRecordsResultEntry.builder()
              .errorCode("ProvisionedThroughputExceededException")
              .errorMessage("Rate exceeded for shard shardId-000000000000").build());
        } else {
          used++;
          written.computeIfAbsent(entry.data().asUtf8String(), d -> new AtomicInteger())
              .incrementAndGet();
          results.add(PutRecordsResultEntry.builder().shardId("shardId-000000000000")
              .sequenceNumber(Long.toString(used)).build());
        }
      }
      return PutRecordsResponse.builder().failedRecordCount(failed).records(results).build();
    }

    @Override
    public String serviceName() {
      return "kinesis";
    }

    @Override
    public void close() {}
  }

  /** Advances the clock in 50 ms steps whenever a thread waits on it, until {@code done}. */
  static void drive(ManualTimeSource time, BooleanSupplier done) {
    await().atMost(Duration.ofSeconds(90)).pollDelay(Duration.ZERO)
        .pollInterval(Duration.ofMillis(1)).until(() -> {
          if (done.getAsBoolean()) {
            return true;
          }
          if (time.timedWaiters() > 0) {
            time.advance(Duration.ofMillis(50));
          }
          return false;
        });
  }

  static boolean allDone(List<CompletableFuture<Void>> futures) {
    return futures.stream().allMatch(CompletableFuture::isDone);
  }

  @Test
  void aBurstOverTheStreamsLimitIsWrittenOnceAndAnOutageExpiresIntoTheDeadLetters()
      throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    ThrottlingStream kinesis = new ThrottlingStream(time, PER_SECOND);
    List<KinesisRecord> deadLetters = new CopyOnWriteArrayList<>();
    // --- README throttling kinesis ---
    FlowControl flow = FlowControl.aimd().maxLimit(16)          // PutRecords calls in flight: 1 to 16
        .throttledWhen(KinesisPublisher::throttled)              // records answered ProvisionedThroughputExceeded
        .build();
    KinesisPublisher producer = KinesisPublisher.start(kinesis, "orders", KinesisPublisher.policy(),
        Duration.ofMillis(100),                                  // KPL RecordMaxBufferedTime
        RetryPolicy.builder().maxAttempts(Integer.MAX_VALUE)     // until the deadline, throttled records first
            .backoff(Duration.ofMillis(100), Duration.ofSeconds(1)),
        (e, records) -> deadLetters.addAll(records),             // expired, failed for good, or too big
        Options.<KinesisRecord>builder().timeSource(time).flowControl(flow)
            .deliveryTimeout(Duration.ofSeconds(30))              // KPL RecordTtl
            .build());
    CompletableFuture<Void> written = producer.put(KinesisRecord.ofUtf8("order-17", "{\"total\":42}"));
    // --- end ---
    List<CompletableFuture<Void>> burst = new CopyOnWriteArrayList<>();
    burst.add(written);
    Thread.ofVirtual().start(() -> {
      try {
        for (int i = 1; i < RECORDS; i++) {
          burst.add(producer.put(KinesisRecord.ofUtf8("order-" + i % 50, "r-" + i)));
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    drive(time, () -> burst.size() == RECORDS && allDone(burst));
    assertThat(burst).allSatisfy(f -> assertThat(f).succeedsWithin(Duration.ofSeconds(5)));
    assertThat(deadLetters).isEmpty();
    assertThat(kinesis.written).hasSize(RECORDS)
        .allSatisfy((data, times) -> assertThat(times.get()).as(data).isEqualTo(1));
    BufferStats afterBurst = producer.stats();
    assertThat(kinesis.throttled.get()).as("the burst went over the limit").isPositive();
    assertThat(afterBurst.throttled()).as("the flow control saw it").isPositive();
    assertThat(afterBurst.retried()).isPositive();
    assertThat(afterBurst.concurrencyLimit()).isBetween(1, 16);
    long seconds = TimeUnit.NANOSECONDS.toSeconds(time.nanoTime());
    assertThat(seconds).as("the stream's limit paced the burst").isGreaterThanOrEqualTo(
        RECORDS / PER_SECOND - 1);

    kinesis.down = true; // the stream takes nothing: records expire after 30 s
    List<CompletableFuture<Void>> late = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      late.add(producer.put(KinesisRecord.ofUtf8("order-" + i, "late-" + i)));
    }
    long outageAt = time.nanoTime();
    drive(time, () -> allDone(late));
    assertThat(Duration.ofNanos(time.nanoTime() - outageAt)).as("expired by the deadline")
        .isLessThanOrEqualTo(Duration.ofSeconds(31));
    for (CompletableFuture<Void> f : late) {
      assertThat(f).failsWithin(Duration.ofSeconds(5))
          .withThrowableOfType(ExecutionException.class).havingCause()
          .isInstanceOfSatisfying(DeliveryException.class,
              d -> assertThat(d.reason()).isEqualTo(DeliveryException.Reason.EXPIRED));
    }
    producer.close();
    assertThat(deadLetters).extracting(r -> r.data().asUtf8String())
        .containsExactlyInAnyOrder("late-0", "late-1", "late-2", "late-3", "late-4", "late-5",
            "late-6", "late-7", "late-8", "late-9");
    BufferStats end = producer.stats();
    assertThat(end.expired()).isEqualTo(10);
    assertThat(end.accepted()).isEqualTo(RECORDS + 10);
    assertThat(end.accepted()).as("the accounting identity").isEqualTo(
        end.flushed() + end.failed() + end.rejected() + end.undelivered());
    assertThat(end.flushed()).isEqualTo(RECORDS);
  }
}
