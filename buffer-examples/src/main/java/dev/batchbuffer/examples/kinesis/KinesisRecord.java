package dev.batchbuffer.examples.kinesis;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;

/**
 * One record to put: its partition key (which picks the shard; records of one key keep their order
 * within a shard) and its data.
 *
 * @param partitionKey 1 to 256 Unicode characters
 * @param data the data blob (immutable)
 */
public record KinesisRecord(String partitionKey, SdkBytes data) {

  /**
   * Checks the fields.
   *
   * @throws IllegalArgumentException if the partition key is empty or longer than 256 characters
   */
  public KinesisRecord {
    Objects.requireNonNull(partitionKey, "partitionKey must not be null");
    Objects.requireNonNull(data, "data must not be null");
    if (partitionKey.isEmpty() || partitionKey.length() > 256) {
      throw new IllegalArgumentException(
          "partitionKey must have 1 to 256 characters (was " + partitionKey.length() + ")");
    }
  }

  /**
   * Returns a record of UTF-8 text.
   *
   * @param partitionKey the partition key
   * @param text the data, encoded as UTF-8
   * @return the record
   */
  public static KinesisRecord ofUtf8(String partitionKey, String text) {
    return new KinesisRecord(partitionKey, SdkBytes.fromUtf8String(text));
  }

  /**
   * Returns the size Kinesis counts against its limits: the data blob's length plus the partition
   * key's UTF-8 length (before base64; the base64 of the JSON request does not count).
   *
   * @return the bytes this record takes of a request's and of a record's limit
   */
  public long bytes() {
    return (long) data.asByteArrayUnsafe().length
        + partitionKey.getBytes(StandardCharsets.UTF_8).length;
  }

  /**
   * Returns the entry of a {@code PutRecords} request.
   *
   * @return the entry
   */
  public PutRecordsRequestEntry toEntry() {
    return PutRecordsRequestEntry.builder().partitionKey(partitionKey).data(data).build();
  }
}
