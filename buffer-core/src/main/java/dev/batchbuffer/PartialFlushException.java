package dev.batchbuffer;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Thrown by a flush function when only some items of its batch failed, as SQS
 * {@code SendMessageBatch} and Kinesis {@code PutRecords} report per entry. The buffer treats the
 * other items as delivered; {@link FlushMiddleware#retry} retries only the failed ones, in their
 * original order; what still fails reaches {@code onFlushError} with just those items. One that
 * names no index means nothing failed: the buffer and the retry treat the batch as delivered.
 */
public class PartialFlushException extends Exception {
  private static final long serialVersionUID = 1L;

  /** Positions in the batch that failed, ascending, distinct. */
  private final int[] failed;

  /**
   * Reports the items at {@code failedIndexes} of the batch as failed.
   *
   * @param failedIndexes positions in the batch the flush function received, each in range
   * @param cause why they failed (the first per-entry error, say), or null
   * @throws IllegalArgumentException if an index is negative or repeated
   */
  public PartialFlushException(List<Integer> failedIndexes, @Nullable Throwable cause) {
    super(Objects.requireNonNull(failedIndexes, "failedIndexes must not be null").size()
        + " items of the batch failed", cause);
    int[] sorted = failedIndexes.stream().mapToInt(Integer::intValue).sorted().toArray();
    for (int i = 0; i < sorted.length; i++) {
      if (sorted[i] < 0 || (i > 0 && sorted[i] == sorted[i - 1])) {
        throw new IllegalArgumentException(
            "failedIndexes must be distinct and >= 0 (was " + failedIndexes + ")");
      }
    }
    this.failed = sorted;
  }

  /**
   * Returns the positions of the failed items in the batch, ascending.
   *
   * @return a copy of the indexes
   */
  public List<Integer> failedIndexes() {
    return Arrays.stream(failed).boxed().toList();
  }

  /**
   * Returns the failed items of {@code batch}, in batch order.
   *
   * @param batch the batch this exception was thrown for
   * @param <T> the item type
   * @return the failed items
   * @throws IndexOutOfBoundsException if an index is outside the batch
   */
  public <T> List<T> failedItems(List<T> batch) {
    return Arrays.stream(failed).mapToObj(batch::get).toList();
  }
}
