package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The README's code, kept here so it always compiles and does what the README says. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ReadmeExampleTest {

  record Event(String id, String payload) {}

  /** A batch API's answer: which entries failed, as Kinesis PutRecords and SQS return it. */
  record PutResult(List<Integer> failedIndexes, @org.jspecify.annotations.Nullable Exception firstError) {}

  /** Accepts every entry whose id does not end in 7. */
  static final class Backend {
    final List<List<Event>> calls = new CopyOnWriteArrayList<>();
    final List<Event> stored = new CopyOnWriteArrayList<>();

    PutResult putRecords(List<Event> batch) {
      calls.add(batch);
      List<Integer> failed = new java.util.ArrayList<>();
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i).id().endsWith("7")) {
          failed.add(i);
        } else {
          stored.add(batch.get(i));
        }
      }
      return new PutResult(failed, failed.isEmpty() ? null : new IOException("throttled"));
    }
  }

  @Test
  void quickStart() throws Exception {
    Backend backend = new Backend();
    List<Event> deadLetters = new CopyOnWriteArrayList<>();
    // --- README quick start ---
    Config<Event> config = Config.<Event>builder(batch -> {
          PutResult result = backend.putRecords(batch);     // answers per record, like Kinesis, SQS
          if (!result.failedIndexes().isEmpty()) {          // never let those answers vanish
            throw new PartialFlushException(result.failedIndexes(), result.firstError());
          }
        })
        .capacity(500)                                      // flush at 500 events
        .flushInterval(Duration.ofMillis(200))              // or 200 ms after the first one
        .willOverflow((batch, e) -> bytes(batch) + e.payload().length() > 5 * 1024 * 1024)
        .onFlushError((error, failed) -> deadLetters.addAll(failed))  // just the failed events
        .build();

    try (Buffer<Event> buffer = Buffer.start(config)) {
      for (int i = 0; i < 1_000; i++) {
        buffer.add(new Event("e" + i, "x".repeat(100)));      // blocks while the channel is full
      }
    }                                                       // close(): drain, final flush, wait
    // --- end ---
    // Two batches of 500, unless the 200 ms linger closes one early on a slow machine.
    assertThat(backend.calls.stream().mapToInt(List::size).sum()).isEqualTo(1_000);
    assertThat(backend.calls).hasSizeGreaterThanOrEqualTo(2)
        .allSatisfy(b -> assertThat(b).hasSizeLessThanOrEqualTo(500));
    assertThat(deadLetters).hasSize(100).allSatisfy(e -> assertThat(e.id()).endsWith("7"));
    assertThat(backend.stored.size() + deadLetters.size()).isEqualTo(1_000);
  }

  static long bytes(List<Event> batch) {
    long n = 0;
    for (Event e : batch) {
      n += e.payload().length();
    }
    return n;
  }

  /** A Kinesis record as the SDK's PutRecordsRequestEntry carries it. */
  static final class KinesisRecord {
    final String partitionKey;
    final byte[] data;

    KinesisRecord(String partitionKey, byte[] data) {
      this.partitionKey = partitionKey;
      this.data = data;
    }
  }

  @Test
  void kinesisRecordsSizedByBytes() throws Exception {
    List<List<KinesisRecord>> requests = new CopyOnWriteArrayList<>();
    List<KinesisRecord> tooBig = new CopyOnWriteArrayList<>();
    // --- README Kinesis ---
    Weigher<KinesisRecord> size = r ->
        r.data.length + r.partitionKey.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    Config<KinesisRecord> config = Config.builder((List<KinesisRecord> batch) -> requests.add(batch))
        .policy(Presets.kinesisPutRecords(size)                  // 500 records, 10 MiB, 1 MiB each
            .or(FlushPolicy.age(Duration.ofMillis(100))))          // and at most 100 ms of linger
        .onReject(tooBig::add)                                    // records above 1 MiB
        .build();
    try (Buffer<KinesisRecord> buffer = Buffer.start(config)) {
      for (int i = 0; i < 30; i++) {
        buffer.add(new KinesisRecord("device-" + i, new byte[512 * 1024]));  // 512 KiB each
      }
      buffer.add(new KinesisRecord("huge", new byte[2 * 1024 * 1024]));
    }
    // 30 x 512 KiB: at most 19 records fit in 10 MiB (keys included), so at least 2 requests
    // --- end ---
    // The 100 ms linger may also close a request early on a slow machine: check the limits.
    assertThat(requests.stream().mapToInt(List::size).sum()).isEqualTo(30);
    assertThat(requests).hasSizeGreaterThanOrEqualTo(2).allSatisfy(request -> {
      assertThat(request).hasSizeLessThanOrEqualTo(19);
      assertThat(request.stream().mapToLong(size::weigh).sum()).isLessThanOrEqualTo(10L * 1024 * 1024);
    });
    assertThat(tooBig).hasSize(1);
  }

  /** The code under test in the README's test-kit example: a producer of the user's own. */
  static final class AuditLog {
    private final Buffer<String> buffer;

    AuditLog(Buffer<String> buffer) {
      this.buffer = buffer;
    }

    void record(String event) throws InterruptedException {
      buffer.add(event);
    }
  }

  @Test
  void auditLogFlushesAPartialBatchAfterOneSecond() throws Exception {
    // --- README test kit ---
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).capacity(100).flushInterval(Duration.ofSeconds(1)).build();
    try (Buffer<String> buffer = Buffer.start(config, Options.builder().timeSource(time).build())) {
      AuditLog log = new AuditLog(buffer);
      log.record("login");
      log.record("logout");

      time.awaitTimedWaiters(1, Duration.ofSeconds(5));  // the loop armed the 1 s linger deadline
      time.advance(Duration.ofMillis(999));
      time.awaitTimedWaiters(1, Duration.ofSeconds(5));  // it woke, looked, and parked again
      assertThat(flush.batches()).isEmpty();             // not yet
      time.advance(Duration.ofMillis(1));
      assertThat(flush.awaitBatches(1, Duration.ofSeconds(5)))
          .containsExactly(List.of("login", "logout"));
    }
    // --- end ---
  }

  @Test
  void auditLogSendsAFailedBatchToDeadLetters() throws Exception {
    // --- README scripted flush ---
    ScriptedFlush<String> backend = ScriptedFlush.<String>builder()
        .fail(new IOException("503 from the audit service"))   // the first write fails
        .build();                                             // every later one succeeds
    List<String> deadLetters = new CopyOnWriteArrayList<>();
    Config<String> config = Config.builder(backend).capacity(2)
        .onFlushError((error, batch) -> deadLetters.addAll(batch)).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      AuditLog log = new AuditLog(buffer);
      log.record("login");
      log.record("view");                                     // batch 1: fails
      log.record("logout");
      log.record("login");                                    // batch 2: delivered

      backend.awaitCalls(2, Duration.ofSeconds(5));
      assertThat(backend.delivered()).containsExactly("logout", "login");
      assertThat(deadLetters).containsExactly("login", "view");
      assertThat(buffer.stats().failed()).isEqualTo(2);
      assertThat(buffer.stats().recentErrors()).singleElement()
          .satisfies(e -> assertThat(e.error()).hasMessageContaining("503"));
    }
    // --- end ---
  }
}
