package dev.batchbuffer.examples.results;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.Options;
import dev.batchbuffer.ResultBuffer;
import dev.batchbuffer.ResultFlushFunc;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Request collapsing: many threads (typically one virtual thread per request) each ask for one key,
 * and the loader turns the keys asked for within a short linger into one backend lookup. Equal keys
 * in a batch are looked up once, and every caller of such a key gets the same answer.
 *
 * <p>What each caller gets:
 * <ul>
 *   <li>the value the lookup returned for its key, as {@code Optional.of(value)};
 *   <li>{@code Optional.empty()} when the lookup returned no value for the key: a missing key is an
 *       answer, not a failure;
 *   <li>a {@link DeliveryException} ({@code FAILED}, whose cause is the lookup's exception) when the
 *       lookup holding its key threw: exactly the callers of the keys of that lookup fail, and the
 *       lookups of other batches are not affected.
 * </ul>
 *
 * <p>A lookup asks for at most {@code maxBatch} keys; it starts when {@code maxBatch} calls are
 * waiting or {@code linger} after the first of them, whichever comes first, and up to
 * {@code maxInFlight} lookups run at once. {@link #close()} answers every call accepted before it.
 * There is no cache: a key asked for again in a later batch is looked up again.
 *
 * @param <K> the key type; equal keys ({@link Object#equals}) are collapsed
 * @param <V> the value type
 */
public final class CollapsingLoader<K, V> implements AutoCloseable {

  /**
   * The backend's batched lookup: the values of a set of keys, in one call.
   *
   * @param <K> the key type
   * @param <V> the value type
   */
  @FunctionalInterface
  public interface BatchLookup<K, V> {
    /**
     * Looks up {@code keys}.
     *
     * @param keys distinct keys, in the order they were first asked for; never empty
     * @return the value of each key that exists; a key without an entry is missing
     * @throws Exception if the lookup failed: every caller of these keys fails with it
     */
    Map<K, V> lookup(Set<K> keys) throws Exception;
  }

  private final ResultBuffer<K, Optional<V>> buffer;

  private CollapsingLoader(ResultBuffer<K, Optional<V>> buffer) {
    this.buffer = buffer;
  }

  /**
   * Starts a loader on the system clock.
   *
   * @param lookup the backend's batched lookup
   * @param linger how long the first call of a batch waits for others to join it
   * @param maxBatch the most calls in one batch (so the most keys in one lookup)
   * @param maxInFlight the most lookups running at once
   * @param <K> the key type
   * @param <V> the value type
   * @return the running loader
   */
  public static <K, V> CollapsingLoader<K, V> start(BatchLookup<K, V> lookup, Duration linger,
      int maxBatch, int maxInFlight) {
    return start(lookup, linger, maxBatch, maxInFlight, TimeSource.system());
  }

  /**
   * Starts a loader whose linger is measured on {@code time} (a test's manual clock).
   *
   * @param lookup the backend's batched lookup
   * @param linger how long the first call of a batch waits for others to join it
   * @param maxBatch the most calls in one batch (so the most keys in one lookup)
   * @param maxInFlight the most lookups running at once
   * @param time the clock of the linger
   * @param <K> the key type
   * @param <V> the value type
   * @return the running loader
   */
  public static <K, V> CollapsingLoader<K, V> start(BatchLookup<K, V> lookup, Duration linger,
      int maxBatch, int maxInFlight, TimeSource time) {
    Objects.requireNonNull(lookup, "lookup must not be null");
    // --- README collapsing start ---
    ResultBuffer<K, Optional<V>> buffer = ResultBuffer.builder(collapsing(lookup))
        .config(c -> c.capacity(maxBatch).flushInterval(linger))   // maxBatch calls, or linger
        .options(Options.<K>builder().maxInFlight(maxInFlight).timeSource(time).build())
        .start();
    // --- end ---
    return new CollapsingLoader<>(buffer);
  }

  // --- README collapsing ---
  /** One lookup per batch, of its distinct keys; each caller is answered with its key's value. */
  static <K, V> ResultFlushFunc<K, Optional<V>> collapsing(BatchLookup<K, V> lookup) {
    return (keys, results) -> {
      Map<K, V> found = lookup.lookup(new LinkedHashSet<>(keys));  // throws: all these callers fail
      for (int i = 0; i < keys.size(); i++) {
        results.succeed(i, Optional.ofNullable(found.get(keys.get(i))));  // missing: empty
      }
    };
  }
  // --- end ---

  /**
   * Asks for {@code key} without waiting.
   *
   * @param key the key
   * @return completes with the key's value, {@code Optional.empty()} if it is missing, or
   *     exceptionally with a {@link DeliveryException} if its lookup failed
   * @throws InterruptedException if interrupted while waiting for room in the buffer
   * @throws IllegalStateException if the loader is closed
   */
  public CompletableFuture<Optional<V>> loadAsync(K key) throws InterruptedException {
    return buffer.submit(Objects.requireNonNull(key, "key must not be null"));
  }

  /**
   * Asks for {@code key} and waits for the answer of its batch's lookup.
   *
   * @param key the key
   * @return the key's value, or {@code Optional.empty()} if it is missing
   * @throws DeliveryException if the lookup holding the key failed (the cause is its exception)
   * @throws InterruptedException if interrupted while waiting
   * @throws IllegalStateException if the loader is closed
   */
  public Optional<V> load(K key) throws DeliveryException, InterruptedException {
    try {
      return loadAsync(key).get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof DeliveryException d) {
        throw d;
      }
      throw new IllegalStateException("a load ended without a DeliveryException", e.getCause());
    }
  }

  /** Stops taking calls, answers every call accepted before, and returns after the last lookup. */
  @Override
  public void close() {
    buffer.close();
  }
}
