package dev.batchbuffer.examples.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.Config;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.Presets;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link KafkaBatchSink} against a real Kafka broker ({@link LocalKafka}, started once for the class
 * on 127.0.0.1): every record produced is read back by a consumer exactly once and in order per
 * key; every batch sent stayed within {@link Presets#kafkaBatch}'s limits as the producer measured
 * the serialized records; a record the broker refuses is dead-lettered alone while its batch-mates
 * arrive; and when the broker stops mid-run the undelivered records' futures fail and the
 * dead-letter hook receives exactly them, with delivered + dead-lettered = produced.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class KafkaIT {
  static LocalKafka kafka;

  @BeforeAll
  static void startBroker() throws Exception {
    kafka = LocalKafka.start();
    System.out.printf(Locale.ROOT, "Kafka 4.4.0 (KRaft, in-process) up in %.1f s on %s%n",
        kafka.startUpTime().toMillis() / 1000.0, kafka.bootstrapServers());
  }

  @AfterAll
  static void stopBroker() {
    if (kafka != null) {
      kafka.close();
    }
  }

  final List<ProducerRecord<String, String>> deadLetters = new CopyOnWriteArrayList<>();
  final List<KafkaBatchSink.SentBatch<String, String>> sent = new CopyOnWriteArrayList<>();

  static KafkaProducer<String, String> producer(LocalKafka broker, Map<String, Object> extra) {
    Map<String, Object> settings = KafkaBatchSink.producerSettings(broker.bootstrapServers());
    settings.putAll(extra);
    return new KafkaProducer<>(settings, new StringSerializer(), new StringSerializer());
  }

  Buffer<ProducerRecord<String, String>> buffer(KafkaProducer<String, String> producer, int attempts,
      int chanSize) {
    KafkaBatchSink<String, String> sink = new KafkaBatchSink<>(producer, sent::add);
    RetryPolicy retry = RetryPolicy.builder().maxAttempts(attempts)
        .backoff(Duration.ofMillis(50), Duration.ofMillis(200))
        .retryOn(KafkaBatchSink::retriable).build();
    return Buffer.start(Config.builder(FlushMiddleware.chain(sink,
            FlushMiddleware.<ProducerRecord<String, String>>retry(retry, TimeSource.system())))
        .policy(Presets.kafkaBatch(KafkaBatchSink::utf8Size))
        .chanSize(chanSize)
        .flushInterval(Duration.ofMillis(20))
        .onFlushError((e, records) -> deadLetters.addAll(records))
        .build());
  }

  static List<ConsumerRecord<String, String>> readAll(LocalKafka broker, String topic) {
    Map<String, Object> config = new HashMap<>();
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
    try (KafkaConsumer<String, String> consumer =
        new KafkaConsumer<>(config, new StringDeserializer(), new StringDeserializer())) {
      return TopicReader.readAll(consumer, topic, Duration.ofSeconds(60));
    }
  }

  static void assertIdentity(BufferStats stats) {
    assertThat(stats.accepted()).isEqualTo(stats.flushed() + stats.failed() + stats.rejected());
    assertThat(stats.itemsWaiting()).isZero();
    assertThat(stats.itemsFlushing()).isZero();
  }

  /** Producer {@code p} sends values "p:i" for i = 0, 1, 2... under key "key-p". */
  static ProducerRecord<String, String> record(String topic, int producer, int i) {
    return new ProducerRecord<>(topic, "key-" + producer,
        producer + ":" + i + ":" + "x".repeat(20 + (i * 37) % 80));
  }

  @Test
  void everyRecordArrivesOnceInKeyOrderAndEveryBatchKeptThePresetLimits() throws Exception {
    kafka.createTopic("orders", 3, Map.of());
    int producers = 4;
    int perProducer = 2_500;
    List<CompletableFuture<Void>> futures = new CopyOnWriteArrayList<>();
    try (KafkaProducer<String, String> producer = producer(kafka, Map.of())) {
      Buffer<ProducerRecord<String, String>> buffer = buffer(producer, 3, 2_000);
      try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
        List<Future<?>> done = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
          int id = p;
          done.add(threads.submit(() -> {
            for (int i = 0; i < perProducer; i++) {
              futures.add(buffer.submit(record("orders", id, i)));
            }
            return null;
          }));
        }
        for (Future<?> f : done) {
          f.get(); // a producer's failure reaches this thread
        }
      }
      buffer.close();
      CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
      assertIdentity(buffer.stats());
      assertThat(buffer.stats().flushed()).isEqualTo((long) producers * perProducer);
    }

    // On the wire: each sent batch within batch.size bytes (or one record alone), as the producer
    // serialized it, and each record within max.request.size.
    assertThat(deadLetters).isEmpty();
    assertThat(sent).isNotEmpty();
    long maxBatchBytes = 0;
    for (KafkaBatchSink.SentBatch<String, String> batch : sent) {
      long bytes = 0;
      assertThat(batch.errors()).containsOnlyNulls();
      for (int i = 0; i < batch.records().size(); i++) {
        RecordMetadata m = Objects.requireNonNull(batch.metadata().get(i), "acknowledged");
        long size = (long) m.serializedKeySize() + m.serializedValueSize();
        assertThat(size).as("the preset's weigher is what the producer serialized")
            .isEqualTo(KafkaBatchSink.utf8Size(batch.records().get(i)));
        assertThat(size).isLessThanOrEqualTo(Presets.KAFKA_MAX_REQUEST_SIZE);
        bytes += size;
      }
      assertThat(bytes).isEqualTo(batch.acknowledgedBytes());
      if (batch.records().size() > 1) {
        assertThat(bytes).isLessThanOrEqualTo(Presets.KAFKA_BATCH_SIZE);
      }
      maxBatchBytes = Math.max(maxBatchBytes, bytes);
    }
    assertThat(maxBatchBytes).as("the byte limit is what closed the batches")
        .isGreaterThan(Presets.KAFKA_BATCH_SIZE - 200);
    assertThat(sent.size()).as("batches, not records one by one")
        .isLessThan(producers * perProducer / 50);

    // Read back: each record once; per key, in the order it was produced.
    List<ConsumerRecord<String, String>> read = readAll(kafka, "orders");
    assertThat(read).hasSize(producers * perProducer);
    Map<String, Integer> next = new HashMap<>();
    Set<String> values = ConcurrentHashMap.newKeySet();
    for (ConsumerRecord<String, String> r : read) {
      assertThat(values.add(r.value())).as("duplicate %s", r.value()).isTrue();
      String[] parts = r.value().split(":", 3);
      assertThat(r.key()).isEqualTo("key-" + parts[0]);
      int expected = next.getOrDefault(r.key(), 0);
      assertThat(Integer.parseInt(parts[1])).as("order of %s", r.key()).isEqualTo(expected);
      next.put(r.key(), expected + 1);
    }
    assertThat(next).hasSize(producers).allSatisfy((key, count) -> assertThat(count).isEqualTo(perProducer));
  }

  @Test
  void aRecordTheBrokerRefusesIsDeadLetteredAloneAndItsBatchMatesArrive() throws Exception {
    // The topic takes record batches of at most 1,024 bytes; the producer allows 1 MiB.
    kafka.createTopic("small", 2, Map.of("max.message.bytes", "1024"));
    List<ProducerRecord<String, String>> records = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      records.add(new ProducerRecord<>("small", 0, "k", "small-" + i));
    }
    ProducerRecord<String, String> big = new ProducerRecord<>("small", 1, "k", "big-" + "x".repeat(4_000));
    records.add(3, big);
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    try (KafkaProducer<String, String> producer = producer(kafka, Map.of())) {
      Buffer<ProducerRecord<String, String>> buffer = buffer(producer, 3, 100);
      for (ProducerRecord<String, String> r : records) {
        futures.add(buffer.submit(r));
      }
      buffer.close();
      assertIdentity(buffer.stats());
      assertThat(buffer.stats().failed()).isEqualTo(1);
      assertThat(buffer.stats().retried()).as("not retriable: not sent again").isZero();
    }

    assertThat(sent.stream().flatMap(b -> b.records().stream()).toList())
        .as("each record sent once: the refused one was not retried").isEqualTo(records);
    assertThat(deadLetters).containsExactly(big);
    for (int i = 0; i < records.size(); i++) {
      if (i == 3) {
        assertThat(futures.get(i)).failsWithin(Duration.ofSeconds(5)).withThrowableThat()
            .havingCause().isInstanceOf(DeliveryException.class)
            .havingRootCause().isInstanceOf(RecordTooLargeException.class);
      } else {
        assertThat(futures.get(i)).succeedsWithin(Duration.ofSeconds(5));
      }
    }
    assertThat(readAll(kafka, "small")).extracting(ConsumerRecord::value)
        .containsExactly("small-0", "small-1", "small-2", "small-3", "small-4", "small-5");
  }

  @Test
  void whenTheBrokerStopsMidRunTheUndeliveredFailAndReachTheDeadLetterHookExactly() throws Exception {
    // A broker of its own, stopped in the middle of this test; short timeouts so failures come fast.
    LocalKafka broker = LocalKafka.start();
    Map<ProducerRecord<String, String>, CompletableFuture<Void>> futures = new ConcurrentHashMap<>();
    AtomicInteger produced = new AtomicInteger();
    BufferStats stats;
    try {
      broker.createTopic("events", 2, Map.of());
      Map<String, Object> fast = Map.of(
          ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 1_500,
          ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 1_000,
          ProducerConfig.MAX_BLOCK_MS_CONFIG, 1_000,
          ProducerConfig.RETRY_BACKOFF_MS_CONFIG, 50,
          ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 200);
      try (KafkaProducer<String, String> producer = producer(broker, fast)) {
        Buffer<ProducerRecord<String, String>> buffer = buffer(producer, 2, 200);
        Consumer<Integer> produce = i -> {
          ProducerRecord<String, String> r = record("events", 0, i);
          try {
            futures.put(r, buffer.submit(r));
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
          }
          produced.incrementAndGet();
        };
        // Phase 1: the broker is up; everything is delivered and can be read back.
        for (int i = 0; i < 500; i++) {
          produce.accept(i);
        }
        buffer.flush().get(30, TimeUnit.SECONDS);
        assertThat(readAll(broker, "events")).hasSize(500);

        // Phase 2: a producer keeps going while the broker stops under it.
        AtomicBoolean stop = new AtomicBoolean();
        CompletableFuture<Void> producing = CompletableFuture.runAsync(() -> {
          for (int i = 500; !stop.get(); i++) {
            produce.accept(i);
          }
        }, task -> Thread.ofVirtual().start(task));
        await().atMost(Duration.ofSeconds(30)).until(() -> delivered(futures) >= 1_000);
        broker.close();
        await().atMost(Duration.ofSeconds(60)).until(() -> failed(futures) >= 1);
        stop.set(true);
        producing.get(60, TimeUnit.SECONDS);
        buffer.close();
        stats = buffer.stats();
        producer.close(Duration.ofSeconds(5));
      }
    } finally {
      broker.close();
    }

    // Every future ended; the failed ones are exactly the dead-lettered ones.
    List<ProducerRecord<String, String>> failedRecords = new ArrayList<>();
    int deliveredCount = 0;
    for (Map.Entry<ProducerRecord<String, String>, CompletableFuture<Void>> e : futures.entrySet()) {
      CompletableFuture<Void> f = e.getValue();
      assertThat(f).isDone();
      try {
        f.get();
        deliveredCount++;
      } catch (ExecutionException failure) {
        assertThat(failure.getCause()).isInstanceOfSatisfying(DeliveryException.class,
            d -> assertThat(d.reason()).isEqualTo(DeliveryException.Reason.FAILED));
        failedRecords.add(e.getKey());
      }
    }
    System.out.printf(Locale.ROOT, "broker stopped mid-run: %d produced, %d delivered, %d dead-lettered%n",
        produced.get(), deliveredCount, failedRecords.size());
    assertThat(failedRecords).isNotEmpty();
    assertThat(deadLetters).hasSameSizeAs(failedRecords).containsExactlyInAnyOrderElementsOf(failedRecords);
    assertThat(deliveredCount + deadLetters.size()).isEqualTo(produced.get());
    assertThat(futures).hasSize(produced.get());
    assertIdentity(stats);
    assertThat(stats.flushed()).isEqualTo(deliveredCount);
    assertThat(stats.failed()).isEqualTo(failedRecords.size());
  }

  static long delivered(Map<?, CompletableFuture<Void>> futures) {
    return futures.values().stream().filter(f -> f.isDone() && !f.isCompletedExceptionally()).count();
  }

  static long failed(Map<?, CompletableFuture<Void>> futures) {
    return futures.values().stream().filter(CompletableFuture::isCompletedExceptionally).count();
  }
}
