package software.amazon.awssdk.services.kinesis.model;

import software.amazon.awssdk.core.exception.SdkServiceException;

/** A stand-in for Kinesis's throttling error (AWS SDK v2), named as the real one. */
public class ProvisionedThroughputExceededException extends SdkServiceException {
  private static final long serialVersionUID = 1L;

  /** Creates one with status 400, not flagged as throttling: only its name says so. */
  public ProvisionedThroughputExceededException() {
    super(400, false);
  }
}
