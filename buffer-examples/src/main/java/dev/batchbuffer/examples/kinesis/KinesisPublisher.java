package dev.batchbuffer.examples.kinesis;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.Config;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.FlowControl;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Options;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.Weigher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;

/**
 * Puts records into one Kinesis data stream, one {@code PutRecords} request per batch: the class to
 * copy. Batches are sized by {@link Presets#kinesisPutRecords} (500 records, 10 MiB per request,
 * 1 MiB per record, data plus partition key) and sent after at most {@code linger}.
 *
 * <p>{@code PutRecords} is not all-or-nothing: the response lists, per entry and in request order,
 * a sequence number or an {@code ErrorCode} such as {@code ProvisionedThroughputExceededException}.
 * The flush function turns the failed entries into a {@link PartialFlushException} naming their
 * positions, so {@link FlushMiddleware#retry} sends only those records again, in their order, with
 * backoff; the written ones are done and their futures complete. A record still failing after the
 * attempts (or with a code no retry can cure, e.g. a KMS error) reaches the dead-letter hook and
 * its future fails with a {@link DeliveryException} whose cause is the last attempt's
 * {@link PartialFlushException}, itself caused by the {@link KinesisRecordException} of that
 * attempt's first failed record. The retry judges a partial failure by that first failed record:
 * in a response where a KMS error comes before a throttled record, neither is retried. A request that fails as a whole (the endpoint is down, the stream
 * is missing) is retried whole, unless the service says it is the caller's fault (a 4xx other
 * than throttling).
 *
 * <p>Ordering: within one batch the records of a key are sent in order. A retried record is
 * written after records of its key that succeeded the first time, as with any {@code PutRecords}
 * client; where strict order per key matters, send one key per buffer with {@code maxAttempts 1}
 * and stop on the first failure instead.
 *
 * <p>Give the client no retries of its own ({@link KinesisSettings#client} does that): the SDK
 * would retry a throttled request whole, inside one attempt of the retry here, and never the
 * records that failed on their own.
 */
public final class KinesisPublisher implements AutoCloseable {

  private final Buffer<KinesisRecord> buffer;

  private KinesisPublisher(Buffer<KinesisRecord> buffer) {
    this.buffer = buffer;
  }

  /**
   * Starts a publisher with {@link #policy()}, on the system clock.
   *
   * @param kinesis the client; the publisher uses it and does not close it
   * @param streamName the stream
   * @param linger how long a partial batch waits for more records
   * @param retry the attempts and backoff; its {@code retryOn} is replaced by {@link #retryable}
   * @param deadLetter gets each batch of records that failed for good, with the failure, and each
   *     record over the size limit alone: the records to keep somewhere (the futures also fail)
   * @return the running publisher
   */
  public static KinesisPublisher start(KinesisClient kinesis, String streamName, Duration linger,
      RetryPolicy.Builder retry, BiConsumer<Exception, List<KinesisRecord>> deadLetter) {
    return start(kinesis, streamName, policy(), linger, retry, deadLetter, TimeSource.system());
  }

  /**
   * Starts a publisher.
   *
   * @param kinesis the client; the publisher uses it and does not close it
   * @param streamName the stream
   * @param policy the sizing: {@link #policy()}, or {@link #policy(long, long)} for other limits
   * @param linger how long a partial batch waits for more records
   * @param retry the attempts and backoff; its {@code retryOn} is replaced by {@link #retryable}
   * @param deadLetter gets each batch of records that failed for good, with the failure, and each
   *     record over the size limit alone
   * @param time the clock of the linger and the backoff
   * @return the running publisher
   */
  public static KinesisPublisher start(KinesisClient kinesis, String streamName,
      FlushPolicy<KinesisRecord> policy, Duration linger, RetryPolicy.Builder retry,
      BiConsumer<Exception, List<KinesisRecord>> deadLetter, TimeSource time) {
    return start(kinesis, streamName, policy, linger, retry, deadLetter,
        Options.<KinesisRecord>builder().name("kinesis-" + streamName).timeSource(time).build());
  }

  /**
   * Starts a publisher with the buffer options of your choice: a {@link FlowControl} that adapts
   * the {@code PutRecords} calls in flight to the stream's throttling (give it
   * {@link #throttled} as its predicate), a delivery timeout (KPL's {@code RecordTtl}: a record
   * not written by then goes to {@code deadLetter} and its future fails with
   * {@link DeliveryException.Reason#EXPIRED}), a memory bound, a listener.
   *
   * @param kinesis the client; the publisher uses it and does not close it
   * @param streamName the stream
   * @param policy the sizing: {@link #policy()}, or {@link #policy(long, long)} for other limits
   * @param linger how long a partial batch waits for more records
   * @param retry the attempts and backoff; its {@code retryOn} is replaced by {@link #retryable}
   * @param deadLetter gets each batch of records that failed for good or expired, with the
   *     failure, and each record over the size limit alone
   * @param options the buffer's options; their time source is also the backoff's clock
   * @return the running publisher
   */
  public static KinesisPublisher start(KinesisClient kinesis, String streamName,
      FlushPolicy<KinesisRecord> policy, Duration linger, RetryPolicy.Builder retry,
      BiConsumer<Exception, List<KinesisRecord>> deadLetter, Options<KinesisRecord> options) {
    Objects.requireNonNull(deadLetter, "deadLetter must not be null");
    FlushFunc<KinesisRecord> flush = FlushMiddleware.chain(putRecords(kinesis, streamName),
        FlushMiddleware.retry(retry.retryOn(KinesisPublisher::retryable).build(),
            options.timeSource()));
    Config<KinesisRecord> config = Config.builder(flush)
        .policy(policy.or(FlushPolicy.age(linger)))
        .onFlushError(deadLetter)
        .onReject(tooBig -> deadLetter.accept(new IllegalArgumentException("a record of "
            + tooBig.bytes() + " bytes (data plus partition key) is over the record limit"),
            List.of(tooBig)))
        .build();
    return new KinesisPublisher(Buffer.start(config, options));
  }

  /**
   * Returns the preset that sizes the batches: {@code PutRecords}' 500 records, 10 MiB per request
   * and 1 MiB per record, weighed by {@link KinesisRecord#bytes}. A record over 1 MiB is rejected
   * (its future fails with {@code REJECTED}, the dead-letter hook gets it) instead of failing the
   * whole request.
   *
   * @return the policy
   */
  public static FlushPolicy<KinesisRecord> policy() {
    return Presets.kinesisPutRecords(WEIGHER);
  }

  /**
   * Returns the preset with other byte limits: an endpoint with the older 5 MiB request limit, or a
   * stream whose record limit was changed.
   *
   * @param maxRequestBytes bytes per request (data plus partition keys)
   * @param maxRecordBytes bytes per record, at most {@code maxRequestBytes}
   * @return the policy
   */
  public static FlushPolicy<KinesisRecord> policy(long maxRequestBytes, long maxRecordBytes) {
    return Presets.kinesisPutRecords(WEIGHER, maxRequestBytes, maxRecordBytes);
  }

  /** One weigher object, so every byte limit on it keeps one running weight. */
  private static final Weigher<KinesisRecord> WEIGHER = KinesisRecord::bytes;

  /**
   * Returns the flush function: one {@code PutRecords} request for the batch. The failed entries
   * of the response become a {@link PartialFlushException} with their positions in the batch and,
   * as its cause, the first failed entry's {@link KinesisRecordException}.
   *
   * @param kinesis the client
   * @param streamName the stream
   * @return the flush function
   */
  public static FlushFunc<KinesisRecord> putRecords(KinesisClient kinesis, String streamName) {
    Objects.requireNonNull(kinesis, "kinesis must not be null");
    Objects.requireNonNull(streamName, "streamName must not be null");
    return batch -> {
      List<PutRecordsRequestEntry> entries = new ArrayList<>(batch.size());
      for (KinesisRecord r : batch) {
        entries.add(r.toEntry());
      }
      PutRecordsResponse response = kinesis.putRecords(
          PutRecordsRequest.builder().streamName(streamName).records(entries).build());
      // Judged entry by entry: FailedRecordCount is a summary, and a record passed on its word
      // alone, without an entry that says it was written, would be lost without a trace.
      List<PutRecordsResultEntry> results = response.records();
      if (results.size() != batch.size()) {
        throw new IllegalStateException("PutRecords answered " + results.size() + " entries for "
            + batch.size() + " records");
      }
      List<Integer> failed = new ArrayList<>();
      @Nullable KinesisRecordException first = null;
      for (int i = 0; i < results.size(); i++) {
        PutRecordsResultEntry result = results.get(i);
        if (result.errorCode() != null) {
          failed.add(i);
          if (first == null) {
            first = new KinesisRecordException(result.errorCode(), result.errorMessage());
          }
        }
      }
      if (!failed.isEmpty()) {
        throw new PartialFlushException(failed, first);
      }
    };
  }

  /**
   * Returns whether a failure is worth another attempt: a per-record failure whose code a retry
   * can cure, or a whole request that failed for any reason but the caller's own fault (a 4xx
   * answer other than throttling, e.g. a missing stream or a request over the limits).
   *
   * @param failure the failure of one attempt (for a partial failure, its first failed entry's)
   * @return true to retry
   */
  public static boolean retryable(Exception failure) {
    if (failure instanceof KinesisRecordException record) {
      return record.retryable();
    }
    if (failure instanceof AwsServiceException service) {
      return service.isThrottlingException() || service.statusCode() >= 500;
    }
    return true; // the client could not reach the service: a later attempt may
  }

  /**
   * Returns whether a failure means the stream is throttling: a record answered
   * {@code ProvisionedThroughputExceededException} (or a KMS throttle) in a {@code PutRecords}
   * response, or a throttling error of the whole request ({@link FlowControl#isDefaultThrottling}).
   * The predicate for {@link FlowControl.Builder#throttledWhen}: the default one knows the SDK's
   * exception classes, not the error codes of single entries.
   *
   * @param failure a failure or one of its causes
   * @return true if it is throttling
   */
  public static boolean throttled(Throwable failure) {
    if (failure instanceof KinesisRecordException record) {
      return record.throttled();
    }
    return FlowControl.isDefaultThrottling(failure);
  }

  /**
   * Puts a record, after at most the linger.
   *
   * @param record the record
   * @return completes when the record is written; or exceptionally with a
   *     {@link DeliveryException}: {@code FAILED} (after the retries; the cause is a
   *     {@link PartialFlushException} caused by a {@link KinesisRecordException}, or the request's
   *     own failure) or {@code REJECTED} (over the record limit)
   * @throws InterruptedException if interrupted while waiting for room in the buffer
   * @throws IllegalStateException if the publisher is closed
   */
  public CompletableFuture<Void> put(KinesisRecord record) throws InterruptedException {
    return buffer.submit(Objects.requireNonNull(record, "record must not be null"));
  }

  /**
   * Returns the buffer's counters: accepted, flushed, failed, rejected, retried, batches.
   *
   * @return a snapshot
   */
  public BufferStats stats() {
    return buffer.stats();
  }

  /** Sends everything accepted (with its retries) and returns after the last request. */
  @Override
  public void close() {
    buffer.close();
  }
}
