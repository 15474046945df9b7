package dev.batchbuffer.internal;

import java.util.List;

/** What {@link Engine} needs of a loop: run it, and give up on what is left when told to. */
public interface LoopBody extends Runnable {

  /**
   * Returns how many items the loop's batches hold, for the death report.
   *
   * @return the item count
   */
  long pendingInBatches();

  /** Asks the loop to flush nothing more and fail what is left as undelivered. Any thread. */
  void abort();

  /**
   * Returns the items the loop gave up on; read only after the loop ended.
   *
   * @return the undelivered items, in acceptance order
   */
  List<Object> undelivered();
}
