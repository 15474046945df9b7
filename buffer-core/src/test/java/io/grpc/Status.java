package io.grpc;

/** A stand-in for gRPC's status, with its code. */
public final class Status {
  /** The gRPC status codes used by the tests. */
  public enum Code {
    /** Rate limited. */
    RESOURCE_EXHAUSTED,
    /** Not available. */
    UNAVAILABLE
  }

  private final Code code;

  /**
   * Creates one.
   *
   * @param code its code
   */
  public Status(Code code) {
    this.code = code;
  }

  /**
   * Returns the code, as gRPC's does.
   *
   * @return the code
   */
  public Code getCode() {
    return code;
  }
}
