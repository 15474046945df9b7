package dev.batchbuffer.testing;

import dev.batchbuffer.FlushFunc;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link FlushFunc} for tests: it keeps every batch it receives and lets a test wait, with a
 * timeout, until a number of batches or items has arrived. Thread-safe.
 *
 * {@snippet file="dev/batchbuffer/snippets/TestKitSnippetsTest.java" region="recording-flush"}
 *
 * @param <T> the item type
 */
public final class RecordingFlush<T> implements FlushFunc<T> {
  private final Monitor monitor = new Monitor();
  private final List<List<T>> batches = new ArrayList<>();
  private int itemCount;

  /** Creates an empty recorder. */
  public RecordingFlush() {}

  /**
   * Records {@code batch}; never throws.
   *
   * @param batch the batch, kept as given (buffers hand over lists that are safe to keep)
   */
  @Override
  public void flush(List<T> batch) {
    monitor.update(() -> {
      batches.add(batch);
      itemCount += batch.size();
    });
  }

  /**
   * Returns the batches received so far, oldest first.
   *
   * @return an immutable copy
   */
  public List<List<T>> batches() {
    return monitor.read(() -> List.copyOf(batches));
  }

  /**
   * Returns every item received so far, in flush order.
   *
   * @return an immutable copy
   */
  public List<T> items() {
    return monitor.read(() -> {
      List<T> all = new ArrayList<>(itemCount);
      for (List<T> batch : batches) {
        all.addAll(batch);
      }
      return List.copyOf(all);
    });
  }

  /**
   * Returns how many items were received so far.
   *
   * @return the item count
   */
  public int itemCount() {
    return monitor.read(() -> itemCount);
  }

  /**
   * Waits until at least {@code count} batches have been received.
   *
   * @param count the number of batches
   * @param timeout the longest wait, in real time
   * @return the batches received so far
   * @throws AssertionError if the timeout passes first; the message says what did arrive
   * @throws InterruptedException if interrupted while waiting
   */
  public List<List<T>> awaitBatches(int count, Duration timeout) throws InterruptedException {
    monitor.await(() -> batches.size() >= count, "at least " + count + " batches", this::arrived,
        timeout);
    return batches();
  }

  /**
   * Waits until at least {@code count} items have been received.
   *
   * @param count the number of items
   * @param timeout the longest wait, in real time
   * @return the items received so far, in flush order
   * @throws AssertionError if the timeout passes first; the message says what did arrive
   * @throws InterruptedException if interrupted while waiting
   */
  public List<T> awaitItems(int count, Duration timeout) throws InterruptedException {
    monitor.await(() -> itemCount >= count, "at least " + count + " items", this::arrived, timeout);
    return items();
  }

  private String arrived() {
    return batches.size() + " batches with " + itemCount + " items";
  }

  @Override
  public String toString() {
    return monitor.read(() -> "RecordingFlush[batches=" + batches.size() + ", items=" + itemCount
        + "]");
  }
}
