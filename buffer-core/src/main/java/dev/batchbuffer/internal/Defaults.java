package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * The shared default hooks of a {@code Config}, so the loop never checks for null. The loop
 * recognises them by identity and skips calling the ones that cannot change anything.
 */
public final class Defaults {
  private Defaults() {}

  private static final BiPredicate<List<Object>, Object> NEVER = new BiPredicate<>() {
    @Override
    public boolean test(List<Object> batch, Object item) {
      return false;
    }

    @Override
    public String toString() {
      return "never";
    }
  };

  private static final BiPredicate<List<Object>, Object> ALWAYS = new BiPredicate<>() {
    @Override
    public boolean test(List<Object> batch, Object item) {
      return true;
    }

    @Override
    public String toString() {
      return "always";
    }
  };

  private static final Consumer<Object> IGNORE = new Consumer<>() {
    @Override
    public void accept(Object item) {}

    @Override
    public String toString() {
      return "ignore";
    }
  };

  private static final Problems LOG = new Problems("batchbuffer", TimeSource.system());

  private static final BiConsumer<Exception, List<Object>> LOG_AND_DROP = new BiConsumer<>() {
    @Override
    public void accept(Exception e, List<Object> batch) {
      LOG.report(Problems.Kind.FLUSH_FAILED,
          "flush of " + batch.size() + " items failed; batch dropped (set onFlushError to handle it)",
          e);
    }

    @Override
    public String toString() {
      return "logAndDrop";
    }
  };

  /**
   * Returns the predicate that is always false: the default {@code willOverflow}.
   *
   * @param <T> the item type
   * @return the shared instance
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static <T> BiPredicate<List<T>, T> never() {
    return (BiPredicate) NEVER;
  }

  /**
   * Returns whether {@code predicate} is the shared {@link #never()} instance.
   *
   * @param predicate a {@code willOverflow}
   * @return true if calling it cannot return true
   */
  public static boolean isNever(Object predicate) {
    return predicate == NEVER;
  }

  /**
   * Returns whether {@code predicate} is the shared {@link #always()} instance.
   *
   * @param predicate a {@code canAdd}
   * @return true if calling it cannot return false
   */
  public static boolean isAlways(Object predicate) {
    return predicate == ALWAYS;
  }

  /**
   * Returns whether {@code handler} is the shared {@link #logAndDrop()} instance, which a buffer
   * replaces by a report through its own, named, rate-limited {@link Problems}.
   *
   * @param handler an {@code onFlushError}
   * @return true for the default
   */
  public static boolean isLogAndDrop(Object handler) {
    return handler == LOG_AND_DROP;
  }

  /**
   * Returns the predicate that is always true: the default {@code canAdd}.
   *
   * @param <T> the item type
   * @return the shared instance
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static <T> BiPredicate<List<T>, T> always() {
    return (BiPredicate) ALWAYS;
  }

  /**
   * Returns the consumer that does nothing: the default {@code onReject}.
   *
   * @param <T> the item type
   * @return the shared instance
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static <T> Consumer<T> ignore() {
    return (Consumer) IGNORE;
  }

  /**
   * Returns the handler that logs a failed flush (rate-limited) and drops the batch: the default
   * {@code onFlushError}.
   *
   * @param <T> the item type
   * @return the shared instance
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static <T> BiConsumer<Exception, List<T>> logAndDrop() {
    return (BiConsumer) LOG_AND_DROP;
  }

  /**
   * Returns the default {@code shouldFlush}: true once the batch holds {@code capacity} items.
   *
   * @param capacity the batch size that triggers a flush
   * @param <T> the item type
   * @return a predicate the loop recognises as a plain count limit
   */
  public static <T> Predicate<List<T>> sizeAtLeast(int capacity) {
    return new SizeAtLeast<>(capacity);
  }

  /**
   * The default {@code shouldFlush}: {@code batch.size() >= capacity}.
   *
   * @param capacity the batch size that triggers a flush
   * @param <T> the item type
   */
  public record SizeAtLeast<T>(int capacity) implements Predicate<List<T>> {
    @Override
    public boolean test(List<T> batch) {
      return batch.size() >= capacity;
    }

    @Override
    public String toString() {
      return "batch.size() >= " + capacity;
    }
  }
}
