package dev.batchbuffer;

import org.jspecify.annotations.Nullable;

/**
 * Why an item's {@linkplain Buffer#submit future} (or a {@link Buffer#flush()} result) failed.
 */
public class DeliveryException extends Exception {
  private static final long serialVersionUID = 1L;

  /** The ways an accepted item can end without being delivered. */
  public enum Reason {
    /** A policy refused the item; it went to {@code onReject}. */
    REJECTED,
    /** Its batch failed for good (after any retries); it went to {@code onFlushError}. */
    FAILED,
    /** {@link Buffer#close(java.time.Duration)} gave up before it was flushed. */
    UNDELIVERED,
    /**
     * Its delivery timeout ({@link Options.Builder#deliveryTimeout}) passed before a flush of it
     * succeeded: it was not sent (again) and went to {@code onFlushError} with a
     * {@link DeliveryTimeoutException}; counted in {@link BufferStats#expired()} and
     * {@link BufferStats#failed()}.
     */
    EXPIRED,
    /**
     * Its key was paused after one of the key's batches failed for good
     * ({@link KeyedBuffer.Builder#pauseKeyOnFailure}); it went to {@code onFlushError} without
     * being sent.
     */
    KEY_PAUSED
  }

  /** Why the item was not delivered. */
  private final Reason reason;

  /**
   * Creates the exception.
   *
   * @param reason why the item was not delivered
   * @param message details
   * @param cause the flush's failure, if any
   */
  public DeliveryException(Reason reason, String message, @Nullable Throwable cause) {
    super(message, cause);
    this.reason = reason;
  }

  /**
   * Returns why the item was not delivered.
   *
   * @return the reason
   */
  public Reason reason() {
    return reason;
  }
}
