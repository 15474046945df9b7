package dev.batchbuffer;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * The buffers the interleaving checks run on: a {@link Buffer} or a {@link KeyedBuffer} of a given
 * {@link Shape}, behind one {@link BufferFace}, so that each check runs unchanged on both kinds.
 */
final class InterleavingTarget {
  private InterleavingTarget() {}

  /**
   * What a target is made of besides its kind and flush function.
   *
   * @param keyed a {@code KeyedBuffer} keyed by {@code item % 2}, else a {@code Buffer}
   * @param maxInFlight flushes at once
   * @param capacity items per batch (per key)
   * @param chanSize items waiting for the loop at most
   * @param linger the flush interval
   * @param time the buffer's clock
   * @param listener a listener, or null
   * @param task a periodic task every {@link #PERIOD}, or null
   * @param taskAsync whether the task runs on a thread of its own rather than on the loop
   */
  record Shape(boolean keyed, int maxInFlight, int capacity, int chanSize, Duration linger,
      TimeSource time, @Nullable BufferListener<Integer> listener, @Nullable PeriodicTask task,
      boolean taskAsync) {
    static final Duration PERIOD = Duration.ofSeconds(1);

    /** A shape with the system clock and no listener or task. */
    static Shape of(boolean keyed, int maxInFlight, int capacity, int chanSize, Duration linger) {
      return new Shape(keyed, maxInFlight, capacity, chanSize, linger, TimeSource.system(), null,
          null, false);
    }

    Shape with(TimeSource clock, @Nullable BufferListener<Integer> l, @Nullable PeriodicTask t,
        boolean async) {
      return new Shape(keyed, maxInFlight, capacity, chanSize, linger, clock, l, t, async);
    }

    @Override
    public String toString() {
      return (keyed ? "keyed" : "plain") + ", maxInFlight " + maxInFlight;
    }
  }

  /** Starts a buffer of {@code shape} that hands each batch to {@code flush}. */
  static BufferFace<Integer> start(Shape shape, FlushFunc<Integer> flush) {
    BufferListener<Integer> listener = shape.listener();
    PeriodicTask task = shape.task();
    if (shape.keyed()) {
      KeyedBuffer.Builder<Integer, Integer> b = KeyedBuffer.<Integer, Integer>builder(
              i -> i % 2, (key, batch) -> flush.flush(batch))
          .policy(FlushPolicy.count(shape.capacity())).chanSize(shape.chanSize())
          .flushInterval(shape.linger()).maxInFlight(shape.maxInFlight())
          .timeSource(shape.time());
      if (listener != null) {
        b = b.listener(listener);
      }
      if (task != null) {
        b = shape.taskAsync() ? b.periodicAsync(Shape.PERIOD, task) : b.periodic(Shape.PERIOD, task);
      }
      KeyedBuffer<Integer, Integer> k = b.start();
      return BufferFace.of(k, shape.toString());
    }
    Options.Builder<Integer> o = Options.<Integer>builder().maxInFlight(shape.maxInFlight())
        .timeSource(shape.time());
    if (listener != null) {
      o = o.listener(listener);
    }
    if (task != null) {
      o = shape.taskAsync() ? o.periodicAsync(Shape.PERIOD, task) : o.periodic(Shape.PERIOD, task);
    }
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(shape.capacity())
        .chanSize(shape.chanSize()).flushInterval(shape.linger()).build(), o.build());
    return BufferFace.of(buffer, shape.toString());
  }
}
