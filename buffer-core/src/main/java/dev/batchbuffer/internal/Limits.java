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
 * <p>Each of a config's three slots means exactly what it holds. A policy face in a slot brings that
 * face's part of its policy: {@code shouldFlush} the count, the byte total that flushes and the
 * full conditions; {@code willOverflow} the byte total that must not be exceeded and the overflow
 * conditions; {@code canAdd} the per-item limit, its oversize rule and the admission conditions.
 * The faces of one policy (the common case, {@code Config.Builder.policy}) share one running
 * weight, O(1) per item. A face of a different policy is kept as the predicate it is, evaluated
 * on the batch as it stands (O(n) per item for a byte limit): every limit given is honoured.
 *
 * @param <T> the item type
 * @param countLimit most items per batch, or {@code Integer.MAX_VALUE}
 * @param weigher the byte limit's weigher, or null
 * @param maxBytes the running weight at which the batch is flushed, or {@code Long.MAX_VALUE}
 * @param overflowBytes the running weight the batch must not exceed: an item that would take it
 *     over flushes the batch first, or {@code Long.MAX_VALUE}
 * @param maxItemBytes most bytes per item, or {@code Long.MAX_VALUE}
 * @param oversize what happens above {@code maxItemBytes}
 * @param overflows custom flush-before conditions (any)
 * @param admissions custom admission conditions (all)
 * @param fulls custom flush-after conditions (any)
 * @param intervalNanos the linger
 * @param initialLength the batch array allocated up front
 */
public record Limits<T>(int countLimit, @Nullable Weigher<? super T> weigher, long maxBytes,
    long overflowBytes, long maxItemBytes, Oversize oversize,
    List<BiPredicate<List<T>, T>> overflows, List<BiPredicate<List<T>, T>> admissions,
    List<Predicate<List<T>>> fulls, long intervalNanos, int initialLength) {

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
    FlushPolicy<T> primary = PolicyFace.policyOf(config);
    int count = Integer.MAX_VALUE;
    Weigher<? super T> weigher = primary == null ? null : primary.weigher();
    long maxBytes = Long.MAX_VALUE;
    long overflowBytes = Long.MAX_VALUE;
    long maxItemBytes = Long.MAX_VALUE;
    Oversize oversize = Oversize.REJECT;
    List<BiPredicate<List<T>, T>> overflows = new ArrayList<>();
    List<BiPredicate<List<T>, T>> admissions = new ArrayList<>();
    List<Predicate<List<T>>> fulls = new ArrayList<>();

    Predicate<List<T>> full = config.shouldFlush();
    if (full instanceof Defaults.SizeAtLeast<?> s) {
      count = s.capacity();
    } else if (primary != null && full instanceof PolicyFace.Full<?> face
        && face.policy() == primary) {
      count = primary.maxItems();
      maxBytes = primary.maxBytes();
      fulls.addAll(primary.fullConditions());
    } else {
      fulls.add(full);
    }
    BiPredicate<List<T>, T> over = config.willOverflow();
    if (primary != null && over instanceof PolicyFace.Overflow<?> face
        && face.policy() == primary) {
      overflowBytes = primary.maxBytes();
      overflows.addAll(primary.overflowConditions());
    } else if (!Defaults.isNever(over)) {
      overflows.add(over);
    }
    BiPredicate<List<T>, T> admit = config.canAdd();
    if (primary != null && admit instanceof PolicyFace.Admission<?> face
        && face.policy() == primary) {
      maxItemBytes = primary.maxItemBytes();
      oversize = primary.oversize();
      admissions.addAll(primary.admissionConditions());
    } else if (!Defaults.isAlways(admit)) {
      admissions.add(admit);
    }
    Duration interval = config.flushInterval();
    Duration age = primary == null ? null : primary.maxAge();
    if (age != null && age.compareTo(interval) < 0) {
      interval = age;
    }
    if (maxBytes == Long.MAX_VALUE && overflowBytes == Long.MAX_VALUE
        && maxItemBytes == Long.MAX_VALUE) {
      weigher = null; // no face of the primary policy weighs: nothing to keep a running weight for
    }
    return build(count, weigher, maxBytes, overflowBytes, maxItemBytes, oversize, overflows,
        admissions, fulls, interval, config.capacity());
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
    Duration age = policy.maxAge();
    if (age != null && age.compareTo(interval) < 0) {
      interval = age;
    }
    return build(policy.maxItems(), policy.weigher(), policy.maxBytes(), policy.maxBytes(),
        policy.maxItemBytes(), policy.oversize(), policy.overflowConditions(),
        policy.admissionConditions(), policy.fullConditions(), interval, hint);
  }

  private static <T> Limits<T> build(int count, @Nullable Weigher<? super T> weigher,
      long maxBytes, long overflowBytes, long maxItemBytes, Oversize oversize,
      List<BiPredicate<List<T>, T>> overflows, List<BiPredicate<List<T>, T>> admissions,
      List<Predicate<List<T>>> fulls, Duration interval, int sizeHint) {
    int initial = Math.max(1, Math.min(Math.min(sizeHint, count), MAX_PREALLOCATION));
    return new Limits<>(count, weigher, maxBytes, overflowBytes, maxItemBytes, oversize,
        List.copyOf(overflows), List.copyOf(admissions), List.copyOf(fulls), interval.toNanos(),
        initial);
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
   * Returns whether only a count can end a batch early, so the loop can tell from the number of
   * arrivals when a batch may be full and need not look at arrivals one by one. A byte limit is
   * not predictable: any one arrival may be heavy enough to flush the batch (or be oversize).
   *
   * @return true for a count limit without a weigher or a custom condition
   */
  public boolean predictable() {
    return countLimit != Integer.MAX_VALUE && weigher == null && noConditions();
  }
}
