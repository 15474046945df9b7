package dev.batchbuffer.examples.bench;

import java.time.Duration;

/**
 * One batcher in the peer comparison ({@link PeerBenchmark}, {@link LatencyHarness},
 * {@link LifecycleHarness}): batchbuffer or one of the ways users would otherwise batch
 * ({@link Peer} lists them). Every contender has the same contract: {@link #add} blocks while the
 * batcher is full and never drops an item; batches hold at most {@link Settings#capacity()} items;
 * a partial batch is flushed about {@link Settings#lingerNanos()} after it started (where the
 * contender has a timer at all); {@link #close()} flushes every accepted item and returns after the
 * last flush.
 *
 * @param <T> the item type
 */
public interface Contender<T> extends AutoCloseable {

  /**
   * Adds an item, waiting while the batcher is full. Thread-safe.
   *
   * @param item the item
   * @throws InterruptedException if interrupted while waiting (contenders that cannot be interrupted
   *     ignore it)
   */
  void add(T item) throws InterruptedException;

  /**
   * Flushes every accepted item and returns after the last flush. Call once, after every producer's
   * last {@code add} has returned.
   */
  @Override
  void close();

  /**
   * The shape shared by every contender of one comparison.
   *
   * @param capacity items per batch
   * @param queueSize the bound between producers and the batching thread; lock-free rings round it
   *     up to a power of two ({@link #ringSize()})
   * @param lingerNanos the longest a partial batch should wait
   */
  record Settings(int capacity, int queueSize, long lingerNanos) {
    /** The comparison's workload: batches of 100, a queue of 200 (rings of 256), 5 ms linger. */
    public static final Settings DEFAULT =
        new Settings(Ledger.CAPACITY, Ledger.CHANNEL, Ledger.LINGER.toNanos());

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if a value is not positive, or the queue cannot hold a batch
     */
    public Settings {
      if (capacity < 1 || queueSize < capacity || lingerNanos < 1) {
        throw new IllegalArgumentException("capacity " + capacity + ", queue " + queueSize
            + ", linger " + lingerNanos + " ns");
      }
    }

    /**
     * The size of a power-of-two ring that holds {@link #queueSize()} items: 256 for 200.
     *
     * @return the ring size
     */
    public int ringSize() {
      return queueSize == 1 ? 1 : Integer.highestOneBit(queueSize - 1) << 1;
    }

    /**
     * The linger as a duration.
     *
     * @return the linger
     */
    public Duration linger() {
      return Duration.ofNanos(lingerNanos);
    }
  }
}
