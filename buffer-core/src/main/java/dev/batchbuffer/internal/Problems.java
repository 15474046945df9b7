package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.jspecify.annotations.Nullable;

/**
 * Reports what went wrong in user callbacks through {@link System.Logger}: one warning per problem
 * kind per period, with a count of the ones suppressed since, never one line per item. Thread-safe.
 */
public final class Problems {

  /** The kinds of problem, each rate-limited on its own. */
  public enum Kind {
    /** The flush function threw and no {@code onFlushError} was configured. */
    FLUSH_FAILED,
    /** {@code onFlushError} itself threw. */
    ON_FLUSH_ERROR_FAILED,
    /** {@code onReject} threw. */
    ON_REJECT_FAILED,
    /** A policy ({@code willOverflow}, {@code canAdd}, {@code shouldFlush}) threw. */
    POLICY_FAILED,
    /** A callback left its thread (the loop or a flush thread) interrupted. */
    LOOP_INTERRUPTED,
    /** An item weighed more than a policy's per-item limit and was rejected. */
    OVERSIZE,
    /** A {@code BufferListener} method threw. */
    LISTENER_FAILED,
    /** A periodic hook threw. */
    HOOK_FAILED
  }

  /** The logger every buffer writes to. */
  public static final String LOGGER_NAME = "dev.batchbuffer";

  /** The shortest time between two warnings of one kind. */
  public static final long PERIOD_NANOS = TimeUnit.SECONDS.toNanos(60);

  private static final long NEVER = Long.MIN_VALUE;
  private final Logger logger = System.getLogger(LOGGER_NAME);
  private final String name;
  private final TimeSource time;
  /** A kind's tally, made when the kind first happens: most buffers never report anything. */
  private final AtomicReferenceArray<@Nullable Tally> tallies =
      new AtomicReferenceArray<>(Kind.values().length);

  /** The rate-limit state of one kind. */
  private static final class Tally {
    final AtomicLong lastLogged = new AtomicLong(NEVER);
    final AtomicLong suppressed = new AtomicLong();
  }

  /**
   * Creates a reporter for one buffer.
   *
   * @param name the buffer's name, the first word of every message
   * @param time the clock of the rate limit
   */
  public Problems(String name, TimeSource time) {
    this.name = name;
    this.time = time;
  }

  /**
   * Logs a problem at WARNING unless one of its kind was logged within the period.
   *
   * @param kind what went wrong
   * @param message what happened, without the buffer name
   * @param error the exception, if any
   */
  public void report(Kind kind, String message, @Nullable Throwable error) {
    Tally tally = tally(kind);
    long now = time.nanoTime();
    long last = tally.lastLogged.get();
    if ((last != NEVER && now - last < PERIOD_NANOS) || !tally.lastLogged.compareAndSet(last, now)) {
      tally.suppressed.incrementAndGet();
      return;
    }
    long skipped = tally.suppressed.getAndSet(0);
    String text = name + ": " + message
        + (skipped > 0 ? " (" + skipped + " more of this kind since the last warning)" : "");
    logger.log(Level.WARNING, text, error);
  }

  /**
   * Logs at ERROR, unconditionally: for failures that end the buffer.
   *
   * @param message what happened, without the buffer name
   * @param error the cause
   */
  public void fatal(String message, Throwable error) {
    logger.log(Level.ERROR, name + ": " + message, error);
  }


  /** The first VirtualMachineError a callback threw; the loop stops when it sees one. */
  private final AtomicReference<@Nullable Throwable> fatal = new AtomicReference<>();
  /** Run once, by the thread that records the fatal error: stops admission, wakes the loop. */
  private volatile Runnable onFatal = () -> {};
  /** The thread that recorded the fatal error. */
  private volatile @Nullable Thread fatalThread;

  /**
   * Sets what recording a fatal error does at once, on the recording thread (whichever it is).
   *
   * @param action stops admission and wakes the loop
   */
  public void onFatal(Runnable action) {
    this.onFatal = action;
  }

  /**
   * Takes note of anything a callback threw: a {@link VirtualMachineError} is recorded as fatal (the
   * loop stops at its next turn, after the item or batch at hand is settled as for any failure);
   * the caller handles and reports the rest. Any thread.
   *
   * @param t what a callback threw
   */
  public void caught(Throwable t) {
    if (t instanceof VirtualMachineError) {
      fail(t);
    }
  }

  /**
   * Records an error that must stop the buffer (a fatal error, or a defect of the loop itself).
   * Any thread.
   *
   * @param t the error
   */
  public void fail(Throwable t) {
    if (fatal.compareAndSet(null, t)) {
      fatalThread = Thread.currentThread();
      onFatal.run();
    }
  }

  /**
   * Returns whether the fatal error was caught on the calling thread.
   *
   * @return true if {@link #fail} recorded it here
   */
  public boolean fatalCaughtHere() {
    return fatalThread == Thread.currentThread();
  }

  /**
   * Returns the fatal error that stops the buffer, if any. Any thread.
   *
   * @return the first fatal error, or null
   */
  public @Nullable Throwable fatal() {
    return fatal.get();
  }

  @SuppressWarnings("EnumOrdinal") // a dense index, as EnumMap uses it
  private Tally tally(Kind kind) {
    int i = kind.ordinal();
    Tally t = tallies.get(i);
    if (t == null) {
      Tally made = new Tally();
      t = tallies.compareAndExchange(i, null, made);
      if (t == null) {
        t = made;
      }
    }
    return t;
  }

}
