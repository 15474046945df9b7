package dev.batchbuffer.examples.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.Config;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.internal.AbstractRecords;
import org.apache.kafka.common.record.internal.CompressionType;
import org.apache.kafka.common.record.internal.RecordBatch;
import org.apache.kafka.common.serialization.StringSerializer;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link KafkaBatchSink} without a broker, on Kafka's {@link MockProducer}: records that fail are
 * reported by their index, so the retry middleware sends only those again, in order, and a record
 * that cannot succeed reaches the dead-letter hook alone while its batch-mates are delivered; and
 * {@link KafkaBatchSink#policy()} counts a record as the producer does against
 * {@code max.request.size}, so one the producer would refuse is rejected before it is sent.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KafkaBatchSinkTest {

  /**
   * A MockProducer that fails chosen sends, and logs every send. A failure set with {@link #fail}
   * comes when the batch is flushed, as a delivery failure does; one set with {@link #failOnSend}
   * is already there when {@code send} returns, as when {@code send} timed out waiting for metadata.
   */
  static final class FailingProducer extends MockProducer<String, String> {
    final Map<String, Integer> failuresLeft = new HashMap<>();
    final Map<String, RuntimeException> failure = new HashMap<>();
    final Map<String, RuntimeException> failOnSend = new HashMap<>();
    final Map<String, RuntimeException> throwOnSend = new HashMap<>();
    final List<CompletableFuture<RecordMetadata>> pendingFailures = new ArrayList<>();
    final List<RuntimeException> pendingErrors = new ArrayList<>();
    final List<String> sent = new CopyOnWriteArrayList<>();

    FailingProducer() {
      super(true, null, new StringSerializer(), new StringSerializer());
    }

    void fail(String value, int times, RuntimeException e) {
      failuresLeft.put(value, times);
      failure.put(value, e);
    }

    @Override
    public synchronized Future<RecordMetadata> send(ProducerRecord<String, String> record,
        @Nullable Callback callback) {
      RuntimeException thrown = throwOnSend.get(record.value());
      if (thrown != null) {
        throw thrown;
      }
      sent.add(record.value());
      RuntimeException now = failOnSend.get(record.value());
      if (now != null) {
        return CompletableFuture.failedFuture(now);
      }
      int left = failuresLeft.getOrDefault(record.value(), 0);
      if (left > 0) {
        failuresLeft.put(record.value(), left - 1);
        CompletableFuture<RecordMetadata> later = new CompletableFuture<>();
        pendingFailures.add(later);
        pendingErrors.add(failure.get(record.value()));
        return later;
      }
      return super.send(record, callback);
    }

    @Override
    public synchronized void flush() {
      for (int i = 0; i < pendingFailures.size(); i++) {
        pendingFailures.get(i).completeExceptionally(pendingErrors.get(i));
      }
      pendingFailures.clear();
      pendingErrors.clear();
      super.flush();
    }
  }

  final FailingProducer producer = new FailingProducer();
  final List<String> deadLetters = new CopyOnWriteArrayList<>();

  Buffer<ProducerRecord<String, String>> buffer(KafkaBatchSink<String, String> sink) {
    RetryPolicy retry = RetryPolicy.builder().maxAttempts(3)
        .backoff(Duration.ofMillis(1), Duration.ofMillis(1))
        .retryOn(KafkaBatchSink::retriable).build();
    return Buffer.start(Config.builder(FlushMiddleware.chain(sink,
            FlushMiddleware.<ProducerRecord<String, String>>retry(retry, TimeSource.system())))
        .capacity(5)
        .flushInterval(Duration.ofDays(1))
        .onFlushError((e, batch) -> batch.forEach(r -> deadLetters.add(r.value())))
        .build());
  }

  List<CompletableFuture<Void>> submitFive(Buffer<ProducerRecord<String, String>> buffer)
      throws InterruptedException {
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      futures.add(buffer.submit(new ProducerRecord<>("t", "k", "v" + i)));
    }
    return futures;
  }

  @Test
  void onlyTheRecordsThatFailedAreSentAgainInTheirOrder() throws Exception {
    producer.fail("v1", 1, new TimeoutException("expired"));
    producer.fail("v3", 1, new TimeoutException("expired"));
    Buffer<ProducerRecord<String, String>> buffer = buffer(new KafkaBatchSink<>(producer));
    List<CompletableFuture<Void>> futures = submitFive(buffer);
    CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    buffer.close();

    assertThat(producer.sent).containsExactly("v0", "v1", "v2", "v3", "v4", "v1", "v3");
    assertThat(producer.history()).extracting(ProducerRecord::value)
        .containsExactly("v0", "v2", "v4", "v1", "v3");
    assertThat(deadLetters).isEmpty();
    BufferStats stats = buffer.stats();
    assertThat(stats.flushed()).isEqualTo(5);
    assertThat(stats.retried()).isEqualTo(2);
    assertThat(stats.accepted()).isEqualTo(stats.flushed() + stats.failed() + stats.rejected());
  }

  @Test
  void aRecordThatCannotSucceedIsDeadLetteredAloneAndNotRetried() throws Exception {
    producer.fail("v2", Integer.MAX_VALUE, new RecordTooLargeException("too large"));
    Buffer<ProducerRecord<String, String>> buffer = buffer(new KafkaBatchSink<>(producer));
    List<CompletableFuture<Void>> futures = submitFive(buffer);
    buffer.close();

    assertThat(producer.sent).containsExactly("v0", "v1", "v2", "v3", "v4");
    assertThat(deadLetters).containsExactly("v2");
    for (int i = 0; i < 5; i++) {
      if (i == 2) {
        assertThat(futures.get(i)).failsWithin(Duration.ofSeconds(5)).withThrowableThat()
            .havingCause().isInstanceOf(DeliveryException.class)
            .satisfies(e -> assertThat(((DeliveryException) e).reason())
                .isEqualTo(DeliveryException.Reason.FAILED))
            .havingRootCause().isInstanceOf(RecordTooLargeException.class);
      } else {
        assertThat(futures.get(i)).succeedsWithin(Duration.ofSeconds(5));
      }
    }
    BufferStats stats = buffer.stats();
    assertThat(stats.flushed()).isEqualTo(4);
    assertThat(stats.failed()).isEqualTo(1);
    assertThat(stats.accepted()).isEqualTo(stats.flushed() + stats.failed() + stats.rejected());
  }

  @Test
  void theObserverSeesEachRecordsMetadataOrError() throws Exception {
    producer.fail("b", 1, new RecordTooLargeException("too large"));
    List<KafkaBatchSink.SentBatch<String, String>> seen = new ArrayList<>();
    KafkaBatchSink<String, String> sink = new KafkaBatchSink<>(producer, seen::add);
    List<ProducerRecord<String, String>> batch = List.of(new ProducerRecord<>("t", "k", "a"),
        new ProducerRecord<>("t", "k", "b"), new ProducerRecord<>("t", "kk", "cc"));

    assertThatThrownBy(() -> sink.flush(batch)).isInstanceOfSatisfying(PartialFlushException.class,
        e -> {
          assertThat(e.failedIndexes()).containsExactly(1);
          assertThat(e.getCause()).isInstanceOf(RecordTooLargeException.class);
        });
    assertThat(seen).hasSize(1);
    KafkaBatchSink.SentBatch<String, String> sent = seen.get(0);
    assertThat(sent.records()).isEqualTo(batch);
    assertThat(sent.metadata().get(0)).isNotNull();
    assertThat(sent.metadata().get(1)).isNull();
    assertThat(sent.errors().get(1)).isInstanceOf(RecordTooLargeException.class);
    assertThat(sent.errors().get(2)).isNull();
  }

  @Test
  void aSendThatThrowsFailsItsRecordOnly() throws Exception {
    producer.throwOnSend.put("b", new IllegalStateException("Cannot perform operation after producer has been closed"));
    KafkaBatchSink<String, String> sink = new KafkaBatchSink<>(producer);
    List<ProducerRecord<String, String>> batch = List.of(new ProducerRecord<>("t", "k", "a"),
        new ProducerRecord<>("t", "k", "b"), new ProducerRecord<>("t", "k", "c"));

    assertThatThrownBy(() -> sink.flush(batch)).isInstanceOfSatisfying(PartialFlushException.class,
        e -> assertThat(e.failedIndexes()).containsExactly(1));
    assertThat(producer.history()).extracting(ProducerRecord::value).containsExactly("a", "c");
  }

  @Test
  void whenASendTimesOutWaitingForMetadataTheRestOfTheBatchFailsUnsent() throws Exception {
    TimeoutException noMetadata = new TimeoutException("Topic t not present in metadata after 1000 ms.");
    producer.failOnSend.put("b", noMetadata);
    KafkaBatchSink<String, String> sink = new KafkaBatchSink<>(producer);
    List<ProducerRecord<String, String>> batch = List.of(new ProducerRecord<>("t", "k", "a"),
        new ProducerRecord<>("t", "k", "b"), new ProducerRecord<>("t", "k", "c"),
        new ProducerRecord<>("t", "k", "d"));

    assertThatThrownBy(() -> sink.flush(batch)).isInstanceOfSatisfying(PartialFlushException.class,
        e -> {
          assertThat(e.failedIndexes()).containsExactly(1, 2, 3);
          assertThat(e.getCause()).isSameAs(noMetadata);
        });
    assertThat(producer.sent).containsExactly("a", "b");
  }

  @Test
  void retriableMeansKafkasRetriableErrors() {
    assertThat(KafkaBatchSink.retriable(new TimeoutException("expired"))).isTrue();
    assertThat(KafkaBatchSink.retriable(new RecordTooLargeException("too large"))).isFalse();
  }

  @Test
  void utf8SizeCountsKeyAndValueBytes() {
    assertThat(KafkaBatchSink.utf8Size(new ProducerRecord<>("t", "ké", "€"))).isEqualTo(3 + 3);
    assertThat(KafkaBatchSink.utf8Size(new ProducerRecord<>("t", null, "abc"))).isEqualTo(3);
  }

  static ProducerRecord<String, String> record(@Nullable String key, @Nullable String value,
      RecordHeader... headers) {
    return new ProducerRecord<>("t", null, key, value, List.of(headers));
  }

  /** Kafka's own count, the one {@code KafkaProducer.send} checks against max.request.size. */
  static int kafkasCount(ProducerRecord<String, String> r) {
    return AbstractRecords.estimateSizeInBytesUpperBound(RecordBatch.CURRENT_MAGIC_VALUE,
        CompressionType.NONE, r.key() == null ? null : r.key().getBytes(StandardCharsets.UTF_8),
        r.value() == null ? null : r.value().getBytes(StandardCharsets.UTF_8),
        r.headers().toArray());
  }

  @Test
  void recordSizeUpperBoundIsWhatTheProducerChecksAgainstMaxRequestSize() {
    List<ProducerRecord<String, String>> records = List.of(
        record("k", "v"),
        record(null, "abc"),
        record("k", null),
        record("ké", "€".repeat(50)),
        record("k", "x".repeat(63)),
        record("k", "x".repeat(64)),
        record("k", "x".repeat(8_191)),
        record("k", "x".repeat(8_192)),
        record("k", "x".repeat(1_048_575)),
        record("k", "v", new RecordHeader("trace", "abc".getBytes(StandardCharsets.UTF_8)),
            new RecordHeader("é", null), new RecordHeader("big", new byte[70_000])));
    for (ProducerRecord<String, String> r : records) {
      assertThat(KafkaBatchSink.recordSizeUpperBound(r)).as("%s", r.headers())
          .isEqualTo(kafkasCount(r));
    }
  }

  @Test
  void aRecordWhoseKeyAndValueFitButWhichTheProducerWouldRefuseIsRejectedBeforeItIsSent()
      throws Exception {
    // key + value = max.request.size exactly: the key/value preset alone lets it through, and the
    // producer would fail it with RecordTooLargeException (it counts the record's overheads).
    ProducerRecord<String, String> atTheLimit = record("k", "x".repeat(1_048_575));
    ProducerRecord<String, String> withHeaders = record("k", "x".repeat(1_040_000),
        new RecordHeader("h", new byte[9_000]));
    assertThat(KafkaBatchSink.utf8Size(atTheLimit)).isEqualTo(Presets.KAFKA_MAX_REQUEST_SIZE);
    assertThat(kafkasCount(atTheLimit)).isGreaterThan((int) Presets.KAFKA_MAX_REQUEST_SIZE);
    assertThat(kafkasCount(withHeaders)).isGreaterThan((int) Presets.KAFKA_MAX_REQUEST_SIZE);
    ProducerRecord<String, String> fits = record("k", "x".repeat(1_048_000));
    assertThat(kafkasCount(fits)).isLessThanOrEqualTo((int) Presets.KAFKA_MAX_REQUEST_SIZE);

    List<String> rejected = new CopyOnWriteArrayList<>();
    CompletableFuture<Void> tooLarge;
    CompletableFuture<Void> tooLargeWithHeaders;
    CompletableFuture<Void> fitting;
    Buffer<ProducerRecord<String, String>> buffer = Buffer.start(
        Config.builder(new KafkaBatchSink<>(producer))
            .policy(KafkaBatchSink.policy())
            .flushInterval(Duration.ofDays(1))
            .onReject(r -> rejected.add(r.value().substring(0, 1) + r.value().length()))
            .build());
    try {
      tooLarge = buffer.submit(atTheLimit);
      tooLargeWithHeaders = buffer.submit(withHeaders);
      fitting = buffer.submit(fits);
    } finally {
      buffer.close();
    }
    assertThat(fitting).succeedsWithin(Duration.ofSeconds(5));
    assertThat(tooLarge).failsWithin(Duration.ofSeconds(5)).withThrowableThat()
        .havingCause().isInstanceOfSatisfying(DeliveryException.class,
            e -> assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED));
    assertThat(tooLargeWithHeaders).isCompletedExceptionally();
    assertThat(rejected).containsExactly("x1048575", "x1040000");
    assertThat(producer.sent).hasSize(1);
    BufferStats stats = buffer.stats();
    assertThat(stats.accepted()).isEqualTo(3);
    assertThat(stats.flushed() + stats.failed() + stats.rejected()).isEqualTo(stats.accepted());
    assertThat(stats.rejected()).isEqualTo(2);
  }

  @Test
  void producerSettingsLeaveLingeringToTheBufferAndKeepIdempotence() {
    assertThat(KafkaBatchSink.producerSettings("h:1")).containsEntry("bootstrap.servers", "h:1")
        .containsEntry("linger.ms", 0).containsEntry("acks", "all")
        .containsEntry("enable.idempotence", true);
  }
}
