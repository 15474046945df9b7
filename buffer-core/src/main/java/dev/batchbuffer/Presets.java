package dev.batchbuffer;

import dev.batchbuffer.internal.Checks;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.ToLongFunction;

/**
 * {@link FlushPolicy} presets for the batch APIs of common backends: each takes your size function
 * and yields a policy holding the call's record count, request bytes and per-record bytes, so no
 * batch the buffer hands over is refused for its size. The limits are the services' documented
 * ones as of November 2026 (each method cites its page); a limit a backend lets you raise is the
 * default value, with an overload or {@link FlushPolicy#bytes(Weigher, long, long, Oversize)} for
 * the raised one. Items above the per-record limit are {@linkplain Oversize#REJECT rejected} unless
 * the method says otherwise; combine with {@link FlushPolicy#onOversize} to choose.
 *
 * <p>Item types: passed to {@code Config.Builder.policy} or {@code KeyedBuffer.Builder.policy}, a
 * preset takes the builder's item type, so an implicit lambda such as {@code r -> r.data().length}
 * works. Where nothing gives the type, as at the start of a chain {@code preset(...).or(...)}, pass
 * a method reference ({@code Entry::sizeInBytes}) or a typed lambda
 * ({@code (Entry r) -> r.data().length}): Java does not infer a lambda's parameter type there.
 *
 * {@snippet file="dev/batchbuffer/snippets/FlushPolicySnippetsTest.java" region="presets"}
 */
public final class Presets {
  private Presets() {}

  private static final long KIB = 1024;
  private static final long MIB = 1024 * KIB;

  /** Kinesis Data Streams {@code PutRecords}: records per request, {@value}. */
  public static final int KINESIS_MAX_RECORDS = 500;
  /** Kinesis {@code PutRecords}: bytes per request, data and partition keys, 10 MiB. */
  public static final long KINESIS_MAX_REQUEST_BYTES = 10 * MIB;
  /** Kinesis: bytes per record by default (a stream's limit can be raised to 10 MiB), 1 MiB. */
  public static final long KINESIS_MAX_RECORD_BYTES = MIB;

  /** Amazon Data Firehose {@code PutRecordBatch}: records per call, {@value}. */
  public static final int FIREHOSE_MAX_RECORDS = 500;
  /** Firehose {@code PutRecordBatch}: bytes per call, 4 MB (read as 4,000,000, the safe side). */
  public static final long FIREHOSE_MAX_REQUEST_BYTES = 4_000_000;
  /** Firehose: bytes per record before base64, 1,000 KB (read as 1,000,000, the safe side). */
  public static final long FIREHOSE_MAX_RECORD_BYTES = 1_000_000;

  /** Amazon SQS {@code SendMessageBatch}: entries per batch, {@value}. */
  public static final int SQS_MAX_ENTRIES = 10;
  /** SQS {@code SendMessageBatch}: total payload of the batch, 1 MiB (raised from 256 KiB in 2025). */
  public static final long SQS_MAX_REQUEST_BYTES = MIB;
  /** SQS: bytes per message, body and attributes, 1 MiB. */
  public static final long SQS_MAX_MESSAGE_BYTES = MIB;

  /** Google Cloud Pub/Sub publish: messages per request, {@value}. */
  public static final int PUBSUB_MAX_MESSAGES = 1_000;
  /** Pub/Sub publish: bytes per request, 10 MB. */
  public static final long PUBSUB_MAX_REQUEST_BYTES = 10_000_000;
  /** Pub/Sub: bytes per message, 10 MB. */
  public static final long PUBSUB_MAX_MESSAGE_BYTES = 10_000_000;

  /** Amazon CloudWatch Logs {@code PutLogEvents}: events per batch, {@value}. */
  public static final int CLOUDWATCH_MAX_EVENTS = 10_000;
  /** CloudWatch Logs {@code PutLogEvents}: batch bytes (UTF-8 messages + overhead), 1,048,576. */
  public static final long CLOUDWATCH_MAX_REQUEST_BYTES = MIB;
  /** CloudWatch Logs: bytes added to each event's UTF-8 message size, {@value}. */
  public static final long CLOUDWATCH_EVENT_OVERHEAD_BYTES = 26;
  /** CloudWatch Logs: the largest event, 1 MiB, counted here with its overhead (the safe side). */
  public static final long CLOUDWATCH_MAX_EVENT_BYTES = MIB;
  /** CloudWatch Logs: the events of one batch may span at most 24 hours. */
  public static final Duration CLOUDWATCH_MAX_SPAN = Duration.ofHours(24);

  /** DynamoDB {@code BatchWriteItem}: put or delete requests per call, {@value}. */
  public static final int DYNAMODB_MAX_REQUESTS = 25;
  /** DynamoDB {@code BatchWriteItem}: bytes per call, 16 MB (DynamoDB's MB is 1024 x 1024). */
  public static final long DYNAMODB_MAX_REQUEST_BYTES = 16 * MIB;
  /** DynamoDB: bytes per item, 400 KB (1024-based). */
  public static final long DYNAMODB_MAX_ITEM_BYTES = 400 * KIB;

  /** Kafka producer {@code batch.size} default: bytes per partition batch, {@value}. */
  public static final long KAFKA_BATCH_SIZE = 16_384;
  /** Kafka producer {@code max.request.size} default: the largest request or record, {@value}. */
  public static final long KAFKA_MAX_REQUEST_SIZE = 1_048_576;

  /**
   * Kinesis Data Streams {@code PutRecords}: 500 records, 10 MiB per request, 1 MiB per record (the
   * stream default). The partition key counts toward both limits, so {@code dataPlusKeyBytes} must
   * add the data blob's length and the partition key's UTF-8 length. Older documentation and SDKs
   * state 5 MiB per request: use {@link #kinesisPutRecords(Weigher, long, long)} with 5 MiB there.
   * Source: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html and
   * https://docs.aws.amazon.com/streams/latest/dev/large-records.html
   *
   * @param dataPlusKeyBytes the size of one record: data plus partition key
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> kinesisPutRecords(Weigher<? super T> dataPlusKeyBytes) {
    return kinesisPutRecords(dataPlusKeyBytes, KINESIS_MAX_REQUEST_BYTES, KINESIS_MAX_RECORD_BYTES);
  }

  /**
   * Kinesis {@code PutRecords} with explicit byte limits (a stream whose record limit was raised with
   * {@code UpdateMaxRecordSize}, or an endpoint with the older 5 MiB request limit).
   *
   * @param dataPlusKeyBytes the size of one record: data plus partition key
   * @param maxRequestBytes bytes per request
   * @param maxRecordBytes bytes per record, at most {@code maxRequestBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxRequestBytes < 1} or {@code maxRecordBytes} is
   *     not in {@code [1, maxRequestBytes]}
   */
  public static <T> FlushPolicy<T> kinesisPutRecords(Weigher<? super T> dataPlusKeyBytes,
      long maxRequestBytes, long maxRecordBytes) {
    Objects.requireNonNull(dataPlusKeyBytes, "dataPlusKeyBytes must not be null");
    Checks.atLeastOne("maxRequestBytes", maxRequestBytes);
    if (maxRecordBytes < 1 || maxRecordBytes > maxRequestBytes) {
      throw new IllegalArgumentException("maxRecordBytes must be in [1, maxRequestBytes="
          + maxRequestBytes + "] (was " + maxRecordBytes + ")");
    }
    return limits(KINESIS_MAX_RECORDS, dataPlusKeyBytes, maxRequestBytes, maxRecordBytes);
  }

  /**
   * Amazon Data Firehose {@code PutRecordBatch}: 500 records, 4 MB per call, 1,000 KB per record
   * before base64 encoding ("these limits cannot be changed"). The documentation does not say
   * whether KB/MB are 1000- or 1024-based; the smaller reading is used.
   * Source: https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
   *
   * @param recordBytes the size of one record before base64
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> firehosePutRecordBatch(Weigher<? super T> recordBytes) {
    return limits(FIREHOSE_MAX_RECORDS, recordBytes, FIREHOSE_MAX_REQUEST_BYTES,
        FIREHOSE_MAX_RECORD_BYTES);
  }

  /**
   * Amazon SQS {@code SendMessageBatch}: 10 entries, 1 MiB for the whole batch, 1 MiB per message.
   * Message attributes (name, type and value) count toward the size, so {@code messageBytes} must
   * include them.
   * Source: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
   * and https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
   *
   * @param messageBytes the size of one message: body plus attributes
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> sqsSendMessageBatch(Weigher<? super T> messageBytes) {
    return limits(SQS_MAX_ENTRIES, messageBytes, SQS_MAX_REQUEST_BYTES, SQS_MAX_MESSAGE_BYTES);
  }

  /**
   * Google Cloud Pub/Sub publish: 1,000 messages, 10 MB per request, 10 MB per message. (The
   * client libraries batch far smaller by default; these are the service's hard limits.)
   * Source: https://cloud.google.com/pubsub/quotas#resource_limits
   *
   * @param messageBytes the size of one message: data plus attributes
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> pubSubPublish(Weigher<? super T> messageBytes) {
    return limits(PUBSUB_MAX_MESSAGES, messageBytes, PUBSUB_MAX_REQUEST_BYTES,
        PUBSUB_MAX_MESSAGE_BYTES);
  }

  /**
   * Amazon CloudWatch Logs {@code PutLogEvents}: 10,000 events, 1,048,576 bytes per batch counted as
   * the sum of UTF-8 message sizes plus 26 bytes per event, and the events of one batch spanning at
   * most 24 hours: an event 24 hours or more away from the batch's first event starts a new batch.
   * Events must be in chronological order within a batch; that is the caller's to keep.
   * Source: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
   *
   * @param utf8MessageBytes the UTF-8 length of one event's message (the 26 bytes are added here)
   * @param timestampMillis one event's timestamp
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> cloudWatchLogsPutLogEvents(Weigher<? super T> utf8MessageBytes,
      ToLongFunction<? super T> timestampMillis) {
    Objects.requireNonNull(utf8MessageBytes, "utf8MessageBytes must not be null");
    Objects.requireNonNull(timestampMillis, "timestampMillis must not be null");
    Weigher<T> withOverhead = e -> utf8MessageBytes.weigh(e) + CLOUDWATCH_EVENT_OVERHEAD_BYTES;
    long span = CLOUDWATCH_MAX_SPAN.toMillis();
    FlushPolicy<T> spanLimit = FlushPolicy.custom(
        (List<T> batch, T item) -> !batch.isEmpty()
            && Math.abs(timestampMillis.applyAsLong(item) - timestampMillis.applyAsLong(batch.get(0))) >= span,
        (batch, item) -> true,
        batch -> false);
    return limits(CLOUDWATCH_MAX_EVENTS, withOverhead, CLOUDWATCH_MAX_REQUEST_BYTES,
        CLOUDWATCH_MAX_EVENT_BYTES).or(spanLimit);
  }

  /**
   * DynamoDB {@code BatchWriteItem}: 25 put or delete requests, 16 MB per call, 400 KB per item
   * (DynamoDB counts 1 KB as 1024 bytes).
   * Source: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
   *
   * @param itemBytes the size of one item as DynamoDB counts it (attribute names and values)
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> dynamoDbBatchWriteItem(Weigher<? super T> itemBytes) {
    return limits(DYNAMODB_MAX_REQUESTS, itemBytes, DYNAMODB_MAX_REQUEST_BYTES,
        DYNAMODB_MAX_ITEM_BYTES);
  }

  /**
   * Kafka-style byte batches with the producer's defaults: batches of up to {@code batch.size}
   * (16,384) bytes; a record larger than that goes alone in its own batch, as Kafka's producer does;
   * a record above {@code max.request.size} (1,048,576) is rejected.
   * Source: https://kafka.apache.org/documentation/#producerconfigs
   *
   * @param recordBytes the serialized size of one record
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> kafkaBatch(Weigher<? super T> recordBytes) {
    return kafkaBatch(recordBytes, KAFKA_BATCH_SIZE, KAFKA_MAX_REQUEST_SIZE);
  }

  /**
   * Kafka-style byte batches with explicit {@code batch.size} and {@code max.request.size}.
   *
   * @param recordBytes the serialized size of one record
   * @param batchSize the target batch bytes
   * @param maxRequestSize the largest record accepted, at least {@code batchSize}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code batchSize < 1} or {@code maxRequestSize < batchSize}
   */
  public static <T> FlushPolicy<T> kafkaBatch(Weigher<? super T> recordBytes, long batchSize,
      long maxRequestSize) {
    Objects.requireNonNull(recordBytes, "recordBytes must not be null");
    Checks.atLeastOne("batchSize", batchSize);
    if (maxRequestSize < batchSize) {
      throw new IllegalArgumentException("maxRequestSize must be >= batchSize=" + batchSize
          + " (was " + maxRequestSize + ")");
    }
    FlushPolicy<T> bytes = FlushPolicy.bytes(recordBytes, batchSize, batchSize, Oversize.SEND_ALONE);
    FlushPolicy<T> cap = FlushPolicy.custom((batch, item) -> false,
        (List<T> batch, T item) -> recordBytes.weigh(item) <= maxRequestSize, batch -> false);
    return bytes.or(cap);
  }

  /**
   * JDBC {@code executeBatch}: a count only. JDBC sets no limit; the database does (SQLite allows
   * 32,766 bound variables per statement, pgjdbc 65,535 parameters), and past a few hundred to a few
   * thousand rows per batch the gain flattens while the transaction grows. The demo uses 500.
   *
   * @param rows rows per {@code executeBatch} and commit
   * @param <T> the item type
   * @return {@code FlushPolicy.count(rows)}
   * @throws IllegalArgumentException if {@code rows < 1}
   */
  public static <T> FlushPolicy<T> jdbcExecuteBatch(int rows) {
    Checks.atLeastOne("rows", rows);
    return FlushPolicy.count(rows);
  }

  private static <T> FlushPolicy<T> limits(int records, Weigher<? super T> weigher,
      long requestBytes, long recordBytes) {
    Objects.requireNonNull(weigher, "weigher must not be null");
    return FlushPolicy.<T>count(records)
        .or(FlushPolicy.bytes(weigher, requestBytes, recordBytes, Oversize.REJECT));
  }
}
