package dev.batchbuffer.internal;

import dev.batchbuffer.Config;
import dev.batchbuffer.FlowControl;
import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/** Argument checks shared by the builders, with messages that name the field and the value. */
public final class Checks {
  private Checks() {}

  /**
   * Checks a buffer name.
   *
   * @param name the name
   * @return the name
   * @throws IllegalArgumentException if it is blank
   */
  public static String name(String name) {
    Objects.requireNonNull(name, "name must not be null");
    if (name.isBlank()) {
      throw new IllegalArgumentException("name must not be blank (was \"" + name + "\")");
    }
    return name;
  }

  /**
   * Checks that a fixed {@code maxInFlight} and an adaptive flow control are not both set: the flow
   * control's maximum takes the place of {@code maxInFlight}.
   *
   * @param maxInFlight the fixed limit
   * @param flowControl the flow control, or null
   * @throws IllegalArgumentException if both are set
   */
  public static void flowControlAlone(int maxInFlight, @Nullable FlowControl flowControl) {
    if (flowControl != null && maxInFlight != 1) {
      throw new IllegalArgumentException("maxInFlight (was " + maxInFlight + ") must stay 1 with "
          + "flowControl set: flowControl's maxLimit (" + flowControl.maxLimit() + ") bounds the "
          + "flushes in flight instead");
    }
  }

  /**
   * Checks a count or size that must be at least 1.
   *
   * @param field the field's name, for the message
   * @param value the value
   * @return the value
   * @throws IllegalArgumentException if it is below 1
   */
  public static long atLeastOne(String field, long value) {
    if (value < 1) {
      throw new IllegalArgumentException(field + " must be >= 1 (was " + value + ")");
    }
    return value;
  }

  /**
   * Checks a duration that must be positive and at most {@link Config#MAX_FLUSH_INTERVAL}.
   *
   * @param field the field's name, for the message
   * @param value the duration
   * @return the duration
   * @throws IllegalArgumentException if it is out of range
   */
  public static Duration interval(String field, Duration value) {
    Objects.requireNonNull(value, () -> field + " must not be null");
    if (!value.isPositive() || value.compareTo(Config.MAX_FLUSH_INTERVAL) > 0) {
      throw new IllegalArgumentException(
          field + " must be in (0, " + Config.MAX_FLUSH_INTERVAL + "] (was " + value + ")");
    }
    return value;
  }
}
