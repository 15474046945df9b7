package dev.batchbuffer;

import java.util.List;

/**
 * Writes one batch of one key: the flush function of a {@link KeyedBuffer}. Runs on the buffer's
 * loop thread, one call at a time (with {@code maxInFlight > 1}, on a flush thread, never two calls
 * for one key at once); must not block indefinitely. The list is fresh, unmodifiable and
 * the callee's to keep; every item in it has {@code key}.
 *
 * @param <K> the key type
 * @param <T> the item type
 */
@FunctionalInterface
public interface KeyedFlushFunc<K, T> {

  /**
   * Writes {@code batch}, whose items all have {@code key}.
   *
   * @param key the key of every item in the batch
   * @param batch the items, in the order they were accepted; never empty
   * @throws Exception if the batch could not be written; reported to {@code onFlushError}
   */
  void flush(K key, List<T> batch) throws Exception;
}
