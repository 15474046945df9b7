package dev.batchbuffer.examples.bench;

import dev.batchbuffer.FlushFunc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import org.jctools.queues.MessagePassingQueue;
import org.jctools.queues.MpscArrayQueue;

/**
 * A JCTools batcher as its users write one: an {@link MpscArrayQueue} ring, producers that
 * {@code offer} and back off (spin, yield, park 10 µs) while it is full, and one consumer thread
 * that {@code drain}s into a batch and, when the ring is empty, spins, yields and then parks for
 * 100 µs at a time (never past the batch's linger deadline), polling again after each park.
 *
 * <p>Producers never signal the consumer: the timed park is the whole wake-up protocol, which keeps
 * the producer's {@code add} to one CAS and one store. The price is an idle consumer that wakes
 * 10,000 times a second for ever, and up to 100 µs of extra latency for an item that arrives while
 * it is parked. Flushes on {@code capacity} items or when the batch's first item is
 * {@code lingerNanos} old. The consumer is a platform thread, as a spinning consumer needs.
 *
 * @param <T> the item type
 */
public final class JctoolsBatcher<T> implements Contender<T> {
  /** What the idle consumer parks for between two looks at the ring. */
  static final long CONSUMER_PARK_NANOS = 100_000;

  private final MpscArrayQueue<T> ring;
  private final FlushFunc<T> flush;
  private final int capacity;
  private final long lingerNanos;
  private final Thread consumer;
  /** Appends to the consumer's current batch: one instance, so a drain allocates nothing. */
  private final MessagePassingQueue.Consumer<T> append = this::append;
  private List<T> batch;
  private volatile boolean closed;

  /**
   * Starts the consumer thread.
   *
   * @param flush receives each batch, on the consumer thread
   * @param settings capacity, ring size ({@link Contender.Settings#ringSize()}) and linger
   */
  public JctoolsBatcher(FlushFunc<T> flush, Contender.Settings settings) {
    this.ring = new MpscArrayQueue<>(settings.ringSize());
    this.flush = flush;
    this.capacity = settings.capacity();
    this.lingerNanos = settings.lingerNanos();
    this.batch = new ArrayList<>(capacity);
    this.consumer = Thread.ofPlatform().name("jctools-batcher").daemon().start(this::run);
  }

  /**
   * Offers the item, backing off while the ring is full.
   *
   * @param item the item
   */
  @Override
  public void add(T item) {
    for (int attempt = 0; !ring.offer(item); attempt++) {
      Backoff.pause(attempt, Backoff.PRODUCER_PARK_NANOS);
    }
  }

  private void append(T item) {
    batch.add(item);
  }

  private void run() {
    long deadline = 0;
    int idle = 0;
    try {
      while (true) {
        boolean wasEmpty = batch.isEmpty();
        int drained = ring.drain(append, capacity - batch.size());
        long now = System.nanoTime();
        if (drained > 0) {
          idle = 0;
          if (wasEmpty) {
            deadline = now + lingerNanos;
          }
        }
        if (batch.size() >= capacity || (!batch.isEmpty() && now - deadline >= 0)) {
          flushBatch();
          continue;
        }
        if (drained == 0) {
          if (closed && ring.isEmpty()) {
            break;
          }
          if (idle < Backoff.SPINS + Backoff.YIELDS) {
            Backoff.pause(idle++, CONSUMER_PARK_NANOS);
          } else {
            long park = batch.isEmpty() ? CONSUMER_PARK_NANOS
                : Math.min(CONSUMER_PARK_NANOS, deadline - now);
            LockSupport.parkNanos(park);
          }
        }
      }
      if (!batch.isEmpty()) {
        flushBatch();
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private void flushBatch() throws Exception {
    List<T> full = batch;
    batch = new ArrayList<>(capacity);
    flush.flush(full);
  }

  /** Stops the consumer once the ring is empty, after its last flush. */
  @Override
  public void close() {
    closed = true;
    LockSupport.unpark(consumer);
    Joins.joinUninterruptibly(consumer);
  }
}
