package dev.batchbuffer.examples.kinesis;

import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * A record that {@code PutRecords} refused on its own: the response's {@code ErrorCode} and
 * {@code ErrorMessage} for that entry, while the other records of the request were written.
 */
public final class KinesisRecordException extends Exception {
  private static final long serialVersionUID = 1L;

  /** The per-record codes that a later attempt can cure: throttling and Kinesis's own failures. */
  private static final Set<String> RETRYABLE =
      Set.of("ProvisionedThroughputExceededException", "KMSThrottlingException", "InternalFailure");

  /** The response's error code. */
  private final String errorCode;

  /**
   * Creates the exception.
   *
   * @param errorCode the entry's {@code ErrorCode}, e.g. {@code ProvisionedThroughputExceededException}
   * @param errorMessage the entry's {@code ErrorMessage}, or null
   */
  public KinesisRecordException(String errorCode, @Nullable String errorMessage) {
    super(errorCode + (errorMessage == null ? "" : ": " + errorMessage));
    this.errorCode = errorCode;
  }

  /**
   * Returns the entry's error code.
   *
   * @return e.g. {@code ProvisionedThroughputExceededException} or {@code KMSThrottlingException}
   */
  public String errorCode() {
    return errorCode;
  }

  /**
   * Returns whether sending the record again can succeed: throttling ({@code
   * ProvisionedThroughputExceededException}, {@code KMSThrottlingException}) and
   * {@code InternalFailure}. Other KMS errors on an encrypted stream (a disabled or missing key,
   * access denied) are not retried.
   *
   * @return true if a retry may succeed
   */
  public boolean retryable() {
    return RETRYABLE.contains(errorCode);
  }

  /**
   * Returns whether the stream throttled the record: {@code ProvisionedThroughputExceededException}
   * (the shard is over its write limit) or {@code KMSThrottlingException}.
   *
   * @return true for throttling
   */
  public boolean throttled() {
    return errorCode.equals("ProvisionedThroughputExceededException")
        || errorCode.equals("KMSThrottlingException");
  }
}
