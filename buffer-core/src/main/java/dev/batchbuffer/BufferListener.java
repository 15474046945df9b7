package dev.batchbuffer;

import java.time.Duration;

/**
 * Hears what a buffer does, for metrics, tracing or audit logs. Every method has a no-op default,
 * so an implementation overrides only what it needs. Set one with
 * {@link Options.Builder#listener} or {@link KeyedBuffer.Builder#listener}.
 *
 * <p>Flush, reject and close events are called on the buffer's loop thread (a flush running off
 * the loop with {@code maxInFlight > 1} is reported when the loop settles it), so they are ordered
 * and must be quick: a slow listener slows the buffer. Producer events are called on the
 * producer's thread. An exception from a listener is caught, counted in
 * {@link BufferStats#listenerErrors()} and logged (rate-limited); it never reaches the buffer or
 * the producer. (A {@link VirtualMachineError} still stops the buffer, as from any callback.)
 *
 * @param <T> the item type
 */
public interface BufferListener<T> {

  /**
   * A batch's flush returned normally.
   *
   * @param info the batch's size, weight, reason and duration
   */
  default void flushed(FlushInfo info) {}

  /**
   * A batch's flush threw; its failed items go to {@code onFlushError} after this call.
   *
   * @param info the batch's size, weight, reason, duration and failed count
   * @param error what the flush function threw, as {@code onFlushError} receives it (an
   *     {@link Error} arrives wrapped in an {@link java.util.concurrent.ExecutionException})
   */
  default void flushFailed(FlushInfo info, Throwable error) {}

  /**
   * An item was handed to {@code onReject}.
   *
   * @param buffer the buffer's name
   * @param item the item
   */
  default void rejected(String buffer, T item) {}

  /**
   * A producer found the buffer full and is about to wait. Producer's thread.
   *
   * @param buffer the buffer's name
   */
  default void producerBlocked(String buffer) {}

  /**
   * A producer that waited got room, timed out, or was released by close. Producer's thread.
   *
   * @param buffer the buffer's name
   * @param waited how long it waited, on the buffer's {@link TimeSource}
   */
  default void producerUnblocked(String buffer, Duration waited) {}

  /**
   * The buffer's loop ended: every accepted item was flushed, failed, rejected or given up on.
   *
   * @param stats the final stats
   */
  default void closed(BufferStats stats) {}
}
