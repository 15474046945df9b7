package dev.batchbuffer;

import dev.batchbuffer.internal.Throttling;
import java.util.Objects;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * Adaptive flow control for a backend that throttles: the buffer grows the number of flushes in
 * flight (and, optionally, the items per second it hands to the flush function) while the backend
 * accepts, and cuts them when a flush signals throttling. AIMD, as TCP and Flink's async sink do:
 * <ul>
 *   <li><b>additive increase</b>: after a window of successful flushes (as many as the current
 *       limit) the limit grows by {@link #increase()} and the rate by {@link #rateIncrease()};
 *   <li><b>multiplicative decrease</b>: a throttled flush multiplies both by
 *       {@link #decreaseFactor()}, at most once per window: the flushes that were already in flight
 *       when the limit was cut belong to the old window, so a burst of throttled in-flight calls
 *       cuts once. A later attempt of the same flush (a {@link FlushMiddleware#retry}) belongs to
 *       the new window and may cut again.
 * </ul>
 * A flush is throttled when {@link #isThrottled(Throwable)} holds for what it threw: the
 * {@linkplain Builder#throttledWhen predicate} is tried on the exception and each of its causes
 * (a {@link PartialFlushException} whose cause is a throttling error counts). Each attempt of a
 * {@link FlushMiddleware#retry} counts, so a throttle that a retry then hides still cuts the limit.
 * In a {@link ResultBuffer} an item failed with a throttling error counts too. Other failures
 * neither grow nor cut.
 *
 * <p>Set it with {@link Options.Builder#flowControl} or {@link KeyedBuffer.Builder#flowControl}.
 * Its {@link #maxLimit()} takes the place of {@code maxInFlight}, which must then stay at its
 * default of 1. With flow control every flush runs off the loop, on a thread of its own (as with
 * {@code maxInFlight > 1}), even while the limit is 1; a keyed buffer's flushes of one key still
 * never overlap. The current limit and rate are in {@link BufferStats#concurrencyLimit()} and
 * {@link BufferStats#rateLimit()}. Immutable and thread-safe.
 */
public final class FlowControl {
  /** The default of {@link Builder#initialLimit}. */
  public static final int DEFAULT_INITIAL_LIMIT = 1;
  /** The default of {@link Builder#minLimit}. */
  public static final int DEFAULT_MIN_LIMIT = 1;
  /** The default of {@link Builder#maxLimit}. */
  public static final int DEFAULT_MAX_LIMIT = 32;
  /** The default of {@link Builder#increase}. */
  public static final int DEFAULT_INCREASE = 1;
  /** The default of {@link Builder#decreaseFactor}. */
  public static final double DEFAULT_DECREASE_FACTOR = 0.5;

  private final int initialLimit;
  private final int minLimit;
  private final int maxLimit;
  private final int increase;
  private final double decreaseFactor;
  private final double initialRate;
  private final double minRate;
  private final double maxRate;
  private final double rateIncrease;
  private final Predicate<Throwable> throttledWhen;

  private FlowControl(Builder b) {
    this.initialLimit = b.initialLimit;
    this.minLimit = b.minLimit;
    this.maxLimit = b.maxLimit;
    this.increase = b.increase;
    this.decreaseFactor = b.decreaseFactor;
    this.initialRate = b.initialRate;
    this.minRate = b.minRate;
    this.maxRate = b.maxRate;
    this.rateIncrease = b.rateIncrease;
    this.throttledWhen = b.throttledWhen;
  }

  /**
   * Starts an AIMD flow control with every setting at its default: limit 1 to 32, starting at 1,
   * +1 per window, halved on throttling, no rate, the default throttling errors.
   *
   * @return a new builder
   */
  public static Builder aimd() {
    return new Builder();
  }

  /**
   * Returns whether {@code failure} is a throttling error that the default predicate recognises,
   * by class name, so that {@code buffer-core} depends on no SDK: AWS SDK (v1 and v2)
   * {@code ProvisionedThroughputExceededException}, {@code ThrottlingException},
   * {@code ThrottledException}, {@code TooManyRequestsException},
   * {@code RequestLimitExceededException}, {@code RequestThrottledException},
   * {@code LimitExceededException}, {@code KmsThrottlingException}, {@code SlowDownException}
   * (of any service package, or a subclass of one); an AWS SDK v2 {@code SdkServiceException}
   * whose {@code isThrottlingException()} is true or whose {@code statusCode()} is 429 or 503;
   * Google's {@code com.google.api.gax.rpc.ResourceExhaustedException}; and a gRPC
   * {@code io.grpc.StatusRuntimeException} or {@code StatusException} with code
   * {@code RESOURCE_EXHAUSTED}. Looks at this exception only, not its causes; an HTTP 429 of a
   * client without a typed exception needs a predicate of your own. Never throws.
   *
   * @param failure an exception
   * @return true if it is one of those
   */
  public static boolean isDefaultThrottling(Throwable failure) {
    return Throttling.isDefault(failure);
  }

  /**
   * Returns whether a flush that threw {@code failure} was throttled: whether the predicate holds
   * for it or one of its causes. A predicate that throws counts as false.
   *
   * @param failure what the flush threw
   * @return true if the flush counts as throttled
   */
  public boolean isThrottled(@Nullable Throwable failure) {
    return Throttling.anyInChain(failure, throttledWhen);
  }

  /**
   * Returns the limit on flushes in flight when the buffer starts.
   *
   * @return at least {@link #minLimit()}, at most {@link #maxLimit()}
   */
  public int initialLimit() {
    return initialLimit;
  }

  /**
   * Returns the floor of the limit: throttling never cuts below it.
   *
   * @return at least 1
   */
  public int minLimit() {
    return minLimit;
  }

  /**
   * Returns the ceiling of the limit, which takes the place of {@code maxInFlight}.
   *
   * @return at least {@link #minLimit()}
   */
  public int maxLimit() {
    return maxLimit;
  }

  /**
   * Returns how much the limit grows after a window of successful flushes.
   *
   * @return at least 1
   */
  public int increase() {
    return increase;
  }

  /**
   * Returns what the limit (and the rate) is multiplied by on throttling; the limit is rounded
   * down, never below {@link #minLimit()}.
   *
   * @return in (0, 1)
   */
  public double decreaseFactor() {
    return decreaseFactor;
  }

  /**
   * Returns whether the items per second are adapted too.
   *
   * @return true if {@link Builder#itemsPerSecond} was set
   */
  public boolean hasRate() {
    return initialRate > 0;
  }

  /**
   * Returns the rate in items per second when the buffer starts.
   *
   * @return the rate, or 0 if the rate is not adapted
   */
  public double initialRate() {
    return initialRate;
  }

  /**
   * Returns the floor of the rate.
   *
   * @return the rate, or 0 if the rate is not adapted
   */
  public double minRate() {
    return minRate;
  }

  /**
   * Returns the ceiling of the rate.
   *
   * @return the rate, or 0 if the rate is not adapted
   */
  public double maxRate() {
    return maxRate;
  }

  /**
   * Returns how many items per second the rate grows by after a window of successful flushes.
   *
   * @return the step, or 0 if the rate is not adapted
   */
  public double rateIncrease() {
    return rateIncrease;
  }

  @Override
  public String toString() {
    return "FlowControl[aimd, limit=" + initialLimit + " in [" + minLimit + ", " + maxLimit
        + "], increase=" + increase + ", decreaseFactor=" + decreaseFactor
        + (hasRate() ? ", itemsPerSecond=" + initialRate + " in [" + minRate + ", " + maxRate
            + "], rateIncrease=" + rateIncrease : "") + "]";
  }

  /** Builds a {@link FlowControl}. Not thread-safe; {@link #build()} checks the combination. */
  public static final class Builder {
    private int initialLimit = DEFAULT_INITIAL_LIMIT;
    private int minLimit = DEFAULT_MIN_LIMIT;
    private int maxLimit = DEFAULT_MAX_LIMIT;
    private int increase = DEFAULT_INCREASE;
    private double decreaseFactor = DEFAULT_DECREASE_FACTOR;
    private double initialRate;
    private double minRate;
    private double maxRate;
    private double rateIncrease;
    private Predicate<Throwable> throttledWhen = Throttling::isDefault;

    private Builder() {}

    /**
     * Sets the limit on flushes in flight at the start (default 1).
     *
     * @param initialLimit in [minLimit, maxLimit], checked by {@link #build()}
     * @return this builder
     */
    public Builder initialLimit(int initialLimit) {
      this.initialLimit = initialLimit;
      return this;
    }

    /**
     * Sets the floor of the limit (default 1).
     *
     * @param minLimit at least 1
     * @return this builder
     */
    public Builder minLimit(int minLimit) {
      this.minLimit = minLimit;
      return this;
    }

    /**
     * Sets the ceiling of the limit (default 32); it takes the place of {@code maxInFlight}.
     *
     * @param maxLimit at least minLimit
     * @return this builder
     */
    public Builder maxLimit(int maxLimit) {
      this.maxLimit = maxLimit;
      return this;
    }

    /**
     * Sets how much the limit grows after a window of successful flushes (default 1).
     *
     * @param increase at least 1
     * @return this builder
     */
    public Builder increase(int increase) {
      this.increase = increase;
      return this;
    }

    /**
     * Sets what the limit and the rate are multiplied by on throttling (default 0.5).
     *
     * @param decreaseFactor in (0, 1)
     * @return this builder
     */
    public Builder decreaseFactor(double decreaseFactor) {
      this.decreaseFactor = decreaseFactor;
      return this;
    }

    /**
     * Adapts the items per second too: the dispatcher paces the batches it hands over so that
     * their items stay under the rate (a batch waits, on the buffer's {@link TimeSource}, until
     * the items before it have had their time), grows the rate by {@code rateIncrease} per window
     * of successful flushes and multiplies it by {@link #decreaseFactor} on throttling. Off by
     * default.
     *
     * @param initial the rate at the start, in [min, max]
     * @param min the floor, positive
     * @param max the ceiling, finite
     * @param rateIncrease the step per window, positive and finite
     * @return this builder
     */
    public Builder itemsPerSecond(double initial, double min, double max, double rateIncrease) {
      this.initialRate = initial;
      this.minRate = min;
      this.maxRate = max;
      this.rateIncrease = rateIncrease;
      return this;
    }

    /**
     * Sets what counts as throttling, replacing the default
     * ({@link FlowControl#isDefaultThrottling}); to add to the default, pass
     * {@code e -> FlowControl.isDefaultThrottling(e) || yours(e)}. It is tried on the exception and
     * each of its causes, on the threads that settle flushes; it must be cheap and must not throw
     * (an exception counts as false).
     *
     * @param throttledWhen whether an exception says the backend throttled
     * @return this builder
     */
    public Builder throttledWhen(Predicate<Throwable> throttledWhen) {
      this.throttledWhen = Objects.requireNonNull(throttledWhen, "throttledWhen must not be null");
      return this;
    }

    /**
     * Returns the flow control.
     *
     * @return a new, immutable flow control
     * @throws IllegalArgumentException naming the field and value of a setting out of range
     */
    public FlowControl build() {
      if (minLimit < 1) {
        throw new IllegalArgumentException("minLimit must be >= 1 (was " + minLimit + ")");
      }
      if (maxLimit < minLimit) {
        throw new IllegalArgumentException("maxLimit must be >= minLimit (" + minLimit
            + ") (was " + maxLimit + ")");
      }
      if (initialLimit < minLimit || initialLimit > maxLimit) {
        throw new IllegalArgumentException("initialLimit must be in [minLimit, maxLimit] = ["
            + minLimit + ", " + maxLimit + "] (was " + initialLimit + ")");
      }
      if (increase < 1) {
        throw new IllegalArgumentException("increase must be >= 1 (was " + increase + ")");
      }
      if (!(decreaseFactor > 0 && decreaseFactor < 1)) {
        throw new IllegalArgumentException("decreaseFactor must be in (0, 1) (was "
            + decreaseFactor + ")");
      }
      boolean rateSet = initialRate != 0 || minRate != 0 || maxRate != 0 || rateIncrease != 0;
      if (rateSet) {
        if (!(minRate > 0) || Double.isInfinite(minRate)) {
          throw new IllegalArgumentException("itemsPerSecond min must be > 0 and finite (was "
              + minRate + ")");
        }
        if (!(maxRate >= minRate) || Double.isInfinite(maxRate)) {
          throw new IllegalArgumentException("itemsPerSecond max must be finite and >= min ("
              + minRate + ") (was " + maxRate + ")");
        }
        if (!(initialRate >= minRate && initialRate <= maxRate)) {
          throw new IllegalArgumentException("itemsPerSecond initial must be in [min, max] = ["
              + minRate + ", " + maxRate + "] (was " + initialRate + ")");
        }
        if (!(rateIncrease > 0) || Double.isInfinite(rateIncrease)) {
          throw new IllegalArgumentException("rateIncrease must be > 0 and finite (was "
              + rateIncrease + ")");
        }
      }
      return new FlowControl(this);
    }
  }
}
