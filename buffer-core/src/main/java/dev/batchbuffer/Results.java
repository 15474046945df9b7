package dev.batchbuffer;

import dev.batchbuffer.internal.Answers;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The answers of one call of a {@link ResultFlushFunc} (or {@link AsyncResultFlushFunc}): one per
 * item of the batch it received, by index. Each item is answered at most once, with a value
 * ({@link #succeed}, {@link #succeedAll}) or a failure of its own ({@link #fail}); the answers take
 * effect when the call returns normally (for the asynchronous form, when its stage completes
 * normally), and are discarded if it throws. Thread-safe: the asynchronous form may answer from
 * any thread.
 *
 * @param <R> the type of an item's answer
 */
public final class Results<R extends @Nullable Object> {
  private static final byte NONE = 0;
  private static final byte OK = 1;
  private static final byte FAILED = 2;

  private final Answers answers;
  /** The position in the flush's whole batch of each item of this call. */
  private final int[] positions;
  private final @Nullable Object[] values;
  private final @Nullable Exception[] errors;
  private final byte[] given;
  private boolean done;

  Results(Answers answers, int[] positions) {
    this.answers = answers;
    this.positions = positions;
    this.values = new Object[positions.length];
    this.errors = new Exception[positions.length];
    this.given = new byte[positions.length];
  }

  /**
   * Returns the number of items to answer: the size of the call's batch.
   *
   * @return the number of items
   */
  public int size() {
    return positions.length;
  }

  /**
   * Answers item {@code index} with success: its future completes with {@code value}.
   *
   * @param index the item's index in the batch
   * @param value its answer
   * @throws IndexOutOfBoundsException if {@code index} is outside the batch
   * @throws IllegalStateException if the item was already answered, or the call has ended
   */
  public synchronized void succeed(int index, R value) {
    check(index);
    given[index] = OK;
    values[index] = value;
  }

  /**
   * Answers item {@code index} with failure: its future fails with a {@link DeliveryException}
   * whose cause is {@code cause}; with {@link FlushMiddleware#retry}, the item is retried.
   *
   * @param index the item's index in the batch
   * @param cause why this item failed
   * @throws NullPointerException if {@code cause} is null
   * @throws IndexOutOfBoundsException if {@code index} is outside the batch
   * @throws IllegalStateException if the item was already answered, or the call has ended
   */
  public synchronized void fail(int index, Exception cause) {
    Objects.requireNonNull(cause, "cause must not be null");
    check(index);
    given[index] = FAILED;
    errors[index] = cause;
  }

  /**
   * Answers every item with success: {@code values.get(i)} is the answer of item {@code i}.
   *
   * @param values one answer per item, in batch order
   * @throws NullPointerException if {@code values} is null
   * @throws IllegalArgumentException if {@code values} does not hold exactly one answer per item
   *     (nothing is answered: results are never shifted between items)
   * @throws IllegalStateException if an item was already answered, or the call has ended
   */
  public synchronized void succeedAll(List<? extends R> values) {
    Objects.requireNonNull(values, "values must not be null");
    if (values.size() != positions.length) {
      throw new IllegalArgumentException("values must hold one answer per item of the batch, in "
          + "batch order: got " + values.size() + " for a batch of " + positions.length);
    }
    List<? extends R> copy = new ArrayList<>(values); // one read of a list that may change
    if (copy.size() != positions.length) {
      throw new IllegalArgumentException("values changed size while being read (was "
          + copy.size() + ", batch of " + positions.length + ")");
    }
    for (int i = 0; i < positions.length; i++) {
      check(i);
    }
    for (int i = 0; i < positions.length; i++) {
      given[i] = OK;
      this.values[i] = copy.get(i);
    }
  }

  private void check(int index) {
    Objects.checkIndex(index, positions.length);
    if (done) {
      throw new IllegalStateException("the flush call has ended: answer item " + index
          + " before it returns (or before its stage completes)");
    }
    if (given[index] != NONE) {
      throw new IllegalStateException("item " + index + " of the batch was already answered");
    }
  }

  /**
   * Makes the answers take effect: the call returned normally. An unanswered item fails.
   *
   * @return the failure to throw for the items that failed (so that a retry sends only them), or
   *     null if every item succeeded
   */
  synchronized @Nullable PartialFlushException commit() {
    if (done) { // discarded (the call failed, or close(timeout) gave it up): nothing takes effect
      return null;
    }
    done = true;
    List<Integer> failed = new ArrayList<>();
    Exception first = null;
    for (int i = 0; i < positions.length; i++) {
      if (given[i] == OK) {
        answers.succeed(positions[i], values[i]);
        continue;
      }
      Exception e = errors[i];
      if (e == null) {
        e = new IllegalStateException("the flush function returned without answering item " + i
            + " of its batch of " + positions.length);
      }
      answers.fail(positions[i], e);
      failed.add(i);
      if (first == null) {
        first = e;
      }
    }
    return failed.isEmpty() ? null : new PartialFlushException(failed, first);
  }

  /**
   * Discards the answers: the call failed as a whole, or was given up. Later answers are refused.
   *
   * @param cause why the call failed, which becomes the latest failure of each of its items (one
   *     answered with success by an earlier call keeps it); null when close(timeout) gave it up
   */
  synchronized void discard(@Nullable Throwable cause) {
    done = true;
    if (cause != null) {
      for (int position : positions) {
        answers.fail(position, cause);
      }
    }
  }
}
