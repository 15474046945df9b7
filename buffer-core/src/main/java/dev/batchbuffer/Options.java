package dev.batchbuffer;

import dev.batchbuffer.internal.Checks;
import dev.batchbuffer.internal.Deadlines;
import dev.batchbuffer.internal.Hooks;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Settings of a {@link Buffer} beyond the nine of {@link Config}: the time source, the buffer's
 * name, the bound on buffered bytes, concurrent flushes, a listener and periodic tasks. Immutable
 * and thread-safe.
 *
 * {@snippet file="dev/batchbuffer/snippets/BufferSnippetsTest.java" region="options"}
 *
 * @param <T> the item type the options apply to; {@code Options<Object>} fits every buffer
 */
public final class Options<T> {
  private static final Options<Object> DEFAULTS = new Builder<>().build();

  private final TimeSource timeSource;
  private final @Nullable String name;
  private final @Nullable Weigher<? super T> memoryWeigher;
  private final long maxBufferedBytes;
  private final int maxInFlight;
  private final @Nullable FlowControl flowControl;
  private final @Nullable BufferListener<? super T> listener;
  private final List<Hooks.Spec> periodic;
  private final @Nullable Duration deliveryTimeout;

  private Options(Builder<T> builder) {
    this.deliveryTimeout = builder.deliveryTimeout;
    this.listener = builder.listener;
    this.periodic = List.copyOf(builder.periodic);
    this.maxInFlight = builder.maxInFlight;
    this.flowControl = builder.flowControl;
    this.timeSource = builder.timeSource;
    this.name = builder.name;
    this.memoryWeigher = builder.memoryWeigher;
    this.maxBufferedBytes = builder.maxBufferedBytes;
  }

  /**
   * Returns the options every setting of which is the default.
   *
   * @param <T> the item type
   * @return the shared default options
   */
  @SuppressWarnings("unchecked")
  public static <T> Options<T> defaults() {
    return (Options<T>) DEFAULTS;
  }

  /**
   * Starts a builder with every setting at its default.
   *
   * @param <T> the item type
   * @return a new builder
   */
  public static <T> Builder<T> builder() {
    return new Builder<>();
  }

  /**
   * Returns where the buffer reads time and waits for deadlines.
   *
   * @return the time source; {@link TimeSource#system()} by default
   */
  public TimeSource timeSource() {
    return timeSource;
  }

  /**
   * Returns the buffer's name, used in its thread name and log messages.
   *
   * @return the name, or null to let the buffer number itself ({@code batchbuffer-1}, ...)
   */
  public @Nullable String name() {
    return name;
  }

  /**
   * Returns the weigher of the memory bound.
   *
   * @return the weigher, or null if memory is not bounded by bytes
   */
  public @Nullable Weigher<? super T> memoryWeigher() {
    return memoryWeigher;
  }

  /**
   * Returns the bound on the bytes held in the channel and the batch.
   *
   * @return the bound, or {@link Long#MAX_VALUE} if there is none
   */
  public long maxBufferedBytes() {
    return maxBufferedBytes;
  }

  /**
   * Returns how many flushes may run at once.
   *
   * @return at least 1; 1 (the default) keeps flushes sequential on the loop thread
   */
  public int maxInFlight() {
    return maxInFlight;
  }

  /**
   * Returns the delivery timeout of each item.
   *
   * @return the timeout, or null (the default) for none
   */
  public @Nullable Duration deliveryTimeout() {
    return deliveryTimeout;
  }

  /**
   * Returns the adaptive flow control.
   *
   * @return it, or null if flushes in flight are bounded by {@link #maxInFlight()} alone
   */
  public @Nullable FlowControl flowControl() {
    return flowControl;
  }

  /**
   * Returns the listener.
   *
   * @return the listener, or null if none is set
   */
  public @Nullable BufferListener<? super T> listener() {
    return listener;
  }

  /**
   * Returns the periodic tasks, for the buffer to run. Not part of the public API.
   *
   * @return the tasks with their periods
   */
  List<Hooks.Spec> periodic() {
    return periodic;
  }

  @Override
  public String toString() {
    return "Options[timeSource=" + timeSource + ", name=" + name + ", maxInFlight=" + maxInFlight
        + (flowControl != null ? ", flowControl=" + flowControl : "")
        + (memoryWeigher != null ? ", maxBufferedBytes=" + maxBufferedBytes : "")
        + (listener != null ? ", listener=" + listener : "")
        + (periodic.isEmpty() ? "" : ", periodicTasks=" + periodic.size())
        + (deliveryTimeout != null ? ", deliveryTimeout=" + deliveryTimeout : "") + "]";
  }

  /**
   * Builds {@link Options}. Not thread-safe.
   *
   * @param <T> the item type
   */
  public static final class Builder<T> {
    private TimeSource timeSource = TimeSource.system();
    private @Nullable String name;
    private @Nullable Weigher<? super T> memoryWeigher;
    private long maxBufferedBytes = Long.MAX_VALUE;
    private int maxInFlight = 1;
    private @Nullable FlowControl flowControl;
    private @Nullable BufferListener<? super T> listener;
    private final List<Hooks.Spec> periodic = new ArrayList<>();
    private @Nullable Duration deliveryTimeout;

    private Builder() {}

    /**
     * Bounds the time from an item's acceptance to a successful flush of it, retries included
     * (Kafka's {@code delivery.timeout.ms}, the Kinesis Producer Library's record time to live).
     * An item past it is not sent again, nor at all if its batch waited past it for a flush slot,
     * its key's previous flush or {@link FlushMiddleware#rateLimit}: it goes to
     * {@code onFlushError} with a {@link DeliveryTimeoutException}, its future fails with
     * {@link DeliveryException.Reason#EXPIRED}, and it counts in {@link BufferStats#expired()} (and
     * {@link BufferStats#failed()}). {@link FlushMiddleware#retry} stops before an attempt that
     * would start after it. A batch's items share the deadline of its first item, timed from
     * when the loop took that item from the channel. An attempt already running is not
     * interrupted: compose {@link FlushMiddleware#timeout} for that. The timeout must be longer
     * than the linger ({@link Config#flushInterval()}, or the policy's {@code maxAge} if shorter):
     * {@link Buffer#start(Config, Options)} rejects it otherwise. Default: none.
     *
     * @param timeout in {@code (0, 365 days]}
     * @return this builder
     * @throws IllegalArgumentException if {@code timeout} is out of range
     */
    public Builder<T> deliveryTimeout(Duration timeout) {
      this.deliveryTimeout = Deadlines.range(timeout);
      return this;
    }

    /**
     * Sets a listener that hears every flush, rejection, blocked producer and the close. Like
     * {@link #maxBufferedBytes}, it narrows the builder to the listener's item type, so
     * {@code Options.builder().listener(ordersListener)} gives {@code Options<Order>}.
     *
     * @param listener the listener; its exceptions are caught, counted and logged
     * @param <U> the item type of the buffer these options are for
     * @return this builder, for items of type {@code U}
     */
    public <U extends T> Builder<U> listener(BufferListener<? super U> listener) {
      Builder<U> self = narrow();
      self.listener = Objects.requireNonNull(listener, "listener must not be null");
      return self;
    }

    /**
     * This builder for a narrower item type: everything set so far accepts a supertype of
     * {@code T}, hence of {@code U}, so the view is safe.
     */
    @SuppressWarnings("unchecked")
    private <U extends T> Builder<U> narrow() {
      return (Builder<U>) this;
    }

    /**
     * Runs {@code task} on the loop thread every {@code period}, between flushes: never at the same
     * time as a flush (with {@link #maxInFlight} above 1 the loop first waits for running flushes),
     * and once more after the final flush of {@code close()}, so a task that syncs a file covers
     * the last write. The period is timed by the {@link #timeSource}; the first run is one period
     * after the start. A slow task delays the flushes, so keep it short, or use
     * {@link #periodicAsync}.
     *
     * @param period how often, in {@code (0, Config.MAX_FLUSH_INTERVAL]}
     * @param task the work; its exceptions are caught, counted and logged
     * @return this builder
     * @throws IllegalArgumentException if {@code period} is out of range
     */
    public Builder<T> periodic(Duration period, PeriodicTask task) {
      periodic.add(new Hooks.Spec(period, task, false));
      return this;
    }

    /**
     * Runs {@code task} every {@code period} on a virtual thread of its own, beside the loop: it
     * may overlap flushes, but never itself (a period that comes while the previous run is still
     * going is skipped). {@code close()} waits for a running one and starts no more.
     *
     * @param period how often, in {@code (0, Config.MAX_FLUSH_INTERVAL]}
     * @param task the work; its exceptions are caught, counted and logged
     * @return this builder
     * @throws IllegalArgumentException if {@code period} is out of range
     */
    public Builder<T> periodicAsync(Duration period, PeriodicTask task) {
      periodic.add(new Hooks.Spec(period, task, true));
      return this;
    }

    /**
     * Sets the time source; tests pass a {@link dev.batchbuffer.testing.ManualTimeSource}.
     *
     * @param timeSource where to read time and wait for deadlines
     * @return this builder
     */
    public Builder<T> timeSource(TimeSource timeSource) {
      this.timeSource = Objects.requireNonNull(timeSource, "timeSource must not be null");
      return this;
    }

    /**
     * Sets the buffer's name.
     *
     * @param name a short, non-blank name for threads and logs
     * @return this builder
     * @throws IllegalArgumentException if {@code name} is blank
     */
    public Builder<T> name(String name) {
      this.name = Checks.name(name);
      return this;
    }

    /**
     * Bounds the bytes, by {@code weigher}, that the buffer holds from {@code add} until the item's
     * flush has returned (channel and batch together): {@code add} waits, {@code offer} returns
     * false, while adding would exceed {@code maxBytes}. An item heavier than the whole bound is let
     * in only when nothing else is held, so it waits its turn but never deadlocks (and a policy's
     * {@link Oversize} rule still applies to it). The weigher runs once per item, on the
     * producer's thread (what it throws goes to the caller of {@code add}), so it must be cheap and
     * thread-safe; the weight travels with the item. The builder takes the weigher's item type:
     * {@code Options.builder().maxBufferedBytes(Order::sizeInBytes, 64 << 20)} gives
     * {@code Options<Order>} with no type witness.
     *
     * @param weigher the size of an item
     * @param maxBytes the most bytes held at once, at least 1
     * @param <U> the item type of the buffer these options are for
     * @return this builder, for items of type {@code U}
     * @throws IllegalArgumentException if {@code maxBytes < 1}
     */
    public <U extends T> Builder<U> maxBufferedBytes(Weigher<? super U> weigher, long maxBytes) {
      Builder<U> self = narrow();
      self.memoryWeigher = Objects.requireNonNull(weigher, "weigher must not be null");
      self.maxBufferedBytes = Checks.atLeastOne("maxBufferedBytes", maxBytes);
      return self;
    }

    /**
     * Lets up to {@code maxInFlight} flushes run at once, each on its own virtual thread, while the
     * loop goes on batching (an {@link AsyncFlushFunc#awaiting()} flush then overlaps its calls).
     * Batches are formed and started in order, but may finish in any order, and per-item futures
     * complete as their batch is settled. At the limit the loop waits for a flush to finish, so
     * producers feel backpressure as usual; bytes under {@link #maxBufferedBytes} stay counted until
     * the flush holding them is settled. A flush thread counts as the buffer's own: {@code close()}
     * there returns at once, and an {@code add} that finds no room throws instead of waiting. The
     * default, 1, runs each flush on the loop thread, strictly one after another.
     *
     * @param maxInFlight at least 1
     * @return this builder
     */
    public Builder<T> maxInFlight(int maxInFlight) {
      this.maxInFlight = (int) Checks.atLeastOne("maxInFlight", maxInFlight);
      Checks.flowControlAlone(this.maxInFlight, flowControl);
      return this;
    }

    /**
     * Adapts the flushes in flight (and, optionally, the items per second) to a backend that
     * throttles: see {@link FlowControl}. Every flush then runs on a thread of its own, as with
     * {@code maxInFlight > 1}, and the flow control's {@link FlowControl#maxLimit()} takes the
     * place of {@code maxInFlight}, which must stay at 1.
     *
     * @param flowControl the flow control
     * @return this builder
     * @throws IllegalArgumentException if {@link #maxInFlight} was set above 1
     */
    public Builder<T> flowControl(FlowControl flowControl) {
      Objects.requireNonNull(flowControl, "flowControl must not be null");
      Checks.flowControlAlone(maxInFlight, flowControl);
      this.flowControl = flowControl;
      return this;
    }

    /**
     * Returns the options.
     *
     * @return new, immutable options
     */
    public Options<T> build() {
      return new Options<>(this);
    }
  }
}
