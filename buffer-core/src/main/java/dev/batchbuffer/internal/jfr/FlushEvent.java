package dev.batchbuffer.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** One call of a buffer's flush function. */
@Name(FlushEvent.NAME)
@Label("Batch Flush")
@Category("batchbuffer")
@Description("A batch handed to a buffer's flush function; the duration is the call's")
@StackTrace(false)
public final class FlushEvent extends Event {
  /** The event's name in recordings. */
  public static final String NAME = "dev.batchbuffer.Flush";

  /** The buffer's name. */
  @Label("Buffer")
  public String buffer = "";

  /** The batch's key in a keyed buffer, or empty. */
  @Label("Key")
  public String key = "";

  /** Items in the batch. */
  @Label("Items")
  public int items;

  /** The batch's weight by its policy's weigher, or 0. */
  @Label("Bytes")
  @DataAmount
  public long bytes;

  /** Why the batch was flushed (a {@code FlushReason}). */
  @Label("Reason")
  public String reason = "";

  /** {@code ok}, {@code failed} or {@code partial}. */
  @Label("Outcome")
  public String outcome = "";

  /** Creates an event; {@link Events} fills it in. */
  public FlushEvent() {}
}
