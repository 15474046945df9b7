package dev.batchbuffer;

/**
 * Work a buffer runs every period beside its flushes: fsync a file, refresh a token, rotate a log.
 * Registered with {@link Options.Builder#periodic} (on the loop, between flushes) or
 * {@link Options.Builder#periodicAsync} (off the loop), and timed by the buffer's
 * {@link TimeSource}, so a test drives it with a manual clock.
 */
@FunctionalInterface
public interface PeriodicTask {
  /**
   * Does the work once. An exception is caught, counted in {@link BufferStats#hookErrors()} and
   * logged (rate-limited); the task runs again at its next period.
   *
   * @throws Exception if the work failed
   */
  void run() throws Exception;
}
