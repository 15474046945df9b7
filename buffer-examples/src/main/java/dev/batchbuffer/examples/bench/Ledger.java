package dev.batchbuffer.examples.bench;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/**
 * The workload every benchmark of this package shares (batches of {@value #CAPACITY}, a channel of
 * {@value #CHANNEL}, a linger of 5 ms), and the ledger of one iteration: what the flushes saw and
 * which producers added. An iteration ends with {@link #verify()}, so a benchmark that loses,
 * duplicates or over-fills batches fails instead of measuring. Benchmark states extend it.
 */
public class Ledger {
  /** Items per batch. */
  static final int CAPACITY = 100;
  /** The channel (queue) between the producers and the batching thread. */
  static final int CHANNEL = 200;
  /** The longest a partial batch waits. */
  static final Duration LINGER = Duration.ofMillis(5);

  final LongAdder flushedCount = new LongAdder();
  final LongAdder flushedSum = new LongAdder();
  final LongAdder flushedBatches = new LongAdder();
  final LongAccumulator largestBatch = new LongAccumulator(Math::max, 0);
  final ConcurrentLinkedQueue<Producer> producers = new ConcurrentLinkedQueue<>();

  /** Creates an empty ledger. */
  public Ledger() {}

  /** Forgets the previous iteration: called by a state's iteration setup, before the producers'. */
  void reset() {
    flushedCount.reset();
    flushedSum.reset();
    flushedBatches.reset();
    largestBatch.reset();
    producers.clear();
  }

  /** The flush function of every benchmark: reads every item of the batch. */
  void flush(List<Long> batch) {
    long sum = 0;
    for (int i = 0, n = batch.size(); i < n; i++) {
      sum += batch.get(i);
    }
    flushedCount.add(batch.size());
    flushedSum.add(sum);
    flushedBatches.increment();
    largestBatch.accumulate(batch.size());
  }

  /**
   * Checks that the flushes saw exactly the items the producers added (count and sum) in batches of
   * at most {@value #CAPACITY}. Call after the batcher's close has returned.
   *
   * @throws IllegalStateException if they did not
   */
  void verify() {
    long added = 0;
    long addedSum = 0;
    for (Producer p : producers) {
      added += p.count;
      addedSum += p.sum;
    }
    if (added != flushedCount.sum() || addedSum != flushedSum.sum()) {
      throw new IllegalStateException("flushed " + flushedCount.sum() + " items (sum "
          + flushedSum.sum() + ") but added " + added + " (sum " + addedSum + ")");
    }
    if (largestBatch.get() > CAPACITY) {
      throw new IllegalStateException("a batch of " + largestBatch.get() + " items, above the "
          + CAPACITY + " allowed");
    }
  }
}
