package dev.batchbuffer.examples.kinesis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchbuffer.BufferStats;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.Record;

/**
 * {@link KinesisPublisher} end to end against kinesalite (started once for the class by
 * {@link LocalKinesis} on 127.0.0.1, killed by its pid after): every record read back from every
 * shard exactly once and in order per partition key; every {@code PutRecords} request within the
 * preset's count and byte limits, measured on the JSON body the SDK sent ({@link PutRecordsMeter});
 * per-record throttling ({@link Throttler} injects {@code ProvisionedThroughputExceededException},
 * which kinesalite never answers) retried record by record, in order, each record ending written or
 * dead-lettered; a kinesalite killed mid-run failing exactly the undelivered futures into the
 * dead-letter hook; and the buffer's accounting identity after each run. Skips itself, saying why,
 * where {@code node} or {@code npm} is missing.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class KinesisIT {
  private static @Nullable LocalKinesis server;

  private final List<Dead> deadLetters = new CopyOnWriteArrayList<>();
  private final List<AutoCloseable> toClose = new ArrayList<>();

  /** One call of the dead-letter hook. */
  record Dead(Exception failure, List<KinesisRecord> records) {}

  /** One record put and its future. */
  record Put(KinesisRecord record, CompletableFuture<Void> future) {}

  @BeforeAll
  static void startKinesalite() throws Exception {
    Optional<String> why = LocalKinesis.unavailable();
    assumeTrue(why.isEmpty(), () -> "KinesisIT skipped: " + why.orElse(""));
    server = LocalKinesis.start();
    System.out.printf(Locale.ROOT, "kinesalite up in %.2f s (pid %d, %s)%n",
        server.startupTime().toMillis() / 1000.0, server.pid(), server.endpoint());
  }

  @AfterAll
  static void stopKinesalite() {
    LocalKinesis s = server;
    if (s != null) {
      s.close();
    }
  }

  @org.junit.jupiter.api.AfterEach
  void closeClients() throws Exception {
    for (AutoCloseable c : toClose.reversed()) {
      c.close();
    }
  }

  @Test
  void everyRecordArrivesExactlyOnceInOrderPerKeyInRequestsOfAtMost500(TestInfo test)
      throws Exception {
    PutRecordsMeter meter = new PutRecordsMeter();
    KinesisClient kinesis = client(List.of(meter));
    String stream = stream(kinesis, test, 4);
    KinesisPublisher publisher = publisher(kinesis, stream, KinesisPublisher.policy(), 3);

    List<Put> puts = produce(publisher, 8, 1_250, new Random(11), 20, 200);
    publisher.close();

    assertThat(outcomes(puts)).as("futures").containsOnlyNulls();
    assertThat(deadLetters).isEmpty();
    assertExactlyOnceInOrderPerKey(KinesisStreams.readAll(kinesis, stream), puts);
    List<PutRecordsMeter.Sent> sent = meter.sent();
    assertThat(sent).allSatisfy(r -> {
      assertThat(r.records()).isBetween(1, Presets.KINESIS_MAX_RECORDS);
      assertThat(r.bytes()).isLessThanOrEqualTo(Presets.KINESIS_MAX_REQUEST_BYTES);
      assertThat(r.largestRecord()).isLessThanOrEqualTo(Presets.KINESIS_MAX_RECORD_BYTES);
    });
    assertThat(sent.stream().mapToInt(PutRecordsMeter.Sent::records).sum())
        .as("records on the wire: each sent once").isEqualTo(10_000);
    assertThat(sent).as("the count limit is what ended the batches")
        .anySatisfy(r -> assertThat(r.records()).isEqualTo(Presets.KINESIS_MAX_RECORDS));
    assertSettled(publisher.stats(), 10_000, 10_000, 0, 0);
  }

  @Test
  void byteLimitsHoldOnTheWireAndAnOversizeRecordIsRejectedIntoTheDeadLetterHook(TestInfo test)
      throws Exception {
    long maxRequest = 256 * 1024;
    long maxRecord = 64 * 1024;
    PutRecordsMeter meter = new PutRecordsMeter();
    KinesisClient kinesis = client(List.of(meter));
    String stream = stream(kinesis, test, 2);
    KinesisPublisher publisher =
        publisher(kinesis, stream, KinesisPublisher.policy(maxRequest, maxRecord), 3);

    List<Put> puts = produce(publisher, 4, 150, new Random(12), 1_024, 40 * 1_024);
    KinesisRecord tooBig = KinesisRecord.ofUtf8("big", "x".repeat((int) maxRecord));
    CompletableFuture<Void> tooBigFuture = publisher.put(tooBig);
    publisher.close();

    assertThat(outcomes(puts)).as("futures").containsOnlyNulls();
    assertThat(outcome(tooBigFuture)).isInstanceOf(DeliveryException.class)
        .extracting(e -> ((DeliveryException) e).reason())
        .isEqualTo(DeliveryException.Reason.REJECTED);
    assertThat(deadLetters).singleElement()
        .satisfies(d -> assertThat(d.records()).containsExactly(tooBig));
    assertExactlyOnceInOrderPerKey(KinesisStreams.readAll(kinesis, stream), puts);
    List<PutRecordsMeter.Sent> sent = meter.sent();
    assertThat(sent).allSatisfy(r -> {
      assertThat(r.bytes()).as("data + partition keys of a request").isLessThanOrEqualTo(maxRequest);
      assertThat(r.largestRecord()).isLessThanOrEqualTo(maxRecord);
      assertThat(r.bodyBytes()).as("base64 JSON is bigger than what Kinesis counts")
          .isGreaterThan(r.bytes());
    });
    assertThat(sent).as("the byte limit, not the count, ended the batches")
        .anySatisfy(r -> assertThat(r.bytes()).isGreaterThan(maxRequest / 2))
        .allSatisfy(r -> assertThat(r.records()).isLessThan(Presets.KINESIS_MAX_RECORDS));
    assertSettled(publisher.stats(), 601, 600, 0, 1);
  }

  @Test
  void throttledRecordsAreResentAloneInOrderAndEachEndsWrittenOrDeadLettered(TestInfo test)
      throws Exception {
    String sink = "throttled-sink";
    KinesisStreams.create(client(List.of()), sink, 1);
    // seq % 10 == 3: throttled the first time only; seq % 41 == 0: throttled every time.
    Throttler throttler = new Throttler(
        (data, before) -> seq(data) % 41 == 0 || (seq(data) % 10 == 3 && before == 0), sink);
    KinesisClient kinesis = client(List.of(throttler));
    String stream = stream(kinesis, test, 2);
    int maxAttempts = 3;
    KinesisPublisher publisher = publisher(kinesis, stream, KinesisPublisher.policy(), maxAttempts);

    List<Put> puts = produce(publisher, 4, 500, new Random(13), 20, 100);
    publisher.close();

    Map<String, Put> byData = new LinkedHashMap<>();
    puts.forEach(p -> byData.put(p.record().data().asUtf8String(), p));
    Set<String> alwaysThrottled = byData.keySet().stream().filter(d -> seq(d) % 41 == 0)
        .collect(Collectors.toSet());
    Set<String> onceThrottled = byData.keySet().stream()
        .filter(d -> seq(d) % 10 == 3 && seq(d) % 41 != 0).collect(Collectors.toSet());
    assertThat(alwaysThrottled).hasSize(4 * 13);
    assertThat(onceThrottled).hasSize(4 * 49);

    // What each record ended as: written (future done) or dead-lettered (future failed), never both.
    for (Map.Entry<String, Put> e : byData.entrySet()) {
      Throwable outcome = outcome(e.getValue().future());
      if (alwaysThrottled.contains(e.getKey())) {
        assertThat(outcome).as(e.getKey()).isInstanceOf(DeliveryException.class)
            .hasCauseInstanceOf(PartialFlushException.class)
            .rootCause().isInstanceOf(KinesisRecordException.class)
            .hasMessageStartingWith(Throttler.THROTTLED);
      } else {
        assertThat(outcome).as(e.getKey()).isNull();
      }
    }
    assertThat(deadLetters.stream().flatMap(d -> d.records().stream())
        .map(r -> r.data().asUtf8String()))
        .containsExactlyInAnyOrderElementsOf(alwaysThrottled);
    assertThat(deadLetters).allSatisfy(d -> assertThat(d.failure()).hasCauseInstanceOf(
        KinesisRecordException.class));

    // How often each record was asked for: once, twice (throttled once), or every attempt.
    List<Throttler.Call> calls = throttler.calls();
    Map<String, Integer> requested = new HashMap<>();
    calls.forEach(c -> c.requested().forEach(d -> requested.merge(d, 1, Integer::sum)));
    for (String d : byData.keySet()) {
      int expected = alwaysThrottled.contains(d) ? maxAttempts : onceThrottled.contains(d) ? 2 : 1;
      assertThat(requested.get(d)).as("requests of %s", d).isEqualTo(expected);
    }
    // Each retry sends exactly the records the call before it throttled, in their order.
    Map<String, Integer> soFar = new HashMap<>();
    int retries = 0;
    for (int k = 0; k < calls.size(); k++) {
      Throttler.Call call = calls.get(k);
      call.requested().forEach(d -> soFar.merge(d, 1, Integer::sum));
      if (call.throttled().isEmpty()) {
        continue;
      }
      int attempt = soFar.getOrDefault(call.throttled().get(0), 0);
      if (attempt < maxAttempts) {
        assertThat(k + 1).as("call %d throttled records and has no retry", k).isLessThan(calls.size());
        assertThat(calls.get(k + 1).requested()).as("the retry after call %d", k)
            .containsExactlyElementsOf(call.throttled());
        retries++;
      } else {
        assertThat(call.throttled()).as("given up after %d attempts", maxAttempts)
            .allMatch(alwaysThrottled::contains);
      }
    }
    assertThat(retries).isPositive();

    List<Put> written = puts.stream()
        .filter(p -> !alwaysThrottled.contains(p.record().data().asUtf8String())).toList();
    assertExactlyOnce(KinesisStreams.readAll(kinesis, stream), written);
    BufferStats stats = publisher.stats();
    assertSettled(stats, 2_000, 2_000 - alwaysThrottled.size(), alwaysThrottled.size(), 0);
    assertThat(stats.retried()).isPositive();
  }

  @Test
  void kinesaliteKilledMidRunFailsTheUndeliveredFuturesIntoTheDeadLetterHook(TestInfo test)
      throws Exception {
    // A kinesalite of its own: this test kills it.
    LocalKinesis doomed = LocalKinesis.start();
    toClose.add(doomed);
    KinesisClient kinesis = client(List.of(), doomed);
    String stream = stream(kinesis, test, 2);
    KinesisPublisher publisher = publisher(kinesis, stream, KinesisPublisher.policy(), 2);

    List<Put> before = produce(publisher, 2, 300, new Random(14), 20, 100);
    CompletableFuture.allOf(before.stream().map(Put::future).toArray(CompletableFuture[]::new))
        .get(60, TimeUnit.SECONDS);
    assertExactlyOnce(KinesisStreams.readAll(kinesis, stream), before);

    doomed.close();
    assertThat(doomed.isAlive()).isFalse();
    List<Put> after = produce(publisher, 2, 200, new Random(15), 20, 100);
    publisher.close();

    assertThat(outcomes(before)).containsOnlyNulls();
    assertThat(outcomes(after)).allSatisfy(e -> assertThat(e)
        .isInstanceOf(DeliveryException.class)
        .hasCauseInstanceOf(SdkClientException.class)
        .extracting(x -> ((DeliveryException) x).reason())
        .isEqualTo(DeliveryException.Reason.FAILED));
    assertThat(deadLetters.stream().flatMap(d -> d.records().stream()))
        .as("the dead-letter hook got exactly the records not delivered")
        .containsExactlyInAnyOrderElementsOf(after.stream().map(Put::record).toList());
    assertSettled(publisher.stats(), 1_000, 600, 400, 0);
  }

  // ----- helpers

  private KinesisClient client(List<? extends software.amazon.awssdk.core.interceptor.ExecutionInterceptor> interceptors) {
    return client(interceptors, Objects.requireNonNull(server));
  }

  private KinesisClient client(
      List<? extends software.amazon.awssdk.core.interceptor.ExecutionInterceptor> interceptors,
      LocalKinesis on) {
    KinesisClient c = KinesisSettings.local(on.endpoint()).client(interceptors);
    toClose.add(c);
    return c;
  }

  private static String stream(KinesisClient kinesis, TestInfo test, int shards) {
    String name = test.getTestMethod().orElseThrow().getName();
    String stream = name.substring(0, Math.min(name.length(), 100));
    KinesisStreams.create(kinesis, stream, shards);
    return stream;
  }

  private KinesisPublisher publisher(KinesisClient kinesis, String stream,
      dev.batchbuffer.FlushPolicy<KinesisRecord> policy, int maxAttempts) {
    KinesisPublisher p = KinesisPublisher.start(kinesis, stream, policy, Duration.ofMillis(20),
        RetryPolicy.builder().maxAttempts(maxAttempts)
            .backoff(Duration.ofMillis(5), Duration.ofMillis(50)),
        (e, records) -> deadLetters.add(new Dead(e, List.copyOf(records))), TimeSource.system());
    toClose.add(p);
    return p;
  }

  /**
   * Puts {@code perProducer} records from each of {@code producers} virtual threads: partition key
   * {@code p<N>}, data {@code "p<N>,<seq>,"} padded to a random size; a producer's failure is
   * rethrown here.
   */
  private static List<Put> produce(KinesisPublisher publisher, int producers, int perProducer,
      Random random, int minBytes, int maxBytes) throws Exception {
    List<int[]> sizes = new ArrayList<>();
    for (int p = 0; p < producers; p++) {
      sizes.add(random.ints(perProducer, minBytes, maxBytes + 1).toArray());
    }
    List<Put> all = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<List<Put>>> results = new ArrayList<>();
      for (int p = 0; p < producers; p++) {
        int producer = p;
        results.add(threads.submit(() -> {
          List<Put> mine = new ArrayList<>(perProducer);
          for (int seq = 0; seq < perProducer; seq++) {
            String head = "p" + producer + "," + seq + ",";
            String data = head + "x".repeat(Math.max(0, sizes.get(producer)[seq] - head.length()));
            KinesisRecord r = KinesisRecord.ofUtf8("p" + producer, data);
            mine.add(new Put(r, publisher.put(r)));
          }
          return mine;
        }));
      }
      for (Future<List<Put>> r : results) {
        all.addAll(r.get(2, TimeUnit.MINUTES));
      }
    }
    return all;
  }

  private static int seq(String data) {
    return Integer.parseInt(data.split(",", 3)[1]);
  }

  /** Each future's failure, or null where it completed normally; waits for each. */
  private static List<@Nullable Throwable> outcomes(List<Put> puts) throws Exception {
    List<@Nullable Throwable> out = new ArrayList<>(puts.size());
    for (Put p : puts) {
      out.add(outcome(p.future()));
    }
    return out;
  }

  private static @Nullable Throwable outcome(CompletableFuture<Void> future) throws Exception {
    return future.handle((ok, failure) -> failure).get(60, TimeUnit.SECONDS);
  }

  private static void assertExactlyOnce(List<Record> read, List<Put> expected) {
    assertThat(read.stream().map(r -> r.partitionKey() + "|" + r.data().asUtf8String()))
        .as("records read back from every shard")
        .containsExactlyInAnyOrderElementsOf(expected.stream()
            .map(p -> p.record().partitionKey() + "|" + p.record().data().asUtf8String())
            .toList());
  }

  private static void assertExactlyOnceInOrderPerKey(List<Record> read, List<Put> expected) {
    assertExactlyOnce(read, expected);
    Map<String, List<Integer>> seqsByKey = new LinkedHashMap<>();
    for (Record r : read) {
      seqsByKey.computeIfAbsent(r.partitionKey(), k -> new ArrayList<>())
          .add(seq(r.data().asUtf8String()));
    }
    seqsByKey.forEach((key, seqs) -> assertThat(seqs).as("order of key %s", key).isSorted());
  }

  private static void assertSettled(BufferStats stats, long accepted, long flushed, long failed,
      long rejected) {
    assertThat(stats.state()).isEqualTo(BufferStats.State.CLOSED);
    assertThat(stats.itemsWaiting()).as("waiting").isZero();
    assertThat(stats.itemsFlushing()).as("flushing").isZero();
    assertThat(stats.undelivered()).as("undelivered").isZero();
    assertThat(stats.accepted()).as("accepted").isEqualTo(accepted)
        .isEqualTo(stats.flushed() + stats.failed() + stats.rejected());
    assertThat(stats.flushed()).as("flushed").isEqualTo(flushed);
    assertThat(stats.failed()).as("failed").isEqualTo(failed);
    assertThat(stats.rejected()).as("rejected").isEqualTo(rejected);
  }
}
