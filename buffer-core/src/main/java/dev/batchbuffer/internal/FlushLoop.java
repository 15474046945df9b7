package dev.batchbuffer.internal;

import dev.batchbuffer.Config;
import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.TimeSource;
import org.jspecify.annotations.Nullable;

/**
 * The consumer side of a {@code Buffer}: the only owner of its batch, policies and flush function.
 * Runs on one thread; not thread-safe, by design.
 *
 * @param <T> the item type
 */
public final class FlushLoop<T> implements LoopBody {
  /*
   * One iteration: drain up to BURST items from the channel through the per-item logic (Batcher);
   * wake the producers a full channel parked; flush if the linger deadline has passed; if the
   * channel is closed, drain the rest, flush and stop; otherwise park until enough items arrive or
   * the deadline. The deadline is armed when an item enters an empty batch and disarmed by every
   * flush, so it measures how long the oldest item of the batch has waited.
   *
   * While a partial batch waits and only the count and a byte limit can end it early, the loop asks
   * the channel to wake it only once enough items may have arrived to fill the batch: the items
   * left to the count, or the room left to the byte limit divided by the heaviest item seen so far
   * (exact unless a heavier item arrives, so the loop then also re-checks every BYTES_RECHECK
   * nanoseconds: a full batch waits at most that long), and never more than half the channel. An empty batch asks for one item, because the first item starts the
   * deadline. A custom condition, or a memory bound (whose waiters need flushes to make room),
   * makes every arrival worth a look.
   */

  /** Items processed between two looks at the clock and the close flag. */
  static final int BURST = 1024;

  /** How often a loop predicting a byte limit re-checks the channel: 1 ms. */
  static final long BYTES_RECHECK_NANOS = 1_000_000;

  private final Channel<Object> channel;
  private final TimeSource time;
  private final Problems problems;
  private final Batcher<T> batcher;
  private final BatchState<T> batch;
  private final boolean sparseWakeUps;
  /** batcher.aborting(), read once per burst rather than per item. */
  private boolean aborting;
  private final Batcher.Route<T> route;
  private final Telemetry<T> telemetry;
  private final @Nullable Hooks hooks;

  /**
   * Creates the loop of one buffer.
   *
   * @param config the validated configuration
   * @param channel the channel it consumes
   * @param time its clock
   * @param problems where callback failures go
   * @param memory the byte bound on buffered items, if any
   * @param maxInFlight flushes allowed at once
   * @param telemetry where flushes are counted and told
   * @param hooks the periodic tasks, or null
   */
  public FlushLoop(Config<T> config, Channel<Object> channel, TimeSource time, Problems problems,
      @Nullable MemoryGate<T> memory, int maxInFlight, Telemetry<T> telemetry,
      @Nullable Hooks hooks) {
    this.telemetry = telemetry;
    this.hooks = hooks;
    this.channel = channel;
    this.time = time;
    this.problems = problems;
    Limits<T> limits = Limits.of(config);
    FlushFunc<T> flush = config.flush();
    this.batcher = new Batcher<>(channel, time, problems, (state, items) -> flush.flush(items),
        config.onReject(), config.onFlushError(), memory, state -> {}, telemetry);
    this.batcher.maxInFlight(maxInFlight);
    this.batch = new BatchState<>(limits, null);
    this.sparseWakeUps = limits.predictable() && memory == null;
    this.route = (item, future) -> batcher.accept(batch, item, future);
  }

  @Override
  public void run() {
    for (; ; ) {
      batcher.settleFinished();
      aborting = batcher.aborting();
      int n = 0;
      Object element;
      while (n < BURST && (element = channel.poll()) != null) {
        take(element);
        n++;
      }
      if (n > 0) {
        channel.signalProducers();
      }
      if (batch.armed && time.nanoTime() - batch.deadline >= 0) {
        batcher.flush(batch, FlushReason.TIME);
      }
      Hooks h = hooks;
      if (h != null) {
        long now = time.nanoTime();
        if (now - h.nextDue() >= 0) {
          h.runDue(now, batcher::awaitAllFlushes);
        }
      }
      telemetry.waiting(batch.bytes, batch.armed ? batch.armedAt : Telemetry.NONE);
      if (n == BURST) {
        continue;
      }
      if (channel.isClosed()) {
        // producerIndex is final now: poll() returns null only once every claimed item is taken.
        aborting = batcher.aborting();
        while ((element = channel.poll()) != null) {
          take(element);
        }
        batcher.flush(batch, FlushReason.CLOSE);
        batcher.awaitAllFlushes();
        telemetry.waiting(0, Telemetry.NONE);
        if (h != null) {
          h.finish(!batcher.aborting());
        }
        return;
      }
      park();
    }
  }

  /** One channel element: a flush() request, a tracked item or a plain item. */
  private void take(Object element) {
    Signals.FlushRequest request = batcher.take(element, aborting, route);
    if (request != null) {
      batcher.flush(batch, FlushReason.EXPLICIT);
      batcher.awaitAllFlushes();
      telemetry.waiting(0, Telemetry.NONE); // stats read after flush() see it done
      batcher.complete(request);
    }
  }

  @Override
  public void abort() {
    batcher.abort();
  }

  @Override
  public java.util.List<Object> undelivered() {
    return batcher.undelivered();
  }

  private void park() {
    clearStrayInterrupt(problems);
    int minItems = 1;
    long recheck = Long.MAX_VALUE;
    if (batch.size > 0 && sparseWakeUps) {
      Limits<T> limits = batch.limits;
      long need = Math.min(limits.countLimit() - batch.size, channel.bound() / 2);
      if (limits.weigher() != null) {
        long room = limits.maxBytes() - batch.bytes;
        long heaviest = Math.max(1, batch.maxWeightSeen);
        need = Math.min(need, (room + heaviest - 1) / heaviest);
        recheck = BYTES_RECHECK_NANOS;
      }
      minItems = (int) Math.max(1, need);
    }
    Hooks h = hooks;
    if (batch.armed || h != null) {
      // Absolute times: a clock that jumps after `now` was read can only make the wait shorter.
      long now = time.nanoTime();
      long wake = h != null ? h.nextDue() : batch.deadline;
      if (batch.armed) {
        wake = earlier(wake, batch.deadline);
        if (recheck != Long.MAX_VALUE) {
          wake = earlier(wake, now + recheck);
        }
      }
      if (wake - now > 0) {
        channel.await(minItems, true, wake);
      }
    } else {
      channel.await(minItems, false, 0L);
    }
  }

  /** The earlier of two times of the loop's clock, compared by difference (they may wrap). */
  static long earlier(long a, long b) {
    return a - b < 0 ? a : b;
  }

  /**
   * Clears an interrupt a callback left on the loop thread: a pending interrupt would turn every
   * park into a spin.
   *
   * @param problems where to report it
   */
  static void clearStrayInterrupt(Problems problems) {
    if (Thread.interrupted()) {
      problems.report(Problems.Kind.LOOP_INTERRUPTED,
          "a callback interrupted the loop thread; the interrupt was cleared", null);
    }
  }

  @Override
  public long pendingInBatches() {
    return batch.size;
  }
}
