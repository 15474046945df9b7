package dev.batchbuffer;

/**
 * The size of one item in the unit of a byte limit (bytes of its serialized form, usually), as
 * Caffeine's {@code Weigher} sizes cache entries. Called once per item on the buffer's loop
 * thread, and once more on the producer's thread when a {@code Buffer}'s batches end by count and
 * bytes only (so that the loop can sleep through items that cannot end a batch), when an oversize
 * item must fail fast, or when memory is bounded. So it must be cheap, side-effect free,
 * thread-safe, and give the same answer for the same item.
 *
 * @param <T> the item type
 */
@FunctionalInterface
public interface Weigher<T> {

  /**
   * Returns the weight of {@code item}.
   *
   * @param item the item
   * @return its weight, zero or more
   */
  long weigh(T item);
}
