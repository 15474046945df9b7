package dev.batchbuffer;

import java.util.List;

/**
 * What {@link Buffer#close(java.time.Duration)} achieved.
 *
 * @param drained true if every accepted item was flushed, failed or rejected before the timeout
 * @param undelivered the items given up on: not delivered (never flushed, or in a flush that the
 *     close's interrupt made fail), not handed to {@code onFlushError}, their futures failed with
 *     {@link DeliveryException.Reason#UNDELIVERED}; in acceptance order (per key, for a
 *     {@link KeyedBuffer}); each item is returned by one {@code close(timeout)} call only
 * @param stillFlushing true if a flush (or another callback) was still running when the grace after
 *     the timeout passed: it was interrupted and ignored it; what is settled after it returns is
 *     reported to its futures and, unless delivered, to {@code onFlushError}, not to this list
 * @param <T> the item type
 */
public record CloseResult<T>(boolean drained, List<T> undelivered, boolean stillFlushing) {

  /**
   * Copies the list.
   *
   * @param drained whether everything was handled
   * @param undelivered items given up on
   * @param stillFlushing whether a flush was still running
   */
  public CloseResult {
    undelivered = List.copyOf(undelivered);
  }
}
