package dev.batchbuffer;

import dev.batchbuffer.internal.Checks;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.ToLongFunction;
import org.jspecify.annotations.Nullable;

/**
 * {@link FlushPolicy} presets for the batch APIs of common backends: each takes your size function
 * and yields a policy holding the call's record count, request bytes and per-record bytes, so no
 * batch the buffer hands over is refused for its size. The limits are the services' documented
 * ones as of November 2026 (each method cites its page); a limit a backend lets you raise is the
 * default value, with an overload or {@link FlushPolicy#bytes(Weigher, long, long, Oversize)} for
 * the raised one. Items above the per-record limit are {@linkplain Oversize#REJECT rejected} unless
 * the method says otherwise; combine with {@link FlushPolicy#onOversize} to choose.
 *
 * <p>Limits change: SQS raised its message and batch limit from 256 KiB to 1 MiB in 2025, and
 * EventBridge its {@code PutEvents} request from 256 KB to 1 MB in January 2026, while SDKs and
 * libraries kept the old numbers built in. So every preset also takes its limits as arguments (an
 * overload with the count, request bytes and record bytes; the constants below are the defaults):
 * when a service moves a limit, or an endpoint (a region, an emulator, a compatible service) keeps
 * an older one, pass the number instead of waiting for a release. A bad limit fails at once with
 * an {@link IllegalArgumentException} naming the argument and its value.
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

  /** Amazon EventBridge {@code PutEvents}: entries per request, {@value}. */
  public static final int EVENTBRIDGE_MAX_ENTRIES = 10;
  /**
   * EventBridge {@code PutEvents}: bytes per request, the sum of the entries' sizes as
   * {@link #eventBridgeEntrySize} counts them, 1 MB (raised from 256 KB in January 2026; read as
   * 1,000,000, the safe side).
   */
  public static final long EVENTBRIDGE_MAX_REQUEST_BYTES = 1_000_000;
  /** EventBridge: bytes per entry, as large as the request may be, 1 MB (1,000,000). */
  public static final long EVENTBRIDGE_MAX_ENTRY_BYTES = EVENTBRIDGE_MAX_REQUEST_BYTES;
  /** EventBridge: the bytes a {@code PutEvents} entry's {@code Time} counts for when set, {@value}. */
  public static final long EVENTBRIDGE_TIME_BYTES = 14;

  /**
   * Elasticsearch / OpenSearch {@code _bulk}: the request body to aim for, 5 MB (5,000,000): a
   * conservative starting point, not a limit of the service (Elastic's guide says to measure, and
   * to stay below a couple tens of megabytes per request).
   */
  public static final long BULK_TARGET_BYTES = 5_000_000;
  /**
   * Amazon OpenSearch Service: the largest HTTP request body on the instance types with the lowest
   * limit, 10 MiB (10,485,760; larger instance types accept 100 MiB; self-managed clusters default
   * to {@code http.max_content_length} 100 MB). Above it the request fails whole with HTTP 413.
   */
  public static final long BULK_MAX_REQUEST_BYTES = 10 * MIB;

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
    return kinesisPutRecords(dataPlusKeyBytes, KINESIS_MAX_RECORDS, maxRequestBytes, maxRecordBytes);
  }

  /**
   * Kinesis {@code PutRecords} with every limit given.
   *
   * @param dataPlusKeyBytes the size of one record: data plus partition key
   * @param maxRecords records per request
   * @param maxRequestBytes bytes per request
   * @param maxRecordBytes bytes per record, at most {@code maxRequestBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxRecords < 1}, {@code maxRequestBytes < 1} or
   *     {@code maxRecordBytes} is not in {@code [1, maxRequestBytes]}
   */
  public static <T> FlushPolicy<T> kinesisPutRecords(Weigher<? super T> dataPlusKeyBytes,
      int maxRecords, long maxRequestBytes, long maxRecordBytes) {
    return limits(dataPlusKeyBytes, "dataPlusKeyBytes", maxRecords, "maxRecords", maxRequestBytes,
        maxRecordBytes, "maxRecordBytes");
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
    return firehosePutRecordBatch(recordBytes, FIREHOSE_MAX_RECORDS, FIREHOSE_MAX_REQUEST_BYTES,
        FIREHOSE_MAX_RECORD_BYTES);
  }

  /**
   * Firehose {@code PutRecordBatch} with every limit given.
   *
   * @param recordBytes the size of one record before base64
   * @param maxRecords records per call
   * @param maxRequestBytes bytes per call
   * @param maxRecordBytes bytes per record, at most {@code maxRequestBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxRecords < 1}, {@code maxRequestBytes < 1} or
   *     {@code maxRecordBytes} is not in {@code [1, maxRequestBytes]}
   */
  public static <T> FlushPolicy<T> firehosePutRecordBatch(Weigher<? super T> recordBytes,
      int maxRecords, long maxRequestBytes, long maxRecordBytes) {
    return limits(recordBytes, "recordBytes", maxRecords, "maxRecords", maxRequestBytes,
        maxRecordBytes, "maxRecordBytes");
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
    return sqsSendMessageBatch(messageBytes, SQS_MAX_ENTRIES, SQS_MAX_REQUEST_BYTES,
        SQS_MAX_MESSAGE_BYTES);
  }

  /**
   * SQS {@code SendMessageBatch} with every limit given: for a queue whose
   * {@code MaximumMessageSize} is set lower than the service's limit, or an SQS-compatible endpoint
   * that still has the 256 KiB one.
   *
   * @param messageBytes the size of one message: body plus attributes
   * @param maxEntries entries per batch
   * @param maxRequestBytes bytes per batch, all entries together
   * @param maxMessageBytes bytes per message, at most {@code maxRequestBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxEntries < 1}, {@code maxRequestBytes < 1} or
   *     {@code maxMessageBytes} is not in {@code [1, maxRequestBytes]}
   */
  public static <T> FlushPolicy<T> sqsSendMessageBatch(Weigher<? super T> messageBytes,
      int maxEntries, long maxRequestBytes, long maxMessageBytes) {
    return limits(messageBytes, "messageBytes", maxEntries, "maxEntries", maxRequestBytes,
        maxMessageBytes, "maxMessageBytes");
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
    return pubSubPublish(messageBytes, PUBSUB_MAX_MESSAGES, PUBSUB_MAX_REQUEST_BYTES,
        PUBSUB_MAX_MESSAGE_BYTES);
  }

  /**
   * Pub/Sub publish with every limit given.
   *
   * @param messageBytes the size of one message: data plus attributes
   * @param maxMessages messages per request
   * @param maxRequestBytes bytes per request
   * @param maxMessageBytes bytes per message, at most {@code maxRequestBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxMessages < 1}, {@code maxRequestBytes < 1} or
   *     {@code maxMessageBytes} is not in {@code [1, maxRequestBytes]}
   */
  public static <T> FlushPolicy<T> pubSubPublish(Weigher<? super T> messageBytes, int maxMessages,
      long maxRequestBytes, long maxMessageBytes) {
    return limits(messageBytes, "messageBytes", maxMessages, "maxMessages", maxRequestBytes,
        maxMessageBytes, "maxMessageBytes");
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
    return cloudWatchLogsPutLogEvents(utf8MessageBytes, timestampMillis, CLOUDWATCH_MAX_EVENTS,
        CLOUDWATCH_MAX_REQUEST_BYTES, CLOUDWATCH_MAX_EVENT_BYTES, CLOUDWATCH_MAX_SPAN);
  }

  /**
   * CloudWatch Logs {@code PutLogEvents} with every limit given; the 26 bytes per event are still
   * added to {@code utf8MessageBytes}.
   *
   * @param utf8MessageBytes the UTF-8 length of one event's message (the 26 bytes are added here)
   * @param timestampMillis one event's timestamp
   * @param maxEvents events per batch
   * @param maxRequestBytes bytes per batch, overhead included
   * @param maxEventBytes bytes per event, overhead included, at most {@code maxRequestBytes}
   * @param maxSpan the longest time between the first event of a batch and any other
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxEvents < 1}, {@code maxRequestBytes < 1},
   *     {@code maxEventBytes} is not in {@code [1, maxRequestBytes]} or {@code maxSpan} is not at
   *     least one millisecond
   */
  public static <T> FlushPolicy<T> cloudWatchLogsPutLogEvents(Weigher<? super T> utf8MessageBytes,
      ToLongFunction<? super T> timestampMillis, int maxEvents, long maxRequestBytes,
      long maxEventBytes, Duration maxSpan) {
    Objects.requireNonNull(utf8MessageBytes, "utf8MessageBytes must not be null");
    Objects.requireNonNull(timestampMillis, "timestampMillis must not be null");
    Objects.requireNonNull(maxSpan, "maxSpan must not be null");
    if (maxSpan.toMillis() < 1) {
      throw new IllegalArgumentException("maxSpan must be >= 1 ms (was " + maxSpan + ")");
    }
    Weigher<T> withOverhead = e -> utf8MessageBytes.weigh(e) + CLOUDWATCH_EVENT_OVERHEAD_BYTES;
    long span = maxSpan.toMillis();
    FlushPolicy<T> spanLimit = FlushPolicy.custom(
        (List<T> batch, T item) -> !batch.isEmpty()
            && Math.abs(timestampMillis.applyAsLong(item) - timestampMillis.applyAsLong(batch.get(0))) >= span,
        (batch, item) -> true,
        batch -> false);
    return limits(withOverhead, "utf8MessageBytes", maxEvents, "maxEvents", maxRequestBytes,
        maxEventBytes, "maxEventBytes").or(spanLimit);
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
    return dynamoDbBatchWriteItem(itemBytes, DYNAMODB_MAX_REQUESTS, DYNAMODB_MAX_REQUEST_BYTES,
        DYNAMODB_MAX_ITEM_BYTES);
  }

  /**
   * DynamoDB {@code BatchWriteItem} with every limit given.
   *
   * @param itemBytes the size of one item as DynamoDB counts it (attribute names and values)
   * @param maxRequests put or delete requests per call
   * @param maxRequestBytes bytes per call
   * @param maxItemBytes bytes per item, at most {@code maxRequestBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxRequests < 1}, {@code maxRequestBytes < 1} or
   *     {@code maxItemBytes} is not in {@code [1, maxRequestBytes]}
   */
  public static <T> FlushPolicy<T> dynamoDbBatchWriteItem(Weigher<? super T> itemBytes,
      int maxRequests, long maxRequestBytes, long maxItemBytes) {
    return limits(itemBytes, "itemBytes", maxRequests, "maxRequests", maxRequestBytes,
        maxItemBytes, "maxItemBytes");
  }

  /**
   * Amazon EventBridge {@code PutEvents}: 10 entries, 1 MB per request (since January 2026; 256 KB
   * before), counted as the sum of the entries' sizes, which {@link #eventBridgeEntrySize} computes
   * as EventBridge does: 14 bytes for {@code Time} when set, plus the UTF-8 bytes of
   * {@code Source}, {@code DetailType}, {@code Detail} and each of {@code Resources}. An entry may
   * use the whole request. For a bus or region that still has the 256 KB limit, use
   * {@link #eventBridgePutEvents(Weigher, int, long, long)} with 262,144.
   * Source: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html and
   * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
   *
   * @param entryBytes the size of one entry, as {@link #eventBridgeEntrySize} computes it
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> eventBridgePutEvents(Weigher<? super T> entryBytes) {
    return eventBridgePutEvents(entryBytes, EVENTBRIDGE_MAX_ENTRIES, EVENTBRIDGE_MAX_REQUEST_BYTES,
        EVENTBRIDGE_MAX_ENTRY_BYTES);
  }

  /**
   * EventBridge {@code PutEvents} with every limit given.
   *
   * @param entryBytes the size of one entry, as {@link #eventBridgeEntrySize} computes it
   * @param maxEntries entries per request
   * @param maxRequestBytes bytes per request
   * @param maxEntryBytes bytes per entry, at most {@code maxRequestBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxEntries < 1}, {@code maxRequestBytes < 1} or
   *     {@code maxEntryBytes} is not in {@code [1, maxRequestBytes]}
   */
  public static <T> FlushPolicy<T> eventBridgePutEvents(Weigher<? super T> entryBytes,
      int maxEntries, long maxRequestBytes, long maxEntryBytes) {
    return limits(entryBytes, "entryBytes", maxEntries, "maxEntries", maxRequestBytes,
        maxEntryBytes, "maxEntryBytes");
  }

  /**
   * Returns the size of one EventBridge {@code PutEvents} entry as EventBridge counts it against
   * the request limit: 14 bytes for the time if it is set, plus the UTF-8 bytes of the source, the
   * detail type, the detail (if any) and each resource. The event EventBridge delivers is larger
   * (its JSON keys); that does not count.
   * Source: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
   *
   * @param hasTime whether the entry's {@code Time} is set
   * @param source the entry's {@code Source}
   * @param detailType the entry's {@code DetailType}
   * @param detail the entry's {@code Detail} JSON, or null if it has none
   * @param resources the entry's {@code Resources} (empty if none; a null element counts 0)
   * @return the size in bytes
   */
  public static long eventBridgeEntrySize(boolean hasTime, String source, String detailType,
      @Nullable String detail, List<? extends @Nullable String> resources) {
    Objects.requireNonNull(source, "source must not be null");
    Objects.requireNonNull(detailType, "detailType must not be null");
    Objects.requireNonNull(resources, "resources must not be null");
    long size = hasTime ? EVENTBRIDGE_TIME_BYTES : 0;
    size += utf8Length(source) + utf8Length(detailType);
    if (detail != null) {
      size += utf8Length(detail);
    }
    for (String resource : resources) {
      if (resource != null) {
        size += utf8Length(resource);
      }
    }
    return size;
  }

  /**
   * Elasticsearch / OpenSearch {@code _bulk}: batches of about 5 MB of body (the action and
   * document lines with their newlines, so {@code actionAndSourceBytes} must count both lines and
   * two newlines); a document above the target goes alone in its own request; one above 10 MiB,
   * the largest body Amazon OpenSearch Service accepts on its smaller instance types (HTTP 413
   * above it), is rejected. No count limit: the bulk API has none. The target is a starting
   * point: Elastic's tuning guide says to double the batch until indexing speed plateaus; pass
   * the size you measured to {@link #elasticsearchBulk(Weigher, long, long)}.
   * Source: https://www.elastic.co/guide/en/elasticsearch/reference/current/tune-for-indexing-speed.html
   * and https://docs.aws.amazon.com/opensearch-service/latest/developerguide/limits.html (network
   * limits)
   *
   * @param actionAndSourceBytes the bytes one document adds to the request body
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> elasticsearchBulk(Weigher<? super T> actionAndSourceBytes) {
    return elasticsearchBulk(actionAndSourceBytes, BULK_TARGET_BYTES, BULK_MAX_REQUEST_BYTES);
  }

  /**
   * Elasticsearch / OpenSearch {@code _bulk} with an explicit target and request limit (a
   * self-managed cluster's {@code http.max_content_length}, 100 MB by default).
   *
   * @param actionAndSourceBytes the bytes one document adds to the request body
   * @param targetBytes the body size to aim for
   * @param maxRequestBytes the largest body the cluster accepts, at least {@code targetBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code targetBytes < 1} or
   *     {@code maxRequestBytes < targetBytes}
   */
  public static <T> FlushPolicy<T> elasticsearchBulk(Weigher<? super T> actionAndSourceBytes,
      long targetBytes, long maxRequestBytes) {
    Objects.requireNonNull(actionAndSourceBytes, "actionAndSourceBytes must not be null");
    Checks.atLeastOne("targetBytes", targetBytes);
    if (maxRequestBytes < targetBytes) {
      throw new IllegalArgumentException("maxRequestBytes must be >= targetBytes=" + targetBytes
          + " (was " + maxRequestBytes + ")");
    }
    return capped(actionAndSourceBytes, targetBytes, maxRequestBytes);
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
    return capped(recordBytes, batchSize, maxRequestSize);
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

  /** Batches of about {@code target} bytes; a heavier item alone; one above {@code max} rejected. */
  private static <T> FlushPolicy<T> capped(Weigher<? super T> weigher, long target, long max) {
    FlushPolicy<T> bytes = FlushPolicy.bytes(weigher, target, target, Oversize.SEND_ALONE);
    FlushPolicy<T> cap = FlushPolicy.custom((batch, item) -> false,
        (List<T> batch, T item) -> weigher.weigh(item) <= max, batch -> false);
    return bytes.or(cap);
  }

  /** Count, request bytes and record bytes, each checked and named as the preset names it. */
  private static <T> FlushPolicy<T> limits(Weigher<? super T> weigher, String weigherName,
      int records, String recordsName, long requestBytes, long recordBytes, String recordBytesName) {
    Objects.requireNonNull(weigher, () -> weigherName + " must not be null");
    Checks.atLeastOne(recordsName, records);
    Checks.atLeastOne("maxRequestBytes", requestBytes);
    if (recordBytes < 1 || recordBytes > requestBytes) {
      throw new IllegalArgumentException(recordBytesName + " must be in [1, maxRequestBytes="
          + requestBytes + "] (was " + recordBytes + ")");
    }
    return FlushPolicy.<T>count(records)
        .or(FlushPolicy.bytes(weigher, requestBytes, recordBytes, Oversize.REJECT));
  }

  private static long utf8Length(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }
}
