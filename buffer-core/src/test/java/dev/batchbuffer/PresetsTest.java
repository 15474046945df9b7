package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Each backend preset holds its service's count, request and per-record limits. */
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
}
