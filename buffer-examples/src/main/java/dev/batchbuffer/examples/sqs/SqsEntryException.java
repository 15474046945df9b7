package dev.batchbuffer.examples.sqs;

/**
 * An entry of a {@code SendMessageBatch} request that the queue refused, with the response's code
 * and whether the sender is at fault (then sending it again cannot help, and it is not retried).
 */
public final class SqsEntryException extends Exception {
  private static final long serialVersionUID = 1L;

  /** The response's code, e.g. {@code RequestThrottled}. */
  private final String code;
  /** Whether the sender is at fault: sending the entry again cannot help. */
  private final boolean senderFault;

  /**
   * Creates the exception of one refused entry.
   *
   * @param code the response's code
   * @param message the response's message, or the code if it had none
   * @param senderFault whether the sender is at fault
   */
  public SqsEntryException(String code, String message, boolean senderFault) {
    super(code + ": " + message + (senderFault ? " (sender fault)" : ""));
    this.code = code;
    this.senderFault = senderFault;
  }

  /**
   * Returns the response's code.
   *
   * @return the code
   */
  public String code() {
    return code;
  }

  /**
   * Returns whether the sender is at fault.
   *
   * @return true if retrying cannot help
   */
  public boolean senderFault() {
    return senderFault;
  }
}
