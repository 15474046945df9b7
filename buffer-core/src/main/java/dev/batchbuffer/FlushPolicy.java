package dev.batchbuffer;

import dev.batchbuffer.internal.Checks;
import dev.batchbuffer.internal.PolicyFace;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiPredicate;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * When a batch is complete: a count, a byte size, an age, a custom condition, or any of them.
 * The high-level form of {@link Config}'s {@code willOverflow}/{@code canAdd}/{@code shouldFlush}:
 *
 * {@snippet file="dev/batchbuffer/snippets/FlushPolicySnippetsTest.java" region="policy"}
 *
 * <p>A policy decides three things per item, in the order of the {@link Config} contract: whether
 * the item would overflow the current batch (the batch is flushed first), whether the item may be
 * added at all (an item that weighs more than the byte limit on its own is handled by the
 * {@link Oversize} rule), and whether the batch is full after the append. The composition of
 * {@link #anyOf} is: flush before the item if <em>any</em> part would overflow, add the item only if
 * <em>every</em> part allows it, flush after it if <em>any</em> part is full, linger no longer than
 * the <em>shortest</em> age.
 *
 * <p>A policy is an immutable, thread-safe description; each buffer that uses it keeps its own
 * running state (count, running weight) on its loop thread, so one policy may serve many buffers.
 * Byte limits cost O(1) per item: the weigher runs once per item and the running weight is reset
 * on flush, never re-summed.
 *
 * @param <T> the item type
 */
public final class FlushPolicy<T> {
  /** No count limit. */
  static final int NO_COUNT = Integer.MAX_VALUE;
  /** No byte limit. */
  static final long NO_BYTES = Long.MAX_VALUE;

  private final int maxItems;
  private final @Nullable Weigher<? super T> weigher;
  private final long maxBytes;
  private final long maxItemBytes;
  private final Oversize oversize;
  private final @Nullable Duration maxAge;
  private final List<BiPredicate<List<T>, T>> overflows;
  private final List<BiPredicate<List<T>, T>> vetoes;
  private final List<Predicate<List<T>>> fulls;

  private FlushPolicy(int maxItems, @Nullable Weigher<? super T> weigher, long maxBytes,
      long maxItemBytes, Oversize oversize, @Nullable Duration maxAge,
      List<BiPredicate<List<T>, T>> overflows, List<BiPredicate<List<T>, T>> vetoes,
      List<Predicate<List<T>>> fulls) {
    this.maxItems = maxItems;
    this.weigher = weigher;
    this.maxBytes = maxBytes;
    this.maxItemBytes = maxItemBytes;
    this.oversize = oversize;
    this.maxAge = maxAge;
    this.overflows = List.copyOf(overflows);
    this.vetoes = List.copyOf(vetoes);
    this.fulls = List.copyOf(fulls);
  }

  /**
   * Flushes when the batch holds {@code maxItems} items.
   *
   * @param maxItems the batch size, at least 1
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxItems < 1}
   */
  public static <T> FlushPolicy<T> count(int maxItems) {
    if (maxItems < 1) {
      throw new IllegalArgumentException("maxItems must be >= 1 (was " + maxItems + ")");
    }
    return new FlushPolicy<>(maxItems, null, NO_BYTES, NO_BYTES, Oversize.REJECT, null,
        List.of(), List.of(), List.of());
  }

  /**
   * Keeps every batch at or under {@code maxBytes} by {@code weigher}: an item that would push the
   * batch over the limit flushes the batch first, and a batch that reaches the limit is flushed.
   * An item heavier than {@code maxBytes} on its own is {@linkplain Oversize#REJECT rejected}.
   *
   * @param weigher the size of one item
   * @param maxBytes the most a batch may weigh, at least 1
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxBytes < 1}
   */
  public static <T> FlushPolicy<T> bytes(Weigher<? super T> weigher, long maxBytes) {
    return bytes(weigher, maxBytes, maxBytes, Oversize.REJECT);
  }

  /**
   * Keeps every batch at or under {@code maxBytes} and every item at or under {@code maxItemBytes}
   * (a backend's per-record limit, such as Kinesis's), with an explicit rule for the items above it.
   *
   * @param weigher the size of one item
   * @param maxBytes the most a batch may weigh, at least 1
   * @param maxItemBytes the most one item may weigh, in {@code [1, maxBytes]}
   * @param oversize what happens to an item heavier than {@code maxItemBytes}
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if a limit is out of range
   */
  public static <T> FlushPolicy<T> bytes(Weigher<? super T> weigher, long maxBytes,
      long maxItemBytes, Oversize oversize) {
    Objects.requireNonNull(weigher, "weigher must not be null");
    Objects.requireNonNull(oversize, "oversize must not be null");
    if (maxBytes < 1) {
      throw new IllegalArgumentException("maxBytes must be >= 1 (was " + maxBytes + ")");
    }
    if (maxItemBytes < 1 || maxItemBytes > maxBytes) {
      throw new IllegalArgumentException("maxItemBytes must be in [1, maxBytes=" + maxBytes
          + "] (was " + maxItemBytes + ")");
    }
    return new FlushPolicy<>(NO_COUNT, weigher, maxBytes, maxItemBytes, oversize, null,
        List.of(), List.of(), List.of());
  }

  /**
   * Flushes a partial batch once its first item has waited {@code maxAge} (Kafka's linger). Combined
   * with {@link Config#flushInterval()}, the shorter wins.
   *
   * @param maxAge the longest an item waits, positive
   * @param <T> the item type
   * @return the policy
   * @throws IllegalArgumentException if {@code maxAge} is not positive or above
   *     {@link Config#MAX_FLUSH_INTERVAL}
   */
  public static <T> FlushPolicy<T> age(Duration maxAge) {
    Checks.interval("maxAge", maxAge);
    return new FlushPolicy<>(NO_COUNT, null, NO_BYTES, NO_BYTES, Oversize.REJECT, maxAge,
        List.of(), List.of(), List.of());
  }

  /**
   * The conditions a {@link Config.Builder} adds beside its policy: each non-null one, alone.
   *
   * @param willOverflow a flush-before condition, or null
   * @param canAdd an admission condition, or null
   * @param shouldFlush a flush-after condition, or null
   * @param <T> the item type
   * @return the policy of those conditions
   */
  static <T> FlushPolicy<T> conditions(@Nullable BiPredicate<List<T>, T> willOverflow,
      @Nullable BiPredicate<List<T>, T> canAdd, @Nullable Predicate<List<T>> shouldFlush) {
    return new FlushPolicy<>(NO_COUNT, null, NO_BYTES, NO_BYTES, Oversize.REJECT, null,
        willOverflow == null ? List.of() : List.of(willOverflow),
        canAdd == null ? List.of() : List.of(canAdd),
        shouldFlush == null ? List.of() : List.of(shouldFlush));
  }

  /**
   * Flushes when {@code shouldFlush(batch)} is true after an append.
   *
   * @param shouldFlush a side-effect-free condition on the batch
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> custom(Predicate<List<T>> shouldFlush) {
    Objects.requireNonNull(shouldFlush, "shouldFlush must not be null");
    return new FlushPolicy<>(NO_COUNT, null, NO_BYTES, NO_BYTES, Oversize.REJECT, null,
        List.of(), List.of(), List.of(shouldFlush));
  }

  /**
   * The three decisions as predicates, the form of {@link Config}: flush before an item that
   * {@code willOverflow}, refuse an item that {@code !canAdd}, flush after an append that makes
   * {@code shouldFlush} true.
   *
   * @param willOverflow true to flush the batch before appending the item
   * @param canAdd false to refuse the item (it goes to {@code onReject})
   * @param shouldFlush true to flush after an append
   * @param <T> the item type
   * @return the policy
   */
  public static <T> FlushPolicy<T> custom(BiPredicate<List<T>, T> willOverflow,
      BiPredicate<List<T>, T> canAdd, Predicate<List<T>> shouldFlush) {
    Objects.requireNonNull(willOverflow, "willOverflow must not be null");
    Objects.requireNonNull(canAdd, "canAdd must not be null");
    Objects.requireNonNull(shouldFlush, "shouldFlush must not be null");
    return new FlushPolicy<>(NO_COUNT, null, NO_BYTES, NO_BYTES, Oversize.REJECT, null,
        List.of(willOverflow), List.of(canAdd), List.of(shouldFlush));
  }

  /**
   * Combines policies: overflow if any would overflow, add only if all allow, flush when any is
   * full, linger the shortest age.
   *
   * @param policies at least one
   * @param <T> the item type
   * <p>Byte limits are all honoured. Those that share one {@link Weigher} object share one running
   * weight (O(1) per item). A byte limit with another weigher object (two method references to
   * one method are two objects) is checked on the batch as it stands, re-weighing it (O(n) per
   * item): pass one weigher object, e.g. a constant, to keep every byte limit O(1).
   *
   * @return the combination
   * @throws IllegalArgumentException if none is given; if two byte limits on one weigher object
   *     disagree on the oversize rule; or if a byte limit with its own weigher object sends oversize
   *     items alone or fails them fast (those rules act on the policy's one running weigher: give
   *     both limits the same weigher object)
   */
  @SafeVarargs
  public static <T> FlushPolicy<T> anyOf(FlushPolicy<T>... policies) {
    Objects.requireNonNull(policies, "policies must not be null");
    if (policies.length == 0) {
      throw new IllegalArgumentException("anyOf needs at least one policy (was 0)");
    }
    FlushPolicy<T> result = Objects.requireNonNull(policies[0], "policies[0] must not be null");
    for (int i = 1; i < policies.length; i++) {
      result = result.or(Objects.requireNonNull(policies[i], "policies[" + i + "] must not be null"));
    }
    return result;
  }

  /**
   * Returns {@code anyOf(this, other)}.
   *
   * @param other another policy
   * @return the combination
   * @throws IllegalArgumentException as {@link #anyOf}
   */
  public FlushPolicy<T> or(FlushPolicy<T> other) {
    Objects.requireNonNull(other, "other must not be null");
    Weigher<? super T> w = weigher;
    long bytes = maxBytes;
    long itemBytes = maxItemBytes;
    Oversize rule = oversize;
    List<BiPredicate<List<T>, T>> moreOverflows = other.overflows;
    List<BiPredicate<List<T>, T>> moreVetoes = other.vetoes;
    List<Predicate<List<T>>> moreFulls = other.fulls;
    if (other.weigher != null && w != null && !w.equals(other.weigher)) {
      // Another weigher object: its byte limit joins as conditions on the batch as it stands.
      if (other.maxItemBytes != NO_BYTES && other.oversize != Oversize.REJECT) {
        throw new IllegalArgumentException("a byte limit with its own weigher (" + other.weigher
            + ", besides " + w + ") cannot use Oversize." + other.oversize + ": that rule acts on "
            + "the policy's running weight; give both byte limits the same Weigher object");
      }
      FlushPolicy<T> bytesOnly = new FlushPolicy<>(NO_COUNT, other.weigher, other.maxBytes,
          other.maxItemBytes, Oversize.REJECT, null, List.of(), List.of(), List.of());
      moreOverflows = concat(moreOverflows, List.of(bytesOnly.asWillOverflow()));
      moreVetoes = concat(moreVetoes, List.of(bytesOnly.asCanAdd()));
      moreFulls = concat(moreFulls, List.of(bytesOnly.asShouldFlush()));
    } else if (other.weigher != null) {
      if (w != null && rule != other.oversize) {
        throw new IllegalArgumentException(
            "byte limits disagree on oversize (" + rule + " vs " + other.oversize + ")");
      }
      w = other.weigher;
      bytes = Math.min(bytes, other.maxBytes);
      itemBytes = Math.min(itemBytes, other.maxItemBytes);
      rule = other.oversize;
    }
    Duration age = maxAge;
    if (other.maxAge != null && (age == null || other.maxAge.compareTo(age) < 0)) {
      age = other.maxAge;
    }
    return new FlushPolicy<>(Math.min(maxItems, other.maxItems), w, bytes, itemBytes, rule, age,
        concat(overflows, moreOverflows), concat(vetoes, moreVetoes), concat(fulls, moreFulls));
  }

  /**
   * Returns this policy with another rule for items heavier than the per-item limit.
   *
   * @param rule what to do with an oversize item
   * @return the new policy
   * @throws IllegalStateException if this policy has no byte limit
   */
  public FlushPolicy<T> onOversize(Oversize rule) {
    Objects.requireNonNull(rule, "rule must not be null");
    if (weigher == null) {
      throw new IllegalStateException("onOversize needs a byte limit: this policy has none");
    }
    return new FlushPolicy<>(maxItems, weigher, maxBytes, maxItemBytes, rule, maxAge, overflows,
        vetoes, fulls);
  }

  /**
   * Returns the count limit.
   *
   * @return the most items per batch, or {@link Integer#MAX_VALUE} for none
   */
  public int maxItems() {
    return maxItems;
  }

  /**
   * Returns the byte limit.
   *
   * @return the most a batch may weigh, or {@link Long#MAX_VALUE} for none
   */
  public long maxBytes() {
    return maxBytes;
  }

  /**
   * Returns the per-item limit.
   *
   * @return the most one item may weigh, or {@link Long#MAX_VALUE} for none
   */
  public long maxItemBytes() {
    return maxItemBytes;
  }

  /**
   * Returns the weigher of the byte limit.
   *
   * @return the weigher, or null if there is no byte limit
   */
  public @Nullable Weigher<? super T> weigher() {
    return weigher;
  }

  /**
   * Returns the rule for items heavier than {@link #maxItemBytes()}.
   *
   * @return the oversize rule ({@link Oversize#REJECT} unless set)
   */
  public Oversize oversize() {
    return oversize;
  }

  /**
   * Returns the linger of a partial batch.
   *
   * @return the age limit, or null if there is none
   */
  public @Nullable Duration maxAge() {
    return maxAge;
  }

  /**
   * Returns the custom overflow conditions, any of which flushes before an item.
   *
   * @return an unmodifiable list
   */
  public List<BiPredicate<List<T>, T>> overflowConditions() {
    return overflows;
  }

  /**
   * Returns the custom admission conditions, all of which must allow an item.
   *
   * @return an unmodifiable list
   */
  public List<BiPredicate<List<T>, T>> admissionConditions() {
    return vetoes;
  }

  /**
   * Returns the custom full conditions, any of which flushes after an append.
   *
   * @return an unmodifiable list
   */
  public List<Predicate<List<T>>> fullConditions() {
    return fulls;
  }

  /**
   * Returns this policy as {@link Config#willOverflow()}; the loop recognises it and keeps the
   * running state itself. Called directly, it re-weighs the batch (O(n)).
   *
   * @return the overflow face of this policy
   */
  public BiPredicate<List<T>, T> asWillOverflow() {
    return new PolicyFace.Overflow<>(this);
  }

  /**
   * Returns this policy as {@link Config#canAdd()}.
   *
   * @return the admission face of this policy
   */
  public BiPredicate<List<T>, T> asCanAdd() {
    return new PolicyFace.Admission<>(this);
  }

  /**
   * Returns this policy as {@link Config#shouldFlush()}.
   *
   * @return the full face of this policy
   */
  public Predicate<List<T>> asShouldFlush() {
    return new PolicyFace.Full<>(this);
  }

  @Override
  public String toString() {
    List<String> parts = new ArrayList<>();
    if (maxItems != NO_COUNT) {
      parts.add("count(" + maxItems + ")");
    }
    if (weigher != null) {
      parts.add("bytes(" + maxBytes + (maxItemBytes != maxBytes ? ", item " + maxItemBytes : "")
          + ", " + oversize + ")");
    }
    if (maxAge != null) {
      parts.add("age(" + maxAge + ")");
    }
    if (!overflows.isEmpty() || !vetoes.isEmpty() || !fulls.isEmpty()) {
      parts.add("custom");
    }
    return parts.size() == 1 ? parts.get(0) : "anyOf" + parts;
  }

  private static <E> List<E> concat(List<E> a, List<E> b) {
    if (a.isEmpty()) {
      return b;
    }
    if (b.isEmpty()) {
      return a;
    }
    List<E> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }
}
