package dev.batchbuffer.internal;

import org.jspecify.annotations.Nullable;

/**
 * The telemetry of the buffer whose flush function runs on this thread, so that middleware (a
 * retry) can count what it does without being handed the buffer. Set around each call of a flush
 * function only, so a retrying dead-letter writer called from {@code onFlushError} does not count.
 */
public final class FlushScope {
  private static final ThreadLocal<@Nullable Telemetry<?>> CURRENT = new ThreadLocal<>();

  private FlushScope() {}

  /**
   * Makes {@code telemetry} current on this thread.
   *
   * @param telemetry the flushing buffer's telemetry, or null to clear it
   * @return the previous one, for {@link #exit}
   */
  public static @Nullable Telemetry<?> enter(@Nullable Telemetry<?> telemetry) {
    Telemetry<?> outer = CURRENT.get();
    CURRENT.set(telemetry);
    return outer;
  }

  /**
   * Restores what {@link #enter} returned.
   *
   * @param outer the previous telemetry
   */
  public static void exit(@Nullable Telemetry<?> outer) {
    CURRENT.set(outer); // set, not remove: the thread's map entry is reused, nothing is allocated
  }

  /**
   * Returns the telemetry of the flush running on this thread.
   *
   * @return it, or null outside a buffer's flush
   */
  public static @Nullable Telemetry<?> current() {
    return CURRENT.get();
  }
}
