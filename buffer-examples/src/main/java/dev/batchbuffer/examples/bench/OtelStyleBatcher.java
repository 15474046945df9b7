package dev.batchbuffer.examples.bench;

import dev.batchbuffer.FlushFunc;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Queue;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jctools.queues.MpscArrayQueue;
import org.jspecify.annotations.Nullable;

/**
 * The worker of OpenTelemetry Java's {@code BatchSpanProcessor} (sdk-trace, with one export at a
 * time), written again for items instead of spans, because many batchers are modelled on it. Not
 * the OTel SDK: its algorithm. Producers {@code offer} to a JCTools {@link MpscArrayQueue} of
 * {@code queueSize} (JCTools rounds 200 up to 256) and, when the queue holds as many items as the
 * waiting worker asked for ({@code itemsNeeded}), {@code offer} a token to a one-slot
 * {@link ArrayBlockingQueue} {@code signal}. The worker moves items from the queue into its batch,
 * exports (flushes) at {@code capacity} items or when {@code lingerNanos} (OTel's schedule delay)
 * have passed since the last export, and otherwise waits on {@code signal.poll(timeout)}. It reuses
 * one batch list, handing the flush an unmodifiable view that it clears after the flush returns, as
 * OTel does: a flush must not keep the list.
 *
 * <p>One deliberate difference: where OTel drops a span when the queue is full (and counts it), a
 * producer here wakes the worker and backs off (spin, yield, park) until the item fits, so that
 * every contender has the same nothing-dropped contract. Close is OTel's shutdown: a forced flush
 * of everything queued, then the worker stops. The worker is a daemon platform thread, as in OTel.
 *
 * @param <T> the item type
 */
public final class OtelStyleBatcher<T> implements Contender<T> {
  private final Queue<T> queue;
  private final FlushFunc<T> flush;
  private final int maxExportBatchSize;
  private final long scheduleDelayNanos;
  /**
   * How many more items the waiting worker wants before it is woken; {@code Integer.MAX_VALUE}
   * while it is not waiting.
   */
  private final AtomicInteger itemsNeeded = new AtomicInteger(Integer.MAX_VALUE);
  private final BlockingQueue<Boolean> signal = new ArrayBlockingQueue<>(1);
  private final AtomicReference<@Nullable CountDownLatch> flushRequested = new AtomicReference<>();
  private final ArrayList<T> batch;
  private final Thread worker;
  private volatile boolean continueWork = true;
  private long nextExportTime;

  /**
   * Starts the worker.
   *
   * @param flush receives each batch, on the worker thread
   * @param settings capacity (max export batch size), queue size and linger (schedule delay)
   */
  public OtelStyleBatcher(FlushFunc<T> flush, Contender.Settings settings) {
    this.queue = new MpscArrayQueue<>(settings.queueSize());
    this.flush = flush;
    this.maxExportBatchSize = settings.capacity();
    this.scheduleDelayNanos = settings.lingerNanos();
    this.batch = new ArrayList<>(maxExportBatchSize);
    this.worker = Thread.ofPlatform().name("BatchSpanProcessor_WorkerThread").daemon()
        .start(this::run);
  }

  /**
   * Queues the item, signalling the worker when it has enough for a batch; waits while the queue is
   * full, where OTel would drop the item.
   *
   * @param item the item
   */
  @Override
  public void add(T item) {
    for (int attempt = 0; !queue.offer(item); attempt++) {
      if (attempt == 0) {
        signal.offer(true);
      }
      Backoff.pause(attempt, Backoff.PRODUCER_PARK_NANOS);
    }
    if (queue.size() >= itemsNeeded.get()) {
      signal.offer(true);
    }
  }

  private void run() {
    updateNextExportTime();
    try {
      while (continueWork) {
        if (flushRequested.get() != null) {
          flush();
        }
        boolean exported = false;
        while (!queue.isEmpty() && !exported) {
          batch.add(queue.poll());
          if (batch.size() >= maxExportBatchSize) {
            exportCurrentBatch();
            exported = true;
          }
        }
        if (!exported && System.nanoTime() >= nextExportTime) {
          exportCurrentBatch();
          exported = true;
        }
        if (exported) {
          updateNextExportTime();
        }
        if (queue.isEmpty()) {
          long pollWaitTime = nextExportTime - System.nanoTime();
          if (pollWaitTime > 0) {
            itemsNeeded.set(maxExportBatchSize - batch.size());
            signal.poll(pollWaitTime, TimeUnit.NANOSECONDS);
            itemsNeeded.set(Integer.MAX_VALUE);
          }
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Exports everything queued now, then completes the pending flush request. */
  private void flush() throws Exception {
    int itemsToFlush = queue.size();
    while (itemsToFlush > 0) {
      batch.add(queue.poll());
      itemsToFlush--;
      if (batch.size() >= maxExportBatchSize) {
        exportCurrentBatch();
      }
    }
    exportCurrentBatch();
    CountDownLatch request = flushRequested.getAndSet(null);
    if (request != null) {
      request.countDown();
    }
  }

  private void updateNextExportTime() {
    nextExportTime = System.nanoTime() + scheduleDelayNanos;
  }

  private void exportCurrentBatch() throws Exception {
    if (batch.isEmpty()) {
      return;
    }
    try {
      flush.flush(Collections.unmodifiableList(batch));
    } finally {
      batch.clear();
    }
  }

  /** OTel's shutdown: a forced flush of everything queued, then the worker stops. */
  @Override
  public void close() {
    CountDownLatch flushed = new CountDownLatch(1);
    if (!flushRequested.compareAndSet(null, flushed)) {
      throw new IllegalStateException("closed twice");
    }
    signal.offer(true);
    Joins.uninterruptibly(flushed::await);
    continueWork = false;
    signal.offer(true);
    Joins.joinUninterruptibly(worker);
  }
}
