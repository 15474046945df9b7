package dev.batchbuffer;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * One finished flush, as a {@link BufferListener} sees it. Holds no items.
 *
 * @param buffer the buffer's name
 * @param key the batch's key in a {@link KeyedBuffer}, or null for a {@link Buffer}
 * @param items how many items the batch held
 * @param bytes the batch's weight by its policy's weigher, or 0 when it has none
 * @param reason why the batch was flushed
 * @param duration how long the flush function took, on the buffer's {@link TimeSource}
 * @param failed how many of its items failed (handed to {@code onFlushError}); 0 on success
 */
public record FlushInfo(String buffer, @Nullable Object key, int items, long bytes,
    FlushReason reason, Duration duration, int failed) {

  /**
   * Returns whether every item of the batch was delivered.
   *
   * @return true when {@link #failed()} is 0
   */
  public boolean succeeded() {
    return failed == 0;
  }
}
