package dev.batchbuffer;

import dev.batchbuffer.internal.Defaults;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * The behaviour of a {@link Buffer}: the flush function, the policies that decide when to flush, the
 * hooks for rejected items and failed flushes, and the three sizes. Only {@code flush} is required.
 *
 * <p>The nine-argument constructor takes {@code null} (and {@code 0} for the sizes) to mean "the
 * default"; the accessors always return the resolved value:
 * {@snippet file="dev/batchbuffer/snippets/BufferSnippetsTest.java" region="config-defaults"}
 * The {@link #builder(FlushFunc) builder} is the more readable way to set a few of them, and the
 * one a null checker accepts: the components are not declared nullable, since the accessors never
 * return null.
 * Validation happens here, once: invalid values throw with a message that names the field and the
 * value, and contradictions are rejected, never clamped.
 *
 * <p>The per-item logic the loop applies with these hooks, in order: if the batch is non-empty and
 * {@code willOverflow(batch, item)}, flush the batch first; then if {@code !canAdd(batch, item)}, call
 * {@code onReject(item)}; else append the item, and if {@code shouldFlush(batch)}, flush. Every hook
 * runs on the buffer's loop thread, one call at a time, and must not block indefinitely; the
 * {@code batch} argument of a policy is a read-only view that is valid only during the call.
 *
 * <p>Instances are immutable and thread-safe if the hooks are.
 *
 * @param flush writes a batch; required
 * @param willOverflow true if appending {@code item} would break a hard limit of the backend, so the
 *     current batch is flushed first; {@code null} means never. Must not mutate the batch
 * @param canAdd false to refuse {@code item}, which then goes to {@code onReject}; {@code null} means
 *     always true
 * @param onReject receives each item {@code canAdd} refused; {@code null} means ignore it
 * @param shouldFlush true to flush right after an append; {@code null} means
 *     {@code batch.size() >= capacity}
 * @param onFlushError receives the exception and the batch of each failed flush (the buffer does not
 *     retry); {@code null} means log it (rate-limited, through {@link System.Logger}) and drop the
 *     batch. An {@link Error} other than a {@link VirtualMachineError} thrown by the flush arrives
 *     wrapped in an {@link java.util.concurrent.ExecutionException}
 * @param capacity the target batch size of the default {@code shouldFlush}, also the initial batch
 *     allocation; {@code 0} means {@value #DEFAULT_CAPACITY}
 * @param chanSize the most items waiting between producers and the loop; {@code add} blocks while that
 *     many wait. {@code 0} means {@value #DEFAULT_CHAN_SIZE_FACTOR} {@code * capacity}
 * @param flushInterval the longest an item waits in a partial batch, counted from the moment the first
 *     item enters an empty batch; {@code null} means {@link #DEFAULT_FLUSH_INTERVAL} (5 s)
 * @param <T> the item type
 */
public record Config<T>(
    FlushFunc<T> flush,
    BiPredicate<List<T>, T> willOverflow,
    BiPredicate<List<T>, T> canAdd,
    Consumer<T> onReject,
    Predicate<List<T>> shouldFlush,
    BiConsumer<Exception, List<T>> onFlushError,
    int capacity,
    int chanSize,
    Duration flushInterval) {

  /** The batch size when {@code capacity} is 0: {@value}. */
  public static final int DEFAULT_CAPACITY = 100;

  /** The channel holds this many batches when {@code chanSize} is 0: {@value}. */
  public static final int DEFAULT_CHAN_SIZE_FACTOR = 2;

  /** The longest a partial batch waits when {@code flushInterval} is null: 5 seconds. */
  public static final Duration DEFAULT_FLUSH_INTERVAL = Duration.ofSeconds(5);

  /** The largest {@code chanSize}: {@value} items. */
  public static final int MAX_CHAN_SIZE = 1 << 30;

  /** The largest {@code flushInterval}: 100 years (365 days each), far beyond any real linger. */
  public static final Duration MAX_FLUSH_INTERVAL = Duration.ofDays(36_500);

  /**
   * Validates the components and resolves nulls and zeros to the defaults.
   *
   * @throws NullPointerException if {@code flush} is null
   * @throws IllegalArgumentException if {@code capacity} or {@code chanSize} is negative or too
   *     large, or {@code flushInterval} is not positive or too long
   */
  @SuppressWarnings("NullAway") // null is the documented "default" for every hook
  public Config {
    Objects.requireNonNull(flush, "flush must not be null");
    if (capacity < 0) {
      throw new IllegalArgumentException("capacity must be >= 0 (was " + capacity + ")");
    }
    if (chanSize < 0) {
      throw new IllegalArgumentException("chanSize must be >= 0 (was " + chanSize + ")");
    }
    if (chanSize > MAX_CHAN_SIZE) {
      throw new IllegalArgumentException(
          "chanSize must be <= " + MAX_CHAN_SIZE + " (was " + chanSize + ")");
    }
    if (flushInterval != null) {
      if (flushInterval.isNegative() || flushInterval.isZero()) {
        throw new IllegalArgumentException("flushInterval must be > 0 (was " + flushInterval + ")");
      }
      if (flushInterval.compareTo(MAX_FLUSH_INTERVAL) > 0) {
        throw new IllegalArgumentException(
            "flushInterval must be <= " + MAX_FLUSH_INTERVAL + " (was " + flushInterval + ")");
      }
    }
    if (capacity == 0) {
      capacity = DEFAULT_CAPACITY;
    }
    if (chanSize == 0) {
      if (capacity > MAX_CHAN_SIZE / DEFAULT_CHAN_SIZE_FACTOR) {
        throw new IllegalArgumentException("chanSize must be set when capacity is above "
            + MAX_CHAN_SIZE / DEFAULT_CHAN_SIZE_FACTOR + ": its default, "
            + DEFAULT_CHAN_SIZE_FACTOR + " * capacity, would exceed " + MAX_CHAN_SIZE
            + " (capacity was " + capacity + ")");
      }
      chanSize = DEFAULT_CHAN_SIZE_FACTOR * capacity;
    }
    if (flushInterval == null) {
      flushInterval = DEFAULT_FLUSH_INTERVAL;
    }
    if (willOverflow == null) {
      willOverflow = Defaults.never();
    }
    if (canAdd == null) {
      canAdd = Defaults.always();
    }
    if (onReject == null) {
      onReject = Defaults.ignore();
    }
    if (shouldFlush == null) {
      shouldFlush = Defaults.sizeAtLeast(capacity);
    }
    if (onFlushError == null) {
      onFlushError = Defaults.logAndDrop();
    }
  }

  /**
   * Starts a fluent builder; every setting it does not name keeps its default.
   *
   * @param flush writes a batch
   * @param <T> the item type
   * @return a new builder
   * @throws NullPointerException if {@code flush} is null
   */
  public static <T> Builder<T> builder(FlushFunc<T> flush) {
    return new Builder<>(flush);
  }

  /**
   * A fluent way to write a {@link Config}. {@link #build()} calls the canonical constructor, which
   * validates; setters only reject null. Not thread-safe.
   *
   * @param <T> the item type
   */
  public static final class Builder<T> {
    private final FlushFunc<T> flush;
    private @Nullable BiPredicate<List<T>, T> willOverflow;
    private @Nullable BiPredicate<List<T>, T> canAdd;
    private @Nullable Consumer<T> onReject;
    private @Nullable Predicate<List<T>> shouldFlush;
    private @Nullable BiConsumer<Exception, List<T>> onFlushError;
    private int capacity;
    private int chanSize;
    private @Nullable Duration flushInterval;
    private @Nullable FlushPolicy<T> policy;

    private Builder(FlushFunc<T> flush) {
      this.flush = Objects.requireNonNull(flush, "flush must not be null");
    }

    /**
     * Sets {@link Config#willOverflow()}; beside a {@link #policy}, it is added to the policy's own.
     *
     * @param willOverflow true if appending the item would break a hard limit
     * @return this builder
     */
    public Builder<T> willOverflow(BiPredicate<? super List<T>, ? super T> willOverflow) {
      this.willOverflow = narrow(Objects.requireNonNull(willOverflow,
          "willOverflow must not be null"));
      return this;
    }

    /**
     * Sets {@link Config#canAdd()}; beside a {@link #policy}, it is added to the policy's own.
     *
     * @param canAdd false to refuse the item
     * @return this builder
     */
    public Builder<T> canAdd(BiPredicate<? super List<T>, ? super T> canAdd) {
      this.canAdd = narrow(Objects.requireNonNull(canAdd, "canAdd must not be null"));
      return this;
    }

    /**
     * Sets {@link Config#onReject()}.
     *
     * @param onReject receives each refused item
     * @return this builder
     */
    @SuppressWarnings("unchecked") // a consumer of a supertype consumes T: safe
    public Builder<T> onReject(Consumer<? super T> onReject) {
      this.onReject = (Consumer<T>) Objects.requireNonNull(onReject, "onReject must not be null");
      return this;
    }

    /**
     * Sets {@link Config#shouldFlush()}; beside a {@link #policy}, it is added to the policy's own.
     *
     * @param shouldFlush true to flush right after an append
     * @return this builder
     */
    @SuppressWarnings("unchecked") // a predicate on a supertype tests List<T>: safe
    public Builder<T> shouldFlush(Predicate<? super List<T>> shouldFlush) {
      this.shouldFlush = (Predicate<List<T>>) Objects.requireNonNull(shouldFlush,
          "shouldFlush must not be null");
      return this;
    }

    /**
     * Sets {@link Config#onFlushError()}.
     *
     * @param onFlushError receives each failed batch
     * @return this builder
     */
    @SuppressWarnings("unchecked") // a consumer of supertypes consumes (Exception, List<T>): safe
    public Builder<T> onFlushError(BiConsumer<? super Exception, ? super List<T>> onFlushError) {
      this.onFlushError = (BiConsumer<Exception, List<T>>) Objects.requireNonNull(onFlushError,
          "onFlushError must not be null");
      return this;
    }

    /**
     * Sets {@link Config#capacity()}; 0 means {@value Config#DEFAULT_CAPACITY}.
     *
     * @param capacity the target batch size
     * @return this builder
     */
    public Builder<T> capacity(int capacity) {
      this.capacity = capacity;
      return this;
    }

    /**
     * Sets {@link Config#chanSize()}; 0 means twice the capacity.
     *
     * @param chanSize the most items waiting for the loop
     * @return this builder
     */
    public Builder<T> chanSize(int chanSize) {
      this.chanSize = chanSize;
      return this;
    }

    /**
     * Sets {@link Config#flushInterval()}.
     *
     * @param flushInterval the longest an item waits in a partial batch
     * @return this builder
     */
    public Builder<T> flushInterval(Duration flushInterval) {
      this.flushInterval =
          Objects.requireNonNull(flushInterval, "flushInterval must not be null");
      return this;
    }

    /**
     * Sets {@code willOverflow}, {@code canAdd} and {@code shouldFlush} from {@code policy} (its
     * {@linkplain FlushPolicy#asWillOverflow() faces}); the loop keeps the policy's running state
     * itself. The policy's age becomes {@code flushInterval} (the shorter of the two if both are
     * set) and its count becomes {@code capacity} unless {@code capacity} is set. A predicate also
     * set on this builder (before or after this call) is added to the policy, never a replacement
     * of one of its limits: {@code willOverflow} and {@code shouldFlush} flush when either the
     * policy or the predicate says so, {@code canAdd} admits only what both admit.
     *
     * @param policy when a batch is complete
     * @return this builder
     */
    public Builder<T> policy(FlushPolicy<T> policy) {
      this.policy = Objects.requireNonNull(policy, "policy must not be null");
      return this;
    }

    /**
     * Views a predicate on supertypes as one on the config's exact types (it only ever tests them),
     * keeping the object itself, so a policy face passed here is still recognised by the loop.
     */
    @SuppressWarnings("unchecked")
    private static <T> BiPredicate<List<T>, T> narrow(BiPredicate<? super List<T>, ? super T> p) {
      return (BiPredicate<List<T>, T>) p;
    }

    /**
     * Validates and returns the configuration.
     *
     * @return a new, immutable config
     * @throws IllegalArgumentException if a value is invalid; the message names the field
     */
    @SuppressWarnings("NullAway") // the canonical constructor resolves null to the defaults
    public Config<T> build() {
      Duration interval = flushInterval;
      int size = capacity;
      FlushPolicy<T> p = policy;
      BiPredicate<List<T>, T> overflow = willOverflow;
      BiPredicate<List<T>, T> admit = canAdd;
      Predicate<List<T>> full = shouldFlush;
      if (p != null) {
        // Every limit given holds: the builder's own predicates join the policy's.
        FlushPolicy<T> all = overflow == null && admit == null && full == null ? p
            : FlushPolicy.anyOf(p, FlushPolicy.conditions(overflow, admit, full));
        overflow = all.asWillOverflow();
        admit = all.asCanAdd();
        full = all.asShouldFlush();
        Duration age = p.maxAge();
        if (age != null && (interval == null || age.compareTo(interval) < 0)) {
          interval = age;
        }
        if (size == 0 && p.maxItems() != Integer.MAX_VALUE) {
          size = p.maxItems();
        }
      }
      return new Config<>(flush, overflow, admit, onReject, full, onFlushError,
          size, chanSize, interval);
    }
  }
}
