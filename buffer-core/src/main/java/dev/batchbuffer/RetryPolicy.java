package dev.batchbuffer;

import dev.batchbuffer.internal.Checks;
import java.time.Duration;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * How {@link FlushMiddleware#retry} retries a failed flush: at most {@code maxAttempts} calls,
 * exponential backoff with jitter between them, an optional cap on the total time, and which
 * failures are worth retrying. Immutable and thread-safe.
 *
 * {@snippet file="dev/batchbuffer/snippets/FlushMiddlewareSnippetsTest.java" region="retry-policy"}
 *
 * <p>How {@link Builder#retryOn retryOn} judges a failure: after each failed attempt the retry asks
 * {@link #retries(Exception)} about what the attempt threw, with one exception. When the attempt
 * threw a {@link PartialFlushException} (some items failed, the others were delivered), the
 * predicate is asked about the partial failure's <em>cause</em> (the per-item error the flush
 * function reported), not about the {@code PartialFlushException} itself; only when that cause is
 * missing or is not an {@link Exception} is the {@code PartialFlushException} passed. So a predicate
 * such as {@code e -> e instanceof IOException} retries the failed items of a partial failure caused
 * by an {@code IOException}, and the retry resends only those items:
 * {@snippet file="dev/batchbuffer/snippets/FlushMiddlewareSnippetsTest.java" region="retry-partial"}
 * An {@link InterruptedException} is never retried, whatever the predicate says. By default every
 * other failure is retried.
 */
public final class RetryPolicy {
  /** Calls at most, by default: {@value}. */
  public static final int DEFAULT_MAX_ATTEMPTS = 3;
  /** The first delay, by default: 100 ms. */
  public static final Duration DEFAULT_INITIAL_DELAY = Duration.ofMillis(100);
  /** The longest delay, by default: 10 s. */
  public static final Duration DEFAULT_MAX_DELAY = Duration.ofSeconds(10);

  private final int maxAttempts;
  private final long initialNanos;
  private final long maxDelayNanos;
  private final double multiplier;
  private final double jitter;
  private final long maxElapsedNanos;
  private final Predicate<? super Exception> retryOn;

  private RetryPolicy(Builder b) {
    this.maxAttempts = b.maxAttempts;
    this.initialNanos = b.initial.toNanos();
    this.maxDelayNanos = b.maxDelay.toNanos();
    this.multiplier = b.multiplier;
    this.jitter = b.jitter;
    this.maxElapsedNanos = b.maxElapsed == null ? Long.MAX_VALUE : b.maxElapsed.toNanos();
    this.retryOn = b.retryOn;
  }

  /**
   * Starts a builder with the defaults: 3 attempts, 100 ms doubling to at most 10 s, 20% jitter,
   * no elapsed-time cap, every exception retried.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the most calls, the first included.
   *
   * @return the attempt limit
   */
  public int maxAttempts() {
    return maxAttempts;
  }

  /**
   * Returns the time after which no new attempt starts.
   *
   * @return nanoseconds, or {@link Long#MAX_VALUE} for none
   */
  public long maxElapsedNanos() {
    return maxElapsedNanos;
  }

  /**
   * Returns whether {@code failure} is worth another attempt.
   *
   * @param failure what the last attempt threw
   * @return true to retry
   */
  public boolean retries(Exception failure) {
    return retryOn.test(failure);
  }

  /**
   * Returns the delay before attempt {@code attempt + 1}: {@code initial * multiplier^(attempt-1)},
   * capped, then spread by the jitter.
   *
   * @param attempt the attempt that just failed, from 1
   * @param random the source of the jitter
   * @return the delay in nanoseconds
   */
  public long delayNanos(int attempt, SplittableRandom random) {
    double base = (double) initialNanos * Math.pow(multiplier, Math.max(0, attempt - 1));
    double capped = Math.min(base, (double) maxDelayNanos);
    double spread = jitter == 0 ? 1 : 1 + jitter * (2 * random.nextDouble() - 1);
    return (long) Math.max(0, capped * spread);
  }

  @Override
  public String toString() {
    return "RetryPolicy[maxAttempts=" + maxAttempts + ", initial=" + Duration.ofNanos(initialNanos)
        + ", max=" + Duration.ofNanos(maxDelayNanos) + ", multiplier=" + multiplier
        + ", jitter=" + jitter + "]";
  }

  /** Builds a {@link RetryPolicy}; setters validate at once. Not thread-safe. */
  public static final class Builder {
    private int maxAttempts = DEFAULT_MAX_ATTEMPTS;
    private Duration initial = DEFAULT_INITIAL_DELAY;
    private Duration maxDelay = DEFAULT_MAX_DELAY;
    private double multiplier = 2.0;
    private double jitter = 0.2;
    private @org.jspecify.annotations.Nullable Duration maxElapsed;
    private Predicate<? super Exception> retryOn = e -> true;

    private Builder() {}

    /**
     * Sets the most calls, the first included.
     *
     * @param maxAttempts at least 1 (1 means no retry)
     * @return this builder
     */
    public Builder maxAttempts(int maxAttempts) {
      this.maxAttempts = (int) Checks.atLeastOne("maxAttempts", maxAttempts);
      return this;
    }

    /**
     * Sets the first delay and the longest one.
     *
     * @param initial the delay after the first failure, not negative
     * @param max the cap, at least {@code initial}
     * @return this builder
     */
    public Builder backoff(Duration initial, Duration max) {
      Objects.requireNonNull(initial, "initial must not be null");
      Objects.requireNonNull(max, "max must not be null");
      if (initial.isNegative()) {
        throw new IllegalArgumentException("initial must be >= 0 (was " + initial + ")");
      }
      if (max.compareTo(initial) < 0) {
        throw new IllegalArgumentException("max must be >= initial=" + initial + " (was " + max + ")");
      }
      this.initial = initial;
      this.maxDelay = max;
      return this;
    }

    /**
     * Sets the growth factor of the delay.
     *
     * @param multiplier at least 1
     * @return this builder
     */
    public Builder multiplier(double multiplier) {
      if (!(multiplier >= 1)) {
        throw new IllegalArgumentException("multiplier must be >= 1 (was " + multiplier + ")");
      }
      this.multiplier = multiplier;
      return this;
    }

    /**
     * Sets the jitter: each delay is multiplied by a random factor in {@code [1 - j, 1 + j]}.
     *
     * @param jitter in {@code [0, 1]}
     * @return this builder
     */
    public Builder jitter(double jitter) {
      if (!(jitter >= 0 && jitter <= 1)) {
        throw new IllegalArgumentException("jitter must be in [0, 1] (was " + jitter + ")");
      }
      this.jitter = jitter;
      return this;
    }

    /**
     * Sets the time after the first call when no new attempt starts.
     *
     * @param maxElapsed positive
     * @return this builder
     */
    public Builder maxElapsed(Duration maxElapsed) {
      this.maxElapsed = Checks.interval("maxElapsed", maxElapsed);
      return this;
    }

    /**
     * Sets which failures are retried; the others fail at once. For a {@link PartialFlushException}
     * the predicate sees the exception's cause (see the class description). The default retries
     * every failure.
     *
     * @param retryOn true for a failure worth another attempt
     * @return this builder
     */
    public Builder retryOn(Predicate<? super Exception> retryOn) {
      this.retryOn = Objects.requireNonNull(retryOn, "retryOn must not be null");
      return this;
    }

    /**
     * Returns the policy.
     *
     * @return a new, immutable policy
     */
    public RetryPolicy build() {
      return new RetryPolicy(this);
    }
  }
}
