package dev.batchbuffer;

import java.util.List;
import java.util.concurrent.CompletionStage;
import org.jspecify.annotations.Nullable;

/**
 * Starts writing one batch and answers each item when the write completes: the asynchronous form of
 * {@link ResultFlushFunc}, for SDKs whose batch calls return a future (the AWS SDK's async clients,
 * say). A {@link ResultBuffer} built with it ({@link ResultBuffer#builderAsync}) keeps no thread
 * waiting for a write: the buffer starts the write on its loop thread and settles the items when
 * the stage completes, with up to {@code maxInFlight} writes outstanding.
 *
 * <p>Answer through {@code results} before the stage completes (typically in a callback of the
 * SDK's future, on any thread); answers given after it completes are refused. A stage that
 * completes exceptionally fails every item of the batch, whatever was answered; an item left
 * unanswered when it completes normally fails with an {@link IllegalStateException}. When
 * {@code close(timeout)} gives up on the write, the buffer cancels the stage.
 *
 * <p>The SDK's callback threads are not the buffer's: a callback of the buffer's own write must not
 * wait for the buffer (an unbounded {@code close()}, a {@code submit} that must wait for room, a
 * join of {@code flush()}), since the write ends only after the callback returns. Use
 * {@code close(Duration)} there, or hand the call to another thread.
 *
 * @param <T> the item type
 * @param <R> the type of an item's answer
 */
@FunctionalInterface
public interface AsyncResultFlushFunc<T, R extends @Nullable Object> {
  /**
   * Starts writing {@code batch}.
   *
   * @param batch the items, in the order they were accepted; never empty, unmodifiable, the
   *     callee's to keep
   * @param results where the answer of each item goes, by its index in {@code batch}; thread-safe
   * @return completes once every item is answered; exceptionally if the write failed as a whole
   */
  CompletionStage<?> flush(List<T> batch, Results<R> results);

  /**
   * Returns a blocking form that starts the write and waits for it, interruptibly: for a buffer with
   * {@link FlushMiddleware} (retry, timeout), which wraps blocking calls only.
   *
   * @return the blocking form, for {@link ResultBuffer#builder}
   */
  default ResultFlushFunc<T, R> awaiting() {
    return (batch, results) -> Stages.await(flush(batch, results));
  }
}
