package dev.batchbuffer;

/**
 * A batch refused without calling the backend because {@link FlushMiddleware#circuitBreaker} is
 * open after too many consecutive failures.
 */
public class CircuitOpenException extends Exception {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param failures the consecutive failures that opened the circuit
   * @param retryInNanos how long until a probe is allowed
   */
  public CircuitOpenException(int failures, long retryInNanos) {
    super("circuit open after " + failures + " consecutive failures; next probe in "
        + Math.max(0, retryInNanos / 1_000_000) + " ms");
  }
}
