package software.amazon.awssdk.core.exception;

/**
 * A stand-in for the AWS SDK v2 class of this name, with the two methods the default throttling
 * predicate of {@code FlowControl} reads by reflection.
 */
public class SdkServiceException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final int statusCode;
  private final boolean throttling;

  /**
   * Creates one.
   *
   * @param statusCode the HTTP status
   * @param throttling what {@link #isThrottlingException()} answers
   */
  public SdkServiceException(int statusCode, boolean throttling) {
    super("status " + statusCode);
    this.statusCode = statusCode;
    this.throttling = throttling;
  }

  /**
   * Returns the HTTP status code, as the SDK's does.
   *
   * @return the status
   */
  public int statusCode() {
    return statusCode;
  }

  /**
   * Returns whether the SDK classified it as throttling, as the SDK's does.
   *
   * @return the flag given
   */
  public boolean isThrottlingException() {
    return throttling;
  }
}
