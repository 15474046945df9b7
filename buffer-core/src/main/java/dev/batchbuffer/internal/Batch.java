package dev.batchbuffer.internal;

import java.util.AbstractList;
import java.util.Objects;
import java.util.RandomAccess;

/**
 * The unmodifiable list a flush receives. It owns its array: the loop hands the array over and never
 * writes to it again, so a flush may keep the list for as long as it likes. Thread-safe for reading
 * once published (the array is never modified after construction).
 *
 * @param <T> the item type
 */
public final class Batch<T> extends AbstractList<T> implements RandomAccess {
  private final Object[] items;
  private final int size;

  /**
   * Takes ownership of {@code items[0, size)}.
   *
   * @param items the array, no longer written by the caller
   * @param size the number of items in it
   */
  public Batch(Object[] items, int size) {
    this.items = items;
    this.size = size;
  }

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
