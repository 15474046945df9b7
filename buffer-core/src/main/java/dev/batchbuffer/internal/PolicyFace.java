package dev.batchbuffer.internal;

import dev.batchbuffer.Config;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Oversize;
import dev.batchbuffer.Weigher;
import java.util.List;
import java.util.function.BiPredicate;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * A {@link FlushPolicy} standing in one of {@link Config}'s three predicate slots. The loop looks
 * through it to the policy and keeps the running state itself (O(1) per item); called directly,
 * a face evaluates the policy statelessly, re-weighing the batch (O(n)), so it is always correct.
 * Immutable and thread-safe.
 */
public sealed interface PolicyFace {

  /**
   * Returns the policy behind this face.
   *
   * @return the policy
   */
  FlushPolicy<?> policy();

  /**
   * Returns the policy behind any face in {@code config}, preferring {@code shouldFlush}'s.
   *
   * @param config a configuration
   * @param <T> the item type
   * @return the policy, or null if no slot holds a policy face
   */
  @SuppressWarnings("unchecked")
  static <T> @Nullable FlushPolicy<T> policyOf(Config<T> config) {
    // A SEND_ALONE per-item limit cannot be evaluated as a plain predicate (it does not refuse, it
    // flushes the batch and sends the item alone): its policy leads, and the other faces, which
    // are exact as predicates, are evaluated as such.
    if (config.canAdd() instanceof Admission<?> face
        && face.policy().oversize() == Oversize.SEND_ALONE) {
      return (FlushPolicy<T>) face.policy();
    }
    for (Object slot : new Object[] {config.shouldFlush(), config.willOverflow(), config.canAdd()}) {
      if (slot instanceof PolicyFace face) {
        return (FlushPolicy<T>) face.policy();
      }
    }
    return null;
  }

  /**
   * Returns the policy whose {@code canAdd} face fills the config's {@code canAdd} slot: the one
   * whose per-item limit and oversize rule apply.
   *
   * @param config a configuration
   * @param <T> the item type
   * @return the policy, or null if {@code canAdd} is not a policy face
   */
  @SuppressWarnings("unchecked")
  static <T> @Nullable FlushPolicy<T> admissionPolicyOf(Config<T> config) {
    return config.canAdd() instanceof Admission<?> face ? (FlushPolicy<T>) face.policy() : null;
  }

  /**
   * Returns whether {@code slot} is a face of a policy.
   *
   * @param slot a predicate from a config
   * @return true if the loop handles it through the policy
   */
  static boolean isFace(Object slot) {
    return slot instanceof PolicyFace;
  }

  /**
   * The {@code willOverflow} face.
   *
   * @param policy the policy
   * @param <T> the item type
   */
  record Overflow<T>(FlushPolicy<T> policy) implements PolicyFace, BiPredicate<List<T>, T> {
    @Override
    public boolean test(List<T> batch, T item) {
      Weigher<? super T> w = policy.weigher();
      if (w != null && !batch.isEmpty() && weight(w, batch) + w.weigh(item) > policy.maxBytes()) {
        return true;
      }
      for (BiPredicate<List<T>, T> p : policy.overflowConditions()) {
        if (p.test(batch, item)) {
          return true;
        }
      }
      return false;
    }
  }

  /**
   * The {@code canAdd} face.
   *
   * @param policy the policy
   * @param <T> the item type
   */
  record Admission<T>(FlushPolicy<T> policy) implements PolicyFace, BiPredicate<List<T>, T> {
    @Override
    public boolean test(List<T> batch, T item) {
      Weigher<? super T> w = policy.weigher();
      if (w != null && policy.oversize() != Oversize.SEND_ALONE
          && w.weigh(item) > policy.maxItemBytes()) {
        return false;
      }
      for (BiPredicate<List<T>, T> p : policy.admissionConditions()) {
        if (!p.test(batch, item)) {
          return false;
        }
      }
      return true;
    }
  }

  /**
   * The {@code shouldFlush} face.
   *
   * @param policy the policy
   * @param <T> the item type
   */
  record Full<T>(FlushPolicy<T> policy) implements PolicyFace, Predicate<List<T>> {
    @Override
    public boolean test(List<T> batch) {
      if (batch.size() >= policy.maxItems()) {
        return true;
      }
      Weigher<? super T> w = policy.weigher();
      if (w != null && weight(w, batch) >= policy.maxBytes()) {
        return true;
      }
      for (Predicate<List<T>> p : policy.fullConditions()) {
        if (p.test(batch)) {
          return true;
        }
      }
      return false;
    }
  }

  private static <T> long weight(Weigher<? super T> w, List<T> batch) {
    long sum = 0;
    for (T item : batch) {
      sum += w.weigh(item);
    }
    return sum;
  }
}
