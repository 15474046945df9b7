package dev.batchbuffer.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** A producer waiting for room in a full buffer. */
@Name(ProducerBlockedEvent.NAME)
@Label("Producer Blocked")
@Category("batchbuffer")
@Description("A producer waited for room in a full buffer; the duration is the wait")
public final class ProducerBlockedEvent extends Event {
  /** The event's name in recordings. */
  public static final String NAME = "dev.batchbuffer.ProducerBlocked";

  /** The buffer's name. */
  @Label("Buffer")
  public String buffer = "";

  /** Whether the producer got room ({@code false}: timed out, interrupted or closed). */
  @Label("Admitted")
  public boolean admitted;

  /** Creates an event; {@link Events} fills it in. */
  public ProducerBlockedEvent() {}
}
