package dev.batchbuffer.examples.kinesis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.PartialFlushException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;

/**
 * {@link KinesisPublisher#putRecords} judges a {@code PutRecords} response by its entries, not by
 * its {@code FailedRecordCount} alone: a record whose entry carries an error code is failed (and so
 * retried) even when the count says 0 or is missing, and a response with fewer entries than records
 * fails the batch instead of passing records Kinesis never acknowledged as written.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class PutRecordsResponseTest {
  static final List<KinesisRecord> BATCH = List.of(KinesisRecord.ofUtf8("k", "a"),
      KinesisRecord.ofUtf8("k", "b"), KinesisRecord.ofUtf8("k", "c"));

  static PutRecordsResultEntry written(int n) {
    return PutRecordsResultEntry.builder().shardId("shardId-000000000000")
        .sequenceNumber(Integer.toString(n)).build();
  }

  static PutRecordsResultEntry throttled() {
    return PutRecordsResultEntry.builder().errorCode("ProvisionedThroughputExceededException")
        .errorMessage("Rate exceeded").build();
  }

  static FlushFunc<KinesisRecord> answering(PutRecordsResponse response) {
    KinesisClient kinesis = new KinesisClient() {
      @Override
      public PutRecordsResponse putRecords(PutRecordsRequest request) {
        return response;
      }

      @Override
      public String serviceName() {
        return SERVICE_NAME;
      }

      @Override
      public void close() {}
    };
    return KinesisPublisher.putRecords(kinesis, "orders");
  }

  @Test
  void aFailedEntryIsFailedWhenTheFailedCountIsMissing() {
    FlushFunc<KinesisRecord> flush = answering(PutRecordsResponse.builder()
        .records(written(1), throttled(), written(2)).build());
    assertThatThrownBy(() -> flush.flush(BATCH)).isInstanceOfSatisfying(
        PartialFlushException.class, e -> assertThat(e.failedIndexes()).containsExactly(1));
  }

  @Test
  void aFailedEntryIsFailedWhenTheFailedCountSaysZero() {
    FlushFunc<KinesisRecord> flush = answering(PutRecordsResponse.builder().failedRecordCount(0)
        .records(throttled(), written(1), throttled()).build());
    assertThatThrownBy(() -> flush.flush(BATCH)).isInstanceOfSatisfying(
        PartialFlushException.class, e -> assertThat(e.failedIndexes()).containsExactly(0, 2));
  }

  @Test
  void aResponseWithFewerEntriesThanRecordsFailsTheBatch() {
    FlushFunc<KinesisRecord> flush = answering(PutRecordsResponse.builder().failedRecordCount(0)
        .records(written(1), written(2)).build());
    assertThatThrownBy(() -> flush.flush(BATCH)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("2 entries for 3 records");
  }

  @Test
  void aResponseWhoseEntriesAllSucceedPassesTheBatch() throws Exception {
    answering(PutRecordsResponse.builder().failedRecordCount(0)
        .records(written(1), written(2), written(3)).build()).flush(BATCH);
  }
}
