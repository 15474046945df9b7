package io.grpc;

/** A stand-in for gRPC's exception of this name. */
public class StatusRuntimeException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final transient Status status;

  /**
   * Creates one.
   *
   * @param status its status
   */
  public StatusRuntimeException(Status status) {
    super(status.getCode().name());
    this.status = status;
  }

  /**
   * Returns the status, as gRPC's does.
   *
   * @return the status
   */
  public final Status getStatus() {
    return status;
  }
}
