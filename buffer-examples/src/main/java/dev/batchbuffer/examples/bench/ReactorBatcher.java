package dev.batchbuffer.examples.bench;

import dev.batchbuffer.FlushFunc;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;
import reactor.util.concurrent.Queues;

/**
 * A Project Reactor batcher as its users write one: a unicast {@link Sinks.Many} with a bounded
 * queue ({@code Queues.get(queueSize)}, a ring of 256 for 200) that producers emit into,
 * {@code bufferTimeout(capacity, linger, true)} to cut batches, and {@code publishOn} a
 * {@link Schedulers#boundedElastic()} worker, where the flush runs (a flush may block, and must not
 * run on the producer that happened to drain the sink or on the parallel scheduler's timer).
 * {@code publishOn} prefetches {@code queueSize / capacity} batches, so at most that many finished
 * batches wait behind a running flush; then {@code bufferTimeout} stops requesting and the sink's
 * queue fills. The fair {@code bufferTimeout} prefetches up to four batches of items of its own
 * (Reactor's fixed choice), so more items can be in flight than in the other contenders.
 *
 * <p>Why {@code fairBackpressure = true}: the plain {@code bufferTimeout(capacity, linger)} (3.8.8)
 * resets its item count and swaps its buffer in two steps, so a timer flush racing an
 * {@code onNext} can emit a batch of {@code capacity + 1}: {@link PeerBenchmark}'s check caught one
 * of 101, and a bare sink-to-{@code bufferTimeout} loop showed about one in 450,000 batches. The
 * fair variant, a separate implementation, kept every batch at or below 100 in the same loop
 * (0 in 1.8 million).
 *
 * <p>A sink tolerates one emitter at a time: a concurrent {@code tryEmitNext} fails with
 * {@code FAIL_NON_SERIALIZED}, and a full queue with {@code FAIL_OVERFLOW}. Reactor's answer to both
 * is to retry ({@code emitNext} with a busy-looping {@code EmitFailureHandler}); {@link #add} is that
 * loop, written out so that it backs off (spin, yield, park) like the other lock-free contenders
 * instead of burning a core. Close completes the sink; {@code bufferTimeout} emits the last partial
 * batch and close waits for the subscriber's completion.
 *
 * @param <T> the item type
 */
public final class ReactorBatcher<T> implements Contender<T> {
  private final Sinks.Many<T> sink;
  private final CountDownLatch completed = new CountDownLatch(1);
  private final AtomicReference<@Nullable Throwable> failure = new AtomicReference<>();
  private final Disposable subscription;

  /**
   * Subscribes the pipeline.
   *
   * @param flush receives each batch, on a bounded-elastic worker
   * @param settings capacity, queue size and linger
   */
  public ReactorBatcher(FlushFunc<T> flush, Contender.Settings settings) {
    this.sink = Sinks.many().unicast().onBackpressureBuffer(
        Queues.<T>get(settings.queueSize()).get());
    int prefetch = Math.max(1, settings.queueSize() / settings.capacity());
    this.subscription = sink.asFlux()
        .bufferTimeout(settings.capacity(), settings.linger(), true)
        .publishOn(Schedulers.boundedElastic(), prefetch)
        .subscribe(batch -> flush(flush, batch), this::failed, completed::countDown);
  }

  private static <T> void flush(FlushFunc<T> flush, List<T> batch) {
    try {
      flush.flush(batch);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private void failed(Throwable error) {
    failure.set(error);
    completed.countDown();
  }

  /**
   * Emits the item, retrying while another producer is emitting or the queue is full.
   *
   * @param item the item
   * @throws IllegalStateException if the pipeline failed or was completed
   */
  @Override
  public void add(T item) {
    for (int attempt = 0; ; attempt++) {
      Sinks.EmitResult result = sink.tryEmitNext(item);
      if (result.isSuccess()) {
        return;
      }
      if (result != Sinks.EmitResult.FAIL_NON_SERIALIZED
          && result != Sinks.EmitResult.FAIL_OVERFLOW) {
        throw new IllegalStateException("emit failed: " + result, failure.get());
      }
      Backoff.pause(attempt, Backoff.PRODUCER_PARK_NANOS);
    }
  }

  /** Completes the sink and waits for the last batch's flush. */
  @Override
  public void close() {
    for (int attempt = 0; ; attempt++) {
      Sinks.EmitResult result = sink.tryEmitComplete();
      if (result.isSuccess() || result == Sinks.EmitResult.FAIL_TERMINATED) {
        break;
      }
      Backoff.pause(attempt, Backoff.PRODUCER_PARK_NANOS);
    }
    Joins.uninterruptibly(completed::await);
    subscription.dispose();
    Throwable error = failure.get();
    if (error != null) {
      throw new IllegalStateException("the pipeline failed", error);
    }
  }
}
