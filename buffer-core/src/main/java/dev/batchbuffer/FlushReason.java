package dev.batchbuffer;

/**
 * Why a batch was flushed: counted per reason in {@link BufferStats#flushesByReason()}, and carried
 * by {@link FlushInfo}, the {@link BufferListener} callbacks and the JFR flush event.
 */
public enum FlushReason {
  /** The batch reached its item count ({@code capacity} or {@link FlushPolicy#count}). */
  COUNT,
  /** The batch reached its byte limit ({@link FlushPolicy#bytes}). */
  BYTES,
  /** The next item would not have fitted ({@code willOverflow}, or the byte limit). */
  OVERFLOW,
  /** A custom {@code shouldFlush} condition said so. */
  CONDITION,
  /** The oldest item waited the linger ({@code flushInterval} or {@link FlushPolicy#age}). */
  TIME,
  /** {@code flush()} was called. */
  EXPLICIT,
  /** The final flush of {@code close()}. */
  CLOSE,
  /** An oversize item sent alone ({@link Oversize#SEND_ALONE}). */
  OVERSIZE,
  /** A keyed buffer made room: a key cap, the item cap across keys, or a key's eviction. */
  PRESSURE
}
