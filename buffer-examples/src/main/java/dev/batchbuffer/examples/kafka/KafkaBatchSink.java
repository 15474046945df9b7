package dev.batchbuffer.examples.kafka;

import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.Presets;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.header.Header;
import org.jspecify.annotations.Nullable;

/**
 * The flush function of a buffer of {@link ProducerRecord}s: it hands the whole batch to a Kafka
 * {@link Producer} ({@code send} for every record, then {@code flush()}, which returns when every
 * send has been acknowledged or has failed), and reports the records that failed by their index in
 * the batch with a {@link PartialFlushException}. The buffer then counts the others as delivered,
 * completes their futures, and {@link dev.batchbuffer.FlushMiddleware#retry} sends only the failed
 * records again, in their original order; what still fails reaches {@code onFlushError}, the
 * dead-letter hook, with exactly those records.
 *
 * <pre>{@code
 * KafkaProducer<String, String> producer = new KafkaProducer<>(KafkaBatchSink.producerSettings(servers),
 *     new StringSerializer(), new StringSerializer());
 * KafkaBatchSink<String, String> sink = new KafkaBatchSink<>(producer);
 * Buffer<ProducerRecord<String, String>> buffer = Buffer.start(
 *     Config.builder(FlushMiddleware.chain(sink, FlushMiddleware.retry(
 *             RetryPolicy.builder().retryOn(KafkaBatchSink::retriable).build(), TimeSource.system())))
 *         .policy(KafkaBatchSink.policy())
 *         .flushInterval(Duration.ofMillis(50))
 *         .onFlushError((e, records) -> deadLetters.addAll(records))
 *         .build());
 * CompletableFuture<Void> acked = buffer.submit(new ProducerRecord<>("orders", key, value));
 * }</pre>
 *
 * <h2>Our buffer in front of the producer, or the producer's own batching?</h2>
 * The producer already batches: records for one partition collect in a batch of up to
 * {@code batch.size} bytes (16,384) that is sent when it is full or {@code linger.ms} after its first
 * record (5 ms by default since Kafka 4.0), and a request carries one batch per partition of a
 * broker. That is <em>wire</em> batching, and for throughput alone it is the right tool: tune
 * {@code batch.size}, {@code linger.ms} and {@code compression.type}, and call {@code send}.
 *
 * <p>Put this buffer in front when you need <em>application</em> batching, which the producer does
 * not offer:
 * <ul>
 *   <li>a batch that means something: one poll of a source, one unit to acknowledge upstream (commit
 *       the source's offsets or ack the messages after the batch's flush returned), one transaction
 *       ({@code beginTransaction}/{@code commitTransaction} around the sends in a flush function of
 *       your own);
 *   <li>a future per record that completes only once the broker acknowledged it, a dead-letter hook
 *       that receives exactly the records that were not delivered, and counters
 *       ({@code stats()}) where accepted = delivered + dead-lettered + rejected;
 *   <li>memory bounded in records or bytes <em>before</em> serialization, with backpressure on your
 *       producers ({@code add} blocks) instead of the producer's {@code max.block.ms} timeouts when
 *       {@code buffer.memory} is full;
 *   <li>per-key order across retries: a {@link dev.batchbuffer.KeyedBuffer} keyed like the topic
 *       never runs two flushes of one key at once;
 *   <li>a retry that outlives {@code delivery.timeout.ms} (say, a broker restart) without holding
 *       records in the producer.
 * </ul>
 *
 * <p>Combining them: let our buffer decide what a batch is and the producer how it goes on the wire.
 * Size our batches with {@link #policy()} ({@link dev.batchbuffer.Presets#kafkaBatch} at the
 * producer's {@code batch.size}, so a batch of ours fills about one producer batch per partition,
 * and a record the producer would refuse as above {@code max.request.size}, counted as it counts,
 * overheads and headers included, is rejected before it is sent), and set {@code linger.ms=0}: this
 * sink calls {@code flush()} right after the sends, which sends at once anyway, and our buffer's
 * {@code flushInterval} is the only linger. Keep {@code enable.idempotence=true} and {@code acks=all}
 * (the defaults, see {@link #producerSettings}): the producer's own retries then never duplicate or
 * reorder a record. A retry by our middleware is a new {@code send}: a record whose delivery timed
 * out may still have been written, so it can appear twice; consumers that must not see duplicates
 * de-duplicate by a record id, or use a transactional flush.
 *
 * <p>Order: records of one key go to one partition and are sent in batch order; when some fail and
 * are retried, they keep their order among themselves, but a later record of the same key that
 * succeeded is already in the log before them. The idempotent producer fails a partition's later
 * batches once one fails, which keeps this rare; where it must never happen, use
 * {@code max.in.flight.requests.per.connection=1} and no retry middleware (dead-letter instead).
 *
 * <p>Thread-safety: {@code flush} may be called from several flush threads at once
 * ({@code maxInFlight > 1}); the producer is thread-safe. Each call's {@code producer.flush()} also
 * waits for the other calls' sends, so one producer per buffer is the natural shape.
 *
 * @param <K> the record key type
 * @param <V> the record value type
 */
public final class KafkaBatchSink<K, V> implements FlushFunc<ProducerRecord<K, V>> {

  /**
   * What one call of {@link #flush} sent and how each record ended.
   *
   * @param records the batch, as sent
   * @param metadata for each record, the broker's acknowledgement (partition, offset, serialized
   *     sizes), or null where it failed
   * @param errors for each record, why it failed, or null where it was acknowledged
   * @param <K> the record key type
   * @param <V> the record value type
   */
  public record SentBatch<K, V>(List<ProducerRecord<K, V>> records,
      List<@Nullable RecordMetadata> metadata, List<@Nullable Exception> errors) {

    /**
     * Returns the sum of the serialized key and value sizes of the acknowledged records, as the
     * producer measured them.
     *
     * @return bytes
     */
    public long acknowledgedBytes() {
      long bytes = 0;
      for (RecordMetadata m : metadata) {
        if (m != null) {
          bytes += Math.max(0, m.serializedKeySize()) + Math.max(0, m.serializedValueSize());
        }
      }
      return bytes;
    }
  }

  private final Producer<K, V> producer;
  private final Consumer<? super SentBatch<K, V>> observer;

  /**
   * Creates a sink that sends through {@code producer}; closing the producer stays the caller's job
   * (after the buffer's {@code close()}).
   *
   * @param producer the producer
   */
  public KafkaBatchSink(Producer<K, V> producer) {
    this(producer, sent -> { });
  }

  /**
   * Creates a sink that also tells {@code observer} how each batch ended, e.g. for metrics or to
   * check the sizes the producer measured.
   *
   * @param producer the producer
   * @param observer called at the end of every {@link #flush}, on the flush's thread; it must not
   *     throw
   */
  public KafkaBatchSink(Producer<K, V> producer, Consumer<? super SentBatch<K, V>> observer) {
    this.producer = Objects.requireNonNull(producer, "producer must not be null");
    this.observer = Objects.requireNonNull(observer, "observer must not be null");
  }

  /**
   * The producer settings this sink is meant for: {@code linger.ms=0} (the buffer lingers),
   * {@code acks=all} and {@code enable.idempotence=true} (no duplicates or reordering from the
   * producer's own retries). Add serializers, or pass them to the producer's constructor, and adjust
   * {@code delivery.timeout.ms} (how long a record may take before it fails, 120 s by default).
   *
   * @param bootstrapServers the brokers, from your configuration
   * @return a new mutable map
   */
  public static Map<String, Object> producerSettings(String bootstrapServers) {
    Map<String, Object> settings = new HashMap<>();
    settings.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    settings.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    settings.put(ProducerConfig.ACKS_CONFIG, "all");
    settings.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    return settings;
  }

  /**
   * Returns whether sending a failed record again may help: Kafka's retriable errors (a timeout, no
   * leader, not enough replicas); not a record too large, an authorization or a serialization error.
   * Pass it to {@code RetryPolicy.Builder.retryOn}.
   *
   * @param failure the failure of a flush: the retry middleware passes a partial failure's cause
   * @return true if a retry may succeed
   */
  public static boolean retriable(Exception failure) {
    return failure instanceof RetriableException;
  }

  /**
   * Returns the serialized size of a record of strings under {@code StringSerializer}: the UTF-8
   * bytes of key and value, the weigher for {@link dev.batchbuffer.Presets#kafkaBatch}.
   *
   * @param record the record
   * @return bytes
   */
  public static long utf8Size(ProducerRecord<String, String> record) {
    return utf8Length(record.key()) + utf8Length(record.value());
  }

  /**
   * Returns the size the producer checks against {@code max.request.size} before it sends a record
   * of strings (under {@code StringSerializer}): key, value and headers plus the varints and the
   * fixed overheads of one record in a batch of its own (Kafka's
   * {@code AbstractRecords.estimateSizeInBytesUpperBound}, magic v2, no compression: 61 bytes of
   * batch header, at most 21 of record header). A record whose {@link #utf8Size} fits
   * {@code max.request.size} can still be over it by this count; the producer then fails it with a
   * {@code RecordTooLargeException}.
   *
   * @param record the record
   * @return bytes
   */
  public static long recordSizeUpperBound(ProducerRecord<String, String> record) {
    long size = BATCH_OVERHEAD + MAX_RECORD_OVERHEAD
        + varintSized(lengthOrMinusOne(record.key()))
        + varintSized(lengthOrMinusOne(record.value()));
    Header[] headers = record.headers().toArray();
    size += varintSize(headers.length);
    for (Header h : headers) {
      size += varintSized(lengthOrMinusOne(h.key()));
      size += varintSized(h.value() == null ? -1 : h.value().length);
    }
    return size;
  }

  /**
   * Returns the preset for records of strings with the producer's defaults ({@code batch.size}
   * 16,384, {@code max.request.size} 1,048,576): see {@link #policy(long, long)}.
   *
   * @return the policy
   */
  public static FlushPolicy<ProducerRecord<String, String>> policy() {
    return policy(Presets.KAFKA_BATCH_SIZE, Presets.KAFKA_MAX_REQUEST_SIZE);
  }

  /**
   * Returns the preset for records of strings: batches of about {@code batchSize} bytes of keys and
   * values ({@link Presets#kafkaBatch}, weighed by {@link #utf8Size}), and a record the producer
   * would refuse as larger than {@code maxRequestSize} ({@link #recordSizeUpperBound}) rejected
   * before it is sent: its future fails with {@code REJECTED} and {@code onReject} gets it.
   *
   * @param batchSize the producer's {@code batch.size}
   * @param maxRequestSize the producer's {@code max.request.size}, at least {@code batchSize}
   * @return the policy
   * @throws IllegalArgumentException as {@link Presets#kafkaBatch(dev.batchbuffer.Weigher, long,
   *     long)} does
   */
  public static FlushPolicy<ProducerRecord<String, String>> policy(long batchSize,
      long maxRequestSize) {
    return Presets.<ProducerRecord<String, String>>kafkaBatch(KafkaBatchSink::utf8Size, batchSize,
            maxRequestSize)
        .or(FlushPolicy.custom((batch, record) -> false,
            (batch, record) -> recordSizeUpperBound(record) <= maxRequestSize, batch -> false));
  }

  /** Kafka's {@code DefaultRecordBatch.RECORD_BATCH_OVERHEAD}. */
  private static final int BATCH_OVERHEAD = 61;

  /** Kafka's {@code DefaultRecord.MAX_RECORD_OVERHEAD}. */
  private static final int MAX_RECORD_OVERHEAD = 21;

  /** The UTF-8 length of {@code s}, or -1 for null, as Kafka writes a null key or value. */
  private static int lengthOrMinusOne(@Nullable String s) {
    return s == null ? -1 : Math.toIntExact(utf8Length(s));
  }

  /** A length as a varint, then that many bytes (-1, null, has no bytes). */
  private static long varintSized(int length) {
    return (long) varintSize(length) + Math.max(0, length);
  }

  /** The bytes of {@code value} as a zig-zag varint, as Kafka writes lengths. */
  private static int varintSize(int value) {
    int v = (value << 1) ^ (value >> 31);
    int bytes = 1;
    while ((v & 0xffffff80) != 0) {
      bytes++;
      v >>>= 7;
    }
    return bytes;
  }

  /**
   * Sends the batch and waits until every record is acknowledged or has failed. When a
   * {@code send} itself fails with a {@link TimeoutException} (it waited {@code max.block.ms} for
   * metadata or memory: typically the brokers are unreachable), the rest of the batch is not sent
   * and fails with the same exception, so an outage costs one {@code max.block.ms} per batch, not
   * one per record; the retry middleware sends them again, in order.
   *
   * @param batch the records, in order
   * @throws PartialFlushException naming the records that failed (all of them if all failed), with
   *     the first failure as cause
   * @throws InterruptedException if interrupted while waiting; the records' fate is unknown (some
   *     may have been written), and the buffer counts the batch as failed
   */
  @Override
  public void flush(List<ProducerRecord<K, V>> batch) throws PartialFlushException, InterruptedException {
    int n = batch.size();
    List<@Nullable Future<RecordMetadata>> futures = new ArrayList<>(n);
    List<@Nullable RecordMetadata> metadata = new ArrayList<>(n);
    List<@Nullable Exception> errors = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      metadata.add(null);
      errors.add(null);
    }
    try {
      @Nullable TimeoutException noMetadata = null;
      for (int i = 0; i < n; i++) {
        if (noMetadata != null) { // not sent: it would block max.block.ms and fail the same way
          futures.add(null);
          errors.set(i, noMetadata);
          continue;
        }
        try {
          Future<RecordMetadata> future = producer.send(batch.get(i));
          futures.add(future);
          noMetadata = metadataTimeout(future);
        } catch (InterruptException e) {
          throw e;
        } catch (RuntimeException e) { // e.g. the producer is closed: no callback will come
          futures.add(null);
          errors.set(i, e);
        }
      }
      producer.flush(); // sends now, returns when every send above has completed
    } catch (InterruptException e) {
      Thread.interrupted(); // InterruptException set the flag again; we throw instead
      InterruptedException interrupted = new InterruptedException("interrupted while sending a batch");
      interrupted.initCause(e);
      throw interrupted;
    }
    List<Integer> failed = new ArrayList<>();
    @Nullable Exception first = null;
    for (int i = 0; i < n; i++) {
      Future<RecordMetadata> future = futures.get(i);
      if (future != null) {
        try {
          metadata.set(i, future.get()); // done: flush() returned
        } catch (ExecutionException e) {
          errors.set(i, e.getCause() instanceof Exception cause ? cause : e);
        }
      }
      Exception error = errors.get(i);
      if (error != null) {
        failed.add(i);
        if (first == null) {
          first = error;
        }
      }
    }
    observer.accept(new SentBatch<>(batch, Collections.unmodifiableList(metadata),
        Collections.unmodifiableList(errors)));
    if (!failed.isEmpty()) {
      throw new PartialFlushException(failed, first);
    }
  }

  /**
   * Returns the failure of a send that failed before it returned: {@code send} waited
   * {@code max.block.ms} for the topic's metadata (the broker is unreachable) or for room in
   * {@code buffer.memory}. Null if the send is pending or done otherwise.
   */
  private static @Nullable TimeoutException metadataTimeout(Future<RecordMetadata> future)
      throws InterruptedException {
    if (!future.isDone()) {
      return null;
    }
    try {
      future.get();
      return null;
    } catch (ExecutionException e) {
      return e.getCause() instanceof TimeoutException t ? t : null;
    }
  }

  private static long utf8Length(@Nullable String s) {
    return s == null ? 0 : s.getBytes(StandardCharsets.UTF_8).length;
  }
}
