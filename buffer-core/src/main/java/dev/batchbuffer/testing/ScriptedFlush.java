package dev.batchbuffer.testing;

import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.PartialFlushException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;

/**
 * A {@link FlushFunc} for tests that follows a script, one step per call: succeed, fail with an
 * exception, fail some items of the batch ({@link PartialFlushException}), or wait for a latch
 * (to hold a flush in flight while the test looks). After the script, every call does what
 * {@link Builder#thenSucceed()} or {@link Builder#thenFail(Exception)} said (succeed by default).
 * It records every call and lets a test wait for a number of calls or delivered items. Thread-safe.
 *
 * {@snippet file="dev/batchbuffer/snippets/TestKitSnippetsTest.java" region="scripted-flush"}
 *
 * @param <T> the item type
 */
public final class ScriptedFlush<T> implements FlushFunc<T> {

  /**
   * One call of the flush function and what it did.
   *
   * @param batch the batch it received
   * @param thrown what it threw, or null if it returned normally
   * @param <T> the item type
   */
  public record Call<T>(List<T> batch, @Nullable Exception thrown) {
    /**
     * Returns whether the call returned normally.
     *
     * @return true if nothing was thrown
     */
    public boolean succeeded() {
      return thrown == null;
    }
  }

  /** One scripted step. */
  private record Step(@Nullable Exception failure, @Nullable List<Integer> failedIndexes,
      @Nullable CountDownLatch gate) {
    static final Step SUCCEED = new Step(null, null, null);
  }

  private final Monitor monitor = new Monitor();
  private final Deque<Step> script;
  private final Step otherwise;
  private final List<Call<T>> calls = new ArrayList<>();
  private final List<T> delivered = new ArrayList<>();

  private ScriptedFlush(Builder<T> builder) {
    this.script = new ArrayDeque<>(builder.steps);
    this.otherwise = builder.otherwise;
  }

  /**
   * Starts a script.
   *
   * @param <T> the item type
   * @return a builder with no steps
   */
  public static <T> Builder<T> builder() {
    return new Builder<>();
  }

  /**
   * Does the next step of the script.
   *
   * @param batch the batch
   * @throws Exception the step's failure
   */
  @Override
  public void flush(List<T> batch) throws Exception {
    Step step = monitor.read(() -> script.isEmpty() ? otherwise : script.poll());
    Exception thrown = step.failure();
    CountDownLatch gate = step.gate();
    if (gate != null) {
      try {
        gate.await();
      } catch (InterruptedException e) {
        thrown = e;
      }
    }
    List<Integer> failedIndexes = step.failedIndexes();
    if (thrown != null && failedIndexes != null) {
      List<Integer> inBatch = failedIndexes.stream().filter(i -> i < batch.size()).toList();
      // No index within this batch: nothing failed, so the call succeeds.
      thrown = inBatch.isEmpty() ? null : new PartialFlushException(inBatch, thrown);
    }
    Exception failure = thrown;
    monitor.update(() -> {
      calls.add(new Call<>(batch, failure));
      if (failure == null) {
        delivered.addAll(batch);
      } else if (failure instanceof PartialFlushException partial) {
        for (int i = 0; i < batch.size(); i++) {
          if (!partial.failedIndexes().contains(i)) {
            delivered.add(batch.get(i));
          }
        }
      }
    });
    if (failure != null) {
      throw failure;
    }
  }

  /**
   * Returns every call so far, in order.
   *
   * @return an immutable copy
   */
  public List<Call<T>> calls() {
    return monitor.read(() -> List.copyOf(calls));
  }

  /**
   * Returns the items the calls delivered (all of a successful call, the unfailed ones of a
   * partial failure), in order.
   *
   * @return an immutable copy
   */
  public List<T> delivered() {
    return monitor.read(() -> List.copyOf(delivered));
  }

  /**
   * Waits until at least {@code count} calls have returned or thrown.
   *
   * @param count the number of calls
   * @param timeout the longest wait, in real time
   * @return the calls so far
   * @throws AssertionError if the timeout passes first; the message says what did happen
   * @throws InterruptedException if interrupted while waiting
   */
  public List<Call<T>> awaitCalls(int count, Duration timeout) throws InterruptedException {
    monitor.await(() -> calls.size() >= count, "at least " + count + " calls", this::happened,
        timeout);
    return calls();
  }

  /**
   * Waits until at least {@code count} items have been delivered.
   *
   * @param count the number of items
   * @param timeout the longest wait, in real time
   * @return the delivered items so far
   * @throws AssertionError if the timeout passes first; the message says what did happen
   * @throws InterruptedException if interrupted while waiting
   */
  public List<T> awaitDelivered(int count, Duration timeout) throws InterruptedException {
    monitor.await(() -> delivered.size() >= count, "at least " + count + " delivered items",
        this::happened, timeout);
    return delivered();
  }

  private String happened() {
    return calls.size() + " calls (" + calls.stream().map(c -> c.succeeded() ? "ok" : "failed")
        .collect(Collectors.joining(", ")) + ") delivering " + delivered.size() + " items";
  }

  @Override
  public String toString() {
    return monitor.read(() -> "ScriptedFlush[" + happened() + ", " + script.size()
        + " steps left]");
  }

  /**
   * Writes the script. Not thread-safe.
   *
   * @param <T> the item type
   */
  public static final class Builder<T> {
    private final List<Step> steps = new ArrayList<>();
    private Step otherwise = Step.SUCCEED;

    private Builder() {}

    /**
     * The next call succeeds.
     *
     * @return this builder
     */
    public Builder<T> succeed() {
      return succeed(1);
    }

    /**
     * The next {@code times} calls succeed.
     *
     * @param times how many, at least 1
     * @return this builder
     */
    public Builder<T> succeed(int times) {
      return add(times, Step.SUCCEED);
    }

    /**
     * The next call throws {@code failure}.
     *
     * @param failure what to throw
     * @return this builder
     */
    public Builder<T> fail(Exception failure) {
      return fail(1, failure);
    }

    /**
     * The next {@code times} calls throw {@code failure}.
     *
     * @param times how many, at least 1
     * @param failure what to throw
     * @return this builder
     */
    public Builder<T> fail(int times, Exception failure) {
      return add(times, new Step(Objects.requireNonNull(failure, "failure must not be null"),
          null, null));
    }

    /**
     * The next call fails only the items at {@code indexes} (those within its batch), by throwing
     * a {@link PartialFlushException} with {@code cause}; the other items are delivered. If no
     * index falls within the batch, the call succeeds.
     *
     * @param cause the cause of the partial failure
     * @param indexes positions in the batch
     * @return this builder
     */
    public Builder<T> failItems(Exception cause, int... indexes) {
      Objects.requireNonNull(cause, "cause must not be null");
      for (int i : indexes) {
        if (i < 0) {
          throw new IllegalArgumentException("indexes must be >= 0 (was " + i + ")");
        }
      }
      return add(1, new Step(cause, Arrays.stream(indexes).boxed().toList(), null));
    }

    /**
     * The next call waits until {@code gate} opens (or the flush thread is interrupted, which
     * fails the call with the {@link InterruptedException}), then succeeds: it keeps a flush in
     * flight while the test looks at the buffer.
     *
     * @param gate the latch a test counts down
     * @return this builder
     */
    public Builder<T> awaitThenSucceed(CountDownLatch gate) {
      return add(1, new Step(null, null, Objects.requireNonNull(gate, "gate must not be null")));
    }

    /**
     * Every call after the script succeeds (the default).
     *
     * @return this builder
     */
    public Builder<T> thenSucceed() {
      otherwise = Step.SUCCEED;
      return this;
    }

    /**
     * Every call after the script throws {@code failure}.
     *
     * @param failure what to throw
     * @return this builder
     */
    public Builder<T> thenFail(Exception failure) {
      otherwise = new Step(Objects.requireNonNull(failure, "failure must not be null"), null, null);
      return this;
    }

    private Builder<T> add(int times, Step step) {
      if (times < 1) {
        throw new IllegalArgumentException("times must be >= 1 (was " + times + ")");
      }
      for (int i = 0; i < times; i++) {
        steps.add(step);
      }
      return this;
    }

    /**
     * Returns the scripted flush function.
     *
     * @return a new flush function at the start of the script
     */
    public ScriptedFlush<T> build() {
      return new ScriptedFlush<>(this);
    }
  }
}
