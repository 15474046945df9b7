package dev.batchbuffer.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A change of a buffer's adaptive flow-control limit. */
@Name(FlowLimitEvent.NAME)
@Label("Flow Limit Change")
@Category("batchbuffer")
@Description("A buffer's FlowControl grew or cut its limit on flushes in flight and its rate")
@StackTrace(false)
public final class FlowLimitEvent extends Event {
  /** The event's name in recordings. */
  public static final String NAME = "dev.batchbuffer.FlowLimit";

  /** The buffer's name. */
  @Label("Buffer")
  public String buffer = "";

  /** The new limit on flushes in flight. */
  @Label("Limit")
  public int limit;

  /** The new rate in items per second, or 0 if the rate is not adapted. */
  @Label("Items Per Second")
  public double itemsPerSecond;

  /** Why: {@code increase} after a window of successes, {@code throttled} on throttling. */
  @Label("Cause")
  public String cause = "";

  /** Creates an event; {@link Events} fills it in. */
  public FlowLimitEvent() {}
}
