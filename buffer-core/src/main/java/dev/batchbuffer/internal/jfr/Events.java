package dev.batchbuffer.internal.jfr;

import org.jspecify.annotations.Nullable;

/**
 * Starts and commits the events. Callers check {@link #PRESENT} first, so this class and the
 * event classes load only when {@code jdk.jfr} is there. When a recording does not enable an
 * event, its begin method returns null after one flag read: nothing is allocated.
 */
public final class Events {
  /** Whether {@code jdk.jfr} is readable by this module. */
  public static final boolean PRESENT = present();

  private static boolean present() {
    try {
      Class.forName("jdk.jfr.FlightRecorder", false, Events.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  private Events() {}

  /** Shared, never committed: answers "is the event enabled?" without an allocation. */
  private static final class Probes {
    static final FlushEvent FLUSH = new FlushEvent();
    static final ProducerBlockedEvent BLOCKED = new ProducerBlockedEvent();
    static final FlowLimitEvent FLOW = new FlowLimitEvent();
  }

  /**
   * Starts timing a flush, if a recording wants flush events.
   *
   * @return the started event, or null
   */
  public static @Nullable Object beginFlush() {
    if (!Probes.FLUSH.isEnabled()) {
      return null;
    }
    FlushEvent e = new FlushEvent();
    e.begin();
    return e;
  }

  /**
   * Ends and commits a flush event.
   *
   * @param event what {@link #beginFlush} returned, non-null
   * @param buffer the buffer's name
   * @param key the batch's key, rendered (empty for none)
   * @param items the batch's size
   * @param bytes its weight
   * @param reason why it was flushed
   * @param outcome ok, failed, partial or expired
   */
  public static void commitFlush(Object event, String buffer, String key, int items,
      long bytes, String reason, String outcome) {
    FlushEvent e = (FlushEvent) event;
    e.end();
    if (e.shouldCommit()) {
      e.buffer = buffer;
      e.key = key;
      e.items = items;
      e.bytes = bytes;
      e.reason = reason;
      e.outcome = outcome;
      e.commit();
    }
  }

  /**
   * Starts timing a producer's wait, if a recording wants those events.
   *
   * @return the started event, or null
   */
  public static @Nullable Object beginBlocked() {
    if (!Probes.BLOCKED.isEnabled()) {
      return null;
    }
    ProducerBlockedEvent e = new ProducerBlockedEvent();
    e.begin();
    return e;
  }

  /**
   * Ends and commits a producer's wait.
   *
   * @param event what {@link #beginBlocked} returned, non-null
   * @param buffer the buffer's name
   * @param admitted whether the producer got room
   */
  public static void commitBlocked(Object event, String buffer, boolean admitted) {
    ProducerBlockedEvent e = (ProducerBlockedEvent) event;
    e.end();
    if (e.shouldCommit()) {
      e.buffer = buffer;
      e.admitted = admitted;
      e.commit();
    }
  }

  /**
   * Commits a change of a flow-control limit, if a recording wants those events.
   *
   * @param buffer the buffer's name
   * @param limit the new limit on flushes in flight
   * @param itemsPerSecond the new rate, or 0
   * @param cause {@code increase} or {@code throttled}
   */
  public static void flowLimit(String buffer, int limit, double itemsPerSecond, String cause) {
    if (!Probes.FLOW.isEnabled()) {
      return;
    }
    FlowLimitEvent e = new FlowLimitEvent();
    if (e.shouldCommit()) {
      e.buffer = buffer;
      e.limit = limit;
      e.itemsPerSecond = itemsPerSecond;
      e.cause = cause;
      e.commit();
    }
  }
}
