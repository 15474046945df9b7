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
      Set.of("ProvisionedThroughputExceededException", "InternalFailure");

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
   * ProvisionedThroughputExceededException}) and {@code InternalFailure}. KMS errors on an
   * encrypted stream are not retried.
   *
   * @return true if a retry may succeed
   */
  public boolean retryable() {
    return RETRYABLE.contains(errorCode);
  }
}
