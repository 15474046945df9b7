package com.google.api.gax.rpc;

/** A stand-in for Google gax's exception of this name (Pub/Sub's quota error). */
public class ResourceExhaustedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Creates one. */
  public ResourceExhaustedException() {
    super("RESOURCE_EXHAUSTED");
  }
}
