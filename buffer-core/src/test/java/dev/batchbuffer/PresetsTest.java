package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Each backend preset holds its service's count, request and per-record limits; each overload with
 * explicit limits holds those instead; bad limits fail naming the argument and its value; and the
 * EventBridge entry size is counted as EventBridge counts it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PresetsTest {
  /** An item that says how big it is, so the tests need no real payloads. */
  record Sized(int id, long bytes, long timestampMillis) {}

  static final Weigher<Sized> SIZE = Sized::bytes;

  static Ledger<Sized> run(FlushPolicy<Sized> policy, List<Sized> items) throws Exception {
    Ledger<Sized> ledger = new Ledger<>();
    Config<Sized> config = Config.builder(ledger.flushed).policy(policy)
        .flushInterval(Duration.ofHours(1)).chanSize(items.size() + 1).onReject(ledger::onReject).build();
    try (Buffer<Sized> buffer = Buffer.start(config)) {
      for (Sized s : items) {
        buffer.add(s);
        ledger.accepted.incrementAndGet();
      }
    }
    ledger.assertBalanced();
    return ledger;
  }

  static List<Sized> items(int n, long bytes) {
    List<Sized> list = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      list.add(new Sized(i, bytes, 0));
    }
    return list;
  }

  static List<Integer> sizes(Ledger<Sized> ledger) {
    return ledger.flushed.batches().stream().map(List::size).toList();
  }

  static void assertUnder(Ledger<Sized> ledger, int records, long requestBytes) {
    assertThat(ledger.flushed.batches()).allSatisfy(b -> {
      assertThat(b.size()).isLessThanOrEqualTo(records);
      assertThat(b.stream().mapToLong(Sized::bytes).sum()).isLessThanOrEqualTo(requestBytes);
    });
  }

  @Test
  void kinesisPutRecordsHolds500RecordsAnd10MiBAndRejectsRecordsAbove1MiB() throws Exception {
    assertThat(sizes(run(Presets.kinesisPutRecords(SIZE), items(1001, 10)))).containsExactly(500, 500, 1);
    Ledger<Sized> big = run(Presets.kinesisPutRecords(SIZE), items(25, 1024 * 1024));
    assertThat(sizes(big)).containsExactly(10, 10, 5);
    assertUnder(big, 500, 10L * 1024 * 1024);
    Ledger<Sized> over = run(Presets.kinesisPutRecords(SIZE), List.of(new Sized(1, 1024 * 1024 + 1, 0)));
    assertThat(over.rejected).hasSize(1);
    assertThat(Presets.kinesisPutRecords(SIZE).toString())
        .isEqualTo("anyOf[count(500), bytes(10485760, item 1048576, REJECT)]");
  }

  @Test
  void firehosePutRecordBatchHolds500RecordsAnd4MB() throws Exception {
    Ledger<Sized> ledger = run(Presets.firehosePutRecordBatch(SIZE), items(10, 1_000_000));
    assertThat(sizes(ledger)).containsExactly(4, 4, 2);
    assertThat(Presets.firehosePutRecordBatch(SIZE).maxItems()).isEqualTo(500);
    assertThat(run(Presets.firehosePutRecordBatch(SIZE), List.of(new Sized(1, 1_000_001, 0))).rejected)
        .hasSize(1);
  }

  @Test
  void sqsSendMessageBatchHolds10EntriesAnd1MiB() throws Exception {
    assertThat(sizes(run(Presets.sqsSendMessageBatch(SIZE), items(21, 100)))).containsExactly(10, 10, 1);
    Ledger<Sized> ledger = run(Presets.sqsSendMessageBatch(SIZE), items(5, 400 * 1024));
    assertThat(sizes(ledger)).containsExactly(2, 2, 1);
  }

  @Test
  void pubSubPublishHolds1000MessagesAnd10MB() throws Exception {
    assertThat(sizes(run(Presets.pubSubPublish(SIZE), items(2001, 1)))).containsExactly(1000, 1000, 1);
    assertThat(sizes(run(Presets.pubSubPublish(SIZE), items(5, 4_000_000)))).containsExactly(2, 2, 1);
  }

  @Test
  void cloudWatchLogsCountsTheOverheadPerEventAndTheSpan() throws Exception {
    FlushPolicy<Sized> policy = Presets.cloudWatchLogsPutLogEvents(SIZE, Sized::timestampMillis);
    // 1022 x (1000 + 26) = 1,048,572 <= 1,048,576: 1022 events per batch, not 1048.
    Ledger<Sized> ledger = run(policy, items(2048, 1000));
    assertThat(sizes(ledger)).containsExactly(1022, 1022, 4);
    assertThat(sizes(run(policy, items(10_001, 0)))).containsExactly(10_000, 1);
    long day = Duration.ofHours(24).toMillis();
    List<Sized> spread = List.of(new Sized(1, 10, 0), new Sized(2, 10, day - 1), new Sized(3, 10, day),
        new Sized(4, 10, day + 5));
    assertThat(sizes(run(policy, spread))).containsExactly(2, 2);
  }

  @Test
  void dynamoDbBatchWriteItemHolds25RequestsAnd16MBAnd400KBItems() throws Exception {
    assertThat(sizes(run(Presets.dynamoDbBatchWriteItem(SIZE), items(51, 10)))).containsExactly(25, 25, 1);
    assertThat(run(Presets.dynamoDbBatchWriteItem(SIZE), List.of(new Sized(1, 400 * 1024 + 1, 0))).rejected)
        .hasSize(1);
    assertThat(Presets.dynamoDbBatchWriteItem(SIZE).maxBytes()).isEqualTo(16L * 1024 * 1024);
  }

  @Test
  void kafkaBatchSendsLargeRecordsAloneAndRejectsThoseAboveMaxRequestSize() throws Exception {
    List<Sized> input = List.of(new Sized(1, 8000, 0), new Sized(2, 8000, 0), new Sized(3, 8000, 0),
        new Sized(4, 20_000, 0), new Sized(5, 2_000_000, 0), new Sized(6, 100, 0));
    Ledger<Sized> ledger = run(Presets.kafkaBatch(SIZE), input);
    assertThat(ledger.flushed.batches().stream().map(b -> b.stream().map(Sized::id).toList()).toList())
        .containsExactly(List.of(1, 2), List.of(3), List.of(4), List.of(6));
    assertThat(ledger.rejected).extracting(Sized::id).containsExactly(5);
    assertThatThrownBy(() -> Presets.kafkaBatch(SIZE, 100, 50))
        .hasMessage("maxRequestSize must be >= batchSize=100 (was 50)");
  }

  @Test
  void jdbcExecuteBatchIsACountOnly() throws Exception {
    FlushPolicy<Sized> policy = Presets.jdbcExecuteBatch(3);
    assertThat(policy.weigher()).isNull();
    assertThat(sizes(run(policy, items(7, 1_000_000_000)))).containsExactly(3, 3, 1);
  }

  @Test
  void eventBridgePutEventsHolds10EntriesAnd1MBAndRejectsLargerEntries() throws Exception {
    FlushPolicy<Sized> policy = Presets.eventBridgePutEvents(SIZE);
    assertThat(sizes(run(policy, items(21, 100)))).containsExactly(10, 10, 1);
    // 3 x 300,000 = 900,000 fits in 1,000,000; a fourth does not.
    Ledger<Sized> big = run(policy, items(7, 300_000));
    assertThat(sizes(big)).containsExactly(3, 3, 1);
    assertUnder(big, 10, 1_000_000);
    assertThat(run(policy, List.of(new Sized(1, 1_000_001, 0))).rejected).hasSize(1);
    assertThat(policy.toString()).isEqualTo("anyOf[count(10), bytes(1000000, REJECT)]");
  }

  @Test
  void eventBridgeEntrySizeCounts14BytesForTheTimeAndTheUtf8BytesOfEachPart() {
    // "é" is 2 UTF-8 bytes, "€" 3, "😀" (a surrogate pair) 4.
    assertThat(Presets.eventBridgeEntrySize(false, "shop", "Order", null, List.of())).isEqualTo(9);
    assertThat(Presets.eventBridgeEntrySize(true, "shop", "Order", null, List.of())).isEqualTo(23);
    assertThat(Presets.eventBridgeEntrySize(true, "café", "€", "{\"a\":\"😀\"}",
        List.of("arn:1", "arn:22"))).isEqualTo(14 + 5 + 3 + 12 + 5 + 6);
    assertThat(Presets.eventBridgeEntrySize(false, "s", "t", "", Arrays.asList("r", null)))
        .as("a null resource counts nothing").isEqualTo(3);
  }

  @Test
  void elasticsearchBulkAimsAt5MBSendsLargerDocumentsAloneAndRejectsThoseAbove10MiB()
      throws Exception {
    FlushPolicy<Sized> policy = Presets.elasticsearchBulk(SIZE);
    List<Sized> input = List.of(new Sized(1, 2_000_000, 0), new Sized(2, 2_000_000, 0),
        new Sized(3, 2_000_000, 0), new Sized(4, 6_000_000, 0), new Sized(5, 10 * 1024 * 1024 + 1, 0),
        new Sized(6, 10, 0));
    Ledger<Sized> ledger = run(policy, input);
    assertThat(ledger.flushed.batches().stream().map(b -> b.stream().map(Sized::id).toList()).toList())
        .containsExactly(List.of(1, 2), List.of(3), List.of(4), List.of(6));
    assertThat(ledger.rejected).extracting(Sized::id).containsExactly(5);
    assertThat(sizes(run(policy, items(20_000, 1)))).as("no count limit").containsExactly(20_000);
  }

  @Test
  void elasticsearchBulkTakesItsTargetAndRequestLimit() throws Exception {
    FlushPolicy<Sized> policy = Presets.elasticsearchBulk(SIZE, 100, 150);
    Ledger<Sized> ledger = run(policy, List.of(new Sized(1, 60, 0), new Sized(2, 60, 0),
        new Sized(3, 140, 0), new Sized(4, 151, 0)));
    assertThat(ledger.flushed.batches().stream().map(b -> b.stream().map(Sized::id).toList()).toList())
        .containsExactly(List.of(1), List.of(2), List.of(3));
    assertThat(ledger.rejected).extracting(Sized::id).containsExactly(4);
  }

  @Test
  void eachPresetTakesItsLimitsAsArguments() throws Exception {
    // An SQS endpoint that still has the 256 KiB limit: 2 x 100 KiB fit, 3 do not.
    FlushPolicy<Sized> sqs256 = Presets.sqsSendMessageBatch(SIZE, 10, 256 * 1024, 256 * 1024);
    assertThat(sizes(run(sqs256, items(5, 100 * 1024)))).containsExactly(2, 2, 1);
    assertThat(run(sqs256, List.of(new Sized(1, 256 * 1024 + 1, 0))).rejected).hasSize(1);
    assertThat(sizes(run(Presets.sqsSendMessageBatch(SIZE, 4, 1000, 1000), items(9, 1))))
        .containsExactly(4, 4, 1);

    assertThat(Presets.kinesisPutRecords(SIZE, 7, 5000, 100).toString())
        .isEqualTo("anyOf[count(7), bytes(5000, item 100, REJECT)]");
    assertThat(Presets.firehosePutRecordBatch(SIZE, 6, 4000, 300).toString())
        .isEqualTo("anyOf[count(6), bytes(4000, item 300, REJECT)]");
    assertThat(Presets.pubSubPublish(SIZE, 5, 3000, 200).toString())
        .isEqualTo("anyOf[count(5), bytes(3000, item 200, REJECT)]");
    assertThat(Presets.dynamoDbBatchWriteItem(SIZE, 4, 2000, 100).toString())
        .isEqualTo("anyOf[count(4), bytes(2000, item 100, REJECT)]");
    assertThat(Presets.eventBridgePutEvents(SIZE, 3, 262_144, 262_144).toString())
        .isEqualTo("anyOf[count(3), bytes(262144, REJECT)]");
    assertThat(sizes(run(Presets.kinesisPutRecords(SIZE, 7, 5000, 100), items(15, 1))))
        .containsExactly(7, 7, 1);

    // CloudWatch with 3 events, 1000 bytes (26 per event included) and a one-hour span.
    FlushPolicy<Sized> logs = Presets.cloudWatchLogsPutLogEvents(SIZE, Sized::timestampMillis, 3,
        1000, 500, Duration.ofHours(1));
    assertThat(sizes(run(logs, items(7, 10)))).containsExactly(3, 3, 1);
    assertThat(sizes(run(logs, items(4, 300)))).as("326 bytes each: 3 fit in 1000")
        .containsExactly(3, 1);
    assertThat(run(logs, List.of(new Sized(1, 475, 0))).rejected).as("475 + 26 > 500").hasSize(1);
    long hour = Duration.ofHours(1).toMillis();
    assertThat(sizes(run(logs, List.of(new Sized(1, 1, 0), new Sized(2, 1, hour - 1),
        new Sized(3, 1, hour))))).containsExactly(2, 1);
  }

  @Test
  void badLimitsFailNamingTheArgumentAndItsValue() {
    assertThatThrownBy(() -> Presets.sqsSendMessageBatch(SIZE, 0, 10, 10))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("maxEntries must be >= 1 (was 0)");
    assertThatThrownBy(() -> Presets.sqsSendMessageBatch(SIZE, 10, 100, 101))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxMessageBytes must be in [1, maxRequestBytes=100] (was 101)");
    assertThatThrownBy(() -> Presets.kinesisPutRecords(SIZE, -1, 10, 10))
        .hasMessage("maxRecords must be >= 1 (was -1)");
    assertThatThrownBy(() -> Presets.firehosePutRecordBatch(SIZE, 1, 0, 1))
        .hasMessage("maxRequestBytes must be >= 1 (was 0)");
    assertThatThrownBy(() -> Presets.pubSubPublish(SIZE, 0, 1, 1))
        .hasMessage("maxMessages must be >= 1 (was 0)");
    assertThatThrownBy(() -> Presets.dynamoDbBatchWriteItem(SIZE, 25, 10, 0))
        .hasMessage("maxItemBytes must be in [1, maxRequestBytes=10] (was 0)");
    assertThatThrownBy(() -> Presets.eventBridgePutEvents(SIZE, 0, 1, 1))
        .hasMessage("maxEntries must be >= 1 (was 0)");
    assertThatThrownBy(() -> Presets.eventBridgePutEvents(SIZE, 10, 5, 6))
        .hasMessage("maxEntryBytes must be in [1, maxRequestBytes=5] (was 6)");
    assertThatThrownBy(() -> Presets.cloudWatchLogsPutLogEvents(SIZE, Sized::timestampMillis, 0,
        10, 10, Duration.ofHours(1))).hasMessage("maxEvents must be >= 1 (was 0)");
    assertThatThrownBy(() -> Presets.cloudWatchLogsPutLogEvents(SIZE, Sized::timestampMillis, 1,
        10, 11, Duration.ofHours(1)))
        .hasMessage("maxEventBytes must be in [1, maxRequestBytes=10] (was 11)");
    assertThatThrownBy(() -> Presets.cloudWatchLogsPutLogEvents(SIZE, Sized::timestampMillis, 1,
        10, 10, Duration.ZERO)).hasMessage("maxSpan must be >= 1 ms (was PT0S)");
    assertThatThrownBy(() -> Presets.elasticsearchBulk(SIZE, 0, 10))
        .hasMessage("targetBytes must be >= 1 (was 0)");
    assertThatThrownBy(() -> Presets.elasticsearchBulk(SIZE, 10, 9))
        .hasMessage("maxRequestBytes must be >= targetBytes=10 (was 9)");
  }
}
