package dev.batchbuffer;

import java.util.List;

/**
 * What {@link Buffer#close(java.time.Duration)} achieved.
 *
 * @param drained true if every accepted item was flushed, failed or rejected before the timeout
 * @param undelivered the items given up on: never flushed, their futures failed with
 *     {@link DeliveryException.Reason#UNDELIVERED}; in acceptance order
 * @param stillFlushing true if a flush call was still running when the timeout passed (it was
 *     interrupted; its batch's outcome is reported to its futures and callbacks when it returns)
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
