package dev.batchbuffer.internal;

import dev.batchbuffer.Config;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Oversize;
import dev.batchbuffer.Weigher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiPredicate;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * What ends a batch, resolved once from a {@link Config} (its predicates and any policy faces in
 * them) or from a {@link FlushPolicy}: a count, a byte limit with its weigher, a per-item limit with
 * its oversize rule, custom conditions, and the linger. Immutable.
 *
 * @param <T> the item type
 * @param countLimit most items per batch, or {@code Integer.MAX_VALUE}
 * @param weigher the byte limit's weigher, or null
 * @param maxBytes most bytes per batch, or {@code Long.MAX_VALUE}
 * @param maxItemBytes most bytes per item, or {@code Long.MAX_VALUE}
 * @param oversize what happens above {@code maxItemBytes}
 * @param overflows custom flush-before conditions (any)
 * @param admissions custom admission conditions (all)
 * @param fulls custom flush-after conditions (any)
 * @param intervalNanos the linger
 * @param initialLength the batch array allocated up front
 */
public record Limits<T>(int countLimit, @Nullable Weigher<? super T> weigher, long maxBytes,
    long maxItemBytes, Oversize oversize, List<BiPredicate<List<T>, T>> overflows,
    List<BiPredicate<List<T>, T>> admissions, List<Predicate<List<T>>> fulls, long intervalNanos,
    int initialLength) {

  /** The largest batch array allocated up front; a larger batch grows as it fills. */
  static final int MAX_PREALLOCATION = 8192;

  /**
   * Resolves a config's predicates, and the policy behind any face among them.
   *
   * @param config the configuration
   * @param <T> the item type
   * @return the limits
   */
  public static <T> Limits<T> of(Config<T> config) {
    FlushPolicy<T> policy = PolicyFace.policyOf(config);
    List<BiPredicate<List<T>, T>> overflows = new ArrayList<>();
    List<BiPredicate<List<T>, T>> admissions = new ArrayList<>();
    List<Predicate<List<T>>> fulls = new ArrayList<>();
    if (!Defaults.isNever(config.willOverflow()) && !PolicyFace.isFace(config.willOverflow())) {
      overflows.add(config.willOverflow());
    }
    if (!Defaults.isAlways(config.canAdd()) && !PolicyFace.isFace(config.canAdd())) {
      admissions.add(config.canAdd());
    }
    int count = Integer.MAX_VALUE;
    Predicate<List<T>> shouldFlush = config.shouldFlush();
    if (shouldFlush instanceof Defaults.SizeAtLeast<?> s) {
      count = s.capacity();
    } else if (!PolicyFace.isFace(shouldFlush)) {
      fulls.add(shouldFlush);
    }
    return build(policy, count, overflows, admissions, fulls, config.flushInterval(),
        config.capacity());
  }

  /**
   * Resolves a policy on its own (a keyed buffer's per-key policy).
   *
   * @param policy the policy
   * @param interval the linger when the policy has no age (the shorter wins)
   * @param <T> the item type
   * @return the limits
   */
  public static <T> Limits<T> of(FlushPolicy<T> policy, Duration interval) {
    int hint = policy.maxItems() == Integer.MAX_VALUE ? 16 : policy.maxItems();
    return build(policy, Integer.MAX_VALUE, new ArrayList<>(), new ArrayList<>(), new ArrayList<>(),
        interval, hint);
  }

  private static <T> Limits<T> build(@Nullable FlushPolicy<T> policy, int count,
      List<BiPredicate<List<T>, T>> overflows, List<BiPredicate<List<T>, T>> admissions,
      List<Predicate<List<T>>> fulls, Duration interval, int sizeHint) {
    Weigher<? super T> weigher = null;
    long maxBytes = Long.MAX_VALUE;
    long maxItemBytes = Long.MAX_VALUE;
    Oversize oversize = Oversize.REJECT;
    if (policy != null) {
      count = Math.min(count, policy.maxItems());
      weigher = policy.weigher();
      maxBytes = policy.maxBytes();
      maxItemBytes = policy.maxItemBytes();
      oversize = policy.oversize();
      overflows.addAll(policy.overflowConditions());
      admissions.addAll(policy.admissionConditions());
      fulls.addAll(policy.fullConditions());
      Duration age = policy.maxAge();
      if (age != null && age.compareTo(interval) < 0) {
        interval = age;
      }
    }
    int initial = Math.max(1, Math.min(Math.min(sizeHint, count), MAX_PREALLOCATION));
    return new Limits<>(count, weigher, maxBytes, maxItemBytes, oversize, List.copyOf(overflows),
        List.copyOf(admissions), List.copyOf(fulls), interval.toNanos(), initial);
  }

  /**
   * Returns whether only a count limit applies (no weigher, no custom condition): the loop's fast
   * path.
   *
   * @return true for a plain count limit
   */
  public boolean countOnly() {
    return weigher == null && noConditions();
  }

  /**
   * Returns whether no custom condition is set: only the count and the byte limit apply.
   *
   * @return true without custom overflow, admission or full conditions
   */
  public boolean noConditions() {
    return overflows.isEmpty() && admissions.isEmpty() && fulls.isEmpty();
  }

  /**
   * Returns whether only the count and the byte limit can end a batch early, so the loop can tell
   * from the number of arrivals when a batch may be full and need not look at arrivals one by one.
   *
   * @return true when no custom condition is set
   */
  public boolean predictable() {
    return (countLimit != Integer.MAX_VALUE || weigher != null) && overflows.isEmpty()
        && admissions.isEmpty() && fulls.isEmpty();
  }
}
