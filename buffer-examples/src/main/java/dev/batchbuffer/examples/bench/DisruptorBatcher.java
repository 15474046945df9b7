package dev.batchbuffer.examples.bench;

import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.EventTranslatorOneArg;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.TimeoutBlockingWaitStrategy;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import dev.batchbuffer.FlushFunc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * An LMAX Disruptor batcher as its documentation suggests: a multi-producer {@link RingBuffer} of
 * slots that producers fill with {@code publishEvent} and a translator (a full ring makes
 * {@code publishEvent} spin-park until a slot frees), and one {@link EventHandler} that copies each
 * item into a batch and flushes it at {@code capacity} items. For time, a
 * {@link TimeoutBlockingWaitStrategy} of {@code lingerNanos} calls the handler's {@code onTimeout}
 * when no event arrived for that long, which flushes a partial batch; and at the end of each batch
 * of events the handler flushes a partial batch whose first item is {@code lingerNanos} old (without
 * that, a steady trickle of events would never time out and a batch could wait for its 100th item).
 * A partial batch can therefore wait up to about twice the linger: the item that would trigger it
 * may arrive just before the deadline, and the wait that follows lasts one linger more.
 *
 * <p>Close is {@code disruptor.shutdown()} (which waits until the handler has consumed every
 * published event) and then waits for the handler's thread, whose {@code onShutdown} flushes the
 * last partial batch.
 *
 * @param <T> the item type
 */
public final class DisruptorBatcher<T> implements Contender<T> {
  /** A ring slot: the Disruptor pre-allocates them and producers fill them in place. */
  static final class Slot<T> {
    @Nullable T item;
  }

  private final Disruptor<Slot<T>> disruptor;
  private final RingBuffer<Slot<T>> ring;
  private final EventTranslatorOneArg<Slot<T>, T> translator = (slot, sequence, item) -> slot.item = item;
  private volatile @Nullable Thread handlerThread;

  /**
   * Starts the disruptor and its handler thread.
   *
   * @param flush receives each batch, on the handler thread
   * @param settings capacity, ring size ({@link Contender.Settings#ringSize()}) and linger
   */
  public DisruptorBatcher(FlushFunc<T> flush, Contender.Settings settings) {
    this.disruptor = new Disruptor<>(Slot::new, settings.ringSize(), runnable -> {
      Thread thread = Thread.ofPlatform().name("disruptor-batcher").daemon().unstarted(runnable);
      handlerThread = thread;
      return thread;
    }, ProducerType.MULTI, new TimeoutBlockingWaitStrategy(settings.lingerNanos(), TimeUnit.NANOSECONDS));
    disruptor.handleEventsWith(new Batching<>(flush, settings.capacity(), settings.lingerNanos()));
    this.ring = disruptor.start();
  }

  /**
   * Publishes the item into the next slot, waiting while the ring is full.
   *
   * @param item the item
   */
  @Override
  public void add(T item) {
    ring.publishEvent(translator, item);
  }

  /** Waits until every published item was handled, stops the handler and waits for its last flush. */
  @Override
  public void close() {
    disruptor.shutdown();
    Thread thread = handlerThread;
    if (thread != null) {
      Joins.joinUninterruptibly(thread);
    }
  }

  /** The handler: copies items out of the ring into batches and flushes them. */
  private static final class Batching<T> implements EventHandler<Slot<T>> {
    private final FlushFunc<T> flush;
    private final int capacity;
    private final long lingerNanos;
    private List<T> batch;
    private long deadline;

    Batching(FlushFunc<T> flush, int capacity, long lingerNanos) {
      this.flush = flush;
      this.capacity = capacity;
      this.lingerNanos = lingerNanos;
      this.batch = new ArrayList<>(capacity);
    }

    @Override
    public void onEvent(Slot<T> slot, long sequence, boolean endOfBatch) throws Exception {
      T item = slot.item;
      slot.item = null; // the ring must not keep flushed items reachable
      if (item == null) {
        throw new IllegalStateException("an empty slot at " + sequence);
      }
      if (batch.isEmpty()) {
        deadline = System.nanoTime() + lingerNanos;
      }
      batch.add(item);
      if (batch.size() >= capacity || (endOfBatch && System.nanoTime() - deadline >= 0)) {
        flushBatch();
      }
    }

    @Override
    public void onTimeout(long sequence) throws Exception {
      if (!batch.isEmpty()) {
        flushBatch();
      }
    }

    @Override
    public void onShutdown() {
      if (!batch.isEmpty()) {
        try {
          flushBatch();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }
    }

    private void flushBatch() throws Exception {
      List<T> full = batch;
      batch = new ArrayList<>(capacity);
      flush.flush(full);
    }
  }
}
