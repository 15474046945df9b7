package dev.batchbuffer;

import java.time.Duration;

/**
 * Durations the tests share. Public only so that the tests of other packages can use them.
 */
public final class TestConstants {
  /**
   * The longest a test waits, in real time, for something that must happen: generous for a loaded
   * two-core machine, and never a wait that correctness needs (each is a condition, not a nap).
   * {@code -Dbatchbuffer.waitSeconds=N} changes it: the mutation profile shortens it so that a
   * mutant which stops something from happening fails its test quickly instead of timing out.
   */
  public static final Duration WAIT = Duration.ofSeconds(Long.getLong("batchbuffer.waitSeconds", 10));
  /** A linger (or period) no test reaches: only counts, explicit flushes and close flush. */
  public static final Duration HOURS = Duration.ofHours(1);

  private TestConstants() {}
}
