package dev.batchbuffer;

import java.util.List;

/**
 * Writes one batch to the backend: the one required part of a {@link Config}.
 *
 * <p>Runs on the buffer's loop thread, one call at a time and in batch order, so it must not block
 * indefinitely: while it runs no other item is batched (with {@code maxInFlight > 1}, on a flush
 * thread of the buffer's, beside the loop). It receives a fresh, unmodifiable list that
 * it may keep after it returns (for an asynchronous send or a retry); the buffer never touches that
 * list again. A call that throws hands the exception and the same list to
 * {@link Config#onFlushError()}; the buffer does not retry.
 *
 * @param <T> the item type
 */
@FunctionalInterface
public interface FlushFunc<T> {

  /**
   * Writes {@code batch}.
   *
   * @param batch the items of this batch, in the order they were accepted; never empty, unmodifiable
   * @throws Exception if the batch could not be written; reported to {@link Config#onFlushError()}
   */
  void flush(List<T> batch) throws Exception;
}
