package dev.batchbuffer;

import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * A flush function that starts a write and returns at once, such as an AWS SDK async client call.
 * {@link #awaiting()} turns it into a {@link FlushFunc}; with {@link Options.Builder#maxInFlight}
 * above 1 the buffer runs that many flushes at a time.
 *
 * @param <T> the item type
 */
@FunctionalInterface
public interface AsyncFlushFunc<T> {

  /**
   * Starts writing {@code batch}.
   *
   * @param batch the items; the callee may keep the list
   * @return completes when the write is done; exceptionally if it failed (a
   *     {@link PartialFlushException} reports per-item failures)
   */
  CompletionStage<?> flush(List<T> batch);

  /**
   * Returns a {@link FlushFunc} that starts the write and waits for it, interruptibly, throwing
   * what the stage failed with.
   *
   * @return the blocking form, for {@link Config#builder}
   */
  default FlushFunc<T> awaiting() {
    return batch -> Stages.await(flush(batch));
  }
}
