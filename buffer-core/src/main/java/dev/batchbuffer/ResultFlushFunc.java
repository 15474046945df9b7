package dev.batchbuffer;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Writes one batch and answers each item: the flush function of a {@link ResultBuffer}, for batch
 * calls that return something per item (Kinesis {@code PutRecords} a sequence number per record, SQS
 * {@code SendMessageBatch} a message id per entry, a batched lookup the value of each key). Each
 * item's answer completes the future {@link ResultBuffer#submit} returned for it.
 *
 * <p>Answer through {@code results}: all at once as a list in batch order
 * ({@link Results#succeedAll}), or item by item with a value ({@link Results#succeed}) or a failure
 * of the item's own ({@link Results#fail}), so a partial failure needs no exception. An item left
 * unanswered when the call returns fails with an {@link IllegalStateException} saying so; a call
 * that throws fails every item of its call, whatever it answered before. Runs where a
 * {@link FlushFunc} runs, under the same rules.
 *
 * @param <T> the item type
 * @param <R> the type of an item's answer
 */
@FunctionalInterface
public interface ResultFlushFunc<T, R extends @Nullable Object> {
  /**
   * Writes {@code batch} and answers each of its items through {@code results}.
   *
   * @param batch the items, in the order they were accepted; never empty, unmodifiable (with
   *     {@link FlushMiddleware#retry}, a retry's batch holds only the items that failed)
   * @param results where the answer of each item of {@code batch} goes, by its index in
   *     {@code batch}
   * @throws Exception if the batch could not be written: every item of this call fails with it
   */
  void flush(List<T> batch, Results<R> results) throws Exception;
}
