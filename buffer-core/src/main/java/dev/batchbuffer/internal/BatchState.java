package dev.batchbuffer.internal;

import dev.batchbuffer.Weigher;
import java.util.AbstractList;
import java.util.Objects;
import java.util.RandomAccess;
import org.jspecify.annotations.Nullable;

/**
 * One batch being built: its items, running weights and linger deadline. A buffer has one; a keyed
 * buffer has one per live key. Owned by the loop thread; not thread-safe.
 *
 * @param <T> the item type
 */
public final class BatchState<T> {
  /** The array of a batch that has not taken an item since its last flush. */
  static final Object[] NO_ITEMS = new Object[0];

  final Limits<T> limits;
  /** {@code limits.countOnly()}, cached for the per-item fast path. */
  final boolean countOnly;
  /** {@code limits.countLimit()}, cached for the per-item fast path. */
  final int countLimit;
  /** True when only the count and a byte limit apply: the byte fast path. */
  final boolean bytesOnly;
  /** {@code limits.weigher()}, cached for the byte fast path. */
  final @Nullable Weigher<? super T> weigher;
  /** {@code limits.maxBytes()}, {@code overflowBytes()} and {@code maxItemBytes()}, cached. */
  final long maxBytes;
  final long overflowBytes;
  final long maxItemBytes;
  final @Nullable Object key;
  final BatchView view = new BatchView();
  /**
   * The batch's array; {@link #NO_ITEMS} until the batch takes its first item (then
   * {@code limits.initialLength()} long), so an idle buffer holds no batch array.
   */
  Object[] items;
  /** Futures of tracked items, parallel to {@code items}; null until a tracked item arrives. */
  @Nullable Object @Nullable [] futures;
  int size;
  /** Running weight by the policy's weigher: O(1) per item, reset by each flush. */
  long bytes;
  /** Running weight by the memory gate's weigher, released after the flush. */
  long held;
  boolean armed;
  /** When the batch took its first item. */
  long armedAt;
  long deadline;
  /** Bumped by every flush, so a stale deadline entry of a keyed loop can be recognised. */
  long epoch;
  /** The heaviest item seen by this state so far, to predict when a byte limit may be reached. */
  long maxWeightSeen;
  /** When the batch last took an item or was flushed, for idle-key expiry. */
  long lastUsed;

  /**
   * Creates an empty batch.
   *
   * @param limits what ends it
   * @param key its key in a keyed buffer, or null
   */
  public BatchState(Limits<T> limits, @Nullable Object key) {
    this.limits = limits;
    this.countOnly = limits.countOnly();
    this.countLimit = limits.countLimit();
    this.weigher = limits.weigher();
    this.bytesOnly = weigher != null && limits.noConditions();
    this.maxBytes = limits.maxBytes();
    this.overflowBytes = limits.overflowBytes();
    this.maxItemBytes = limits.maxItemBytes();
    this.key = key;
    this.items = NO_ITEMS;
  }

  /**
   * Returns how many items the batch holds.
   *
   * @return the size
   */
  public int size() {
    return size;
  }

  /** The live batch as policies see it: read-only, valid during the call. */
  final class BatchView extends AbstractList<T> implements RandomAccess {
    @Override
    @SuppressWarnings("unchecked")
    public T get(int index) {
      Objects.checkIndex(index, size);
      return (T) items[index];
    }

    @Override
    public int size() {
      return size;
    }
  }
}
