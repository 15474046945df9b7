package dev.batchbuffer.internal;

import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What the flush function of a result buffer answered for each item of one flush: a value, or the
 * item's own failure. One per flush, made by the first call of the flush function in it; calls
 * after it (a retry of the failed items, the abandoned call of a timeout) answer the same positions.
 * Written by whichever threads run the flush function, read by the loop when it settles the flush,
 * after {@link #seal()}: later answers (from an abandoned call still running) are ignored.
 * Thread-safe.
 *
 * <p>A success is final: a later failure of the same position (an abandoned attempt ending late)
 * does not undo it, and a later success does not replace its value.
 */
public final class Answers {
  // A position with neither (0) has no answer yet.
  private static final byte OK = 1;
  private static final byte FAILED = 2;

  private final List<?> batch;
  private final @Nullable Object[] values;
  private final @Nullable Throwable[] errors;
  private final byte[] state;
  private boolean sealed;

  Answers(List<?> batch) {
    this.batch = batch;
    int n = batch.size();
    this.values = new Object[n];
    this.errors = new Throwable[n];
    this.state = new byte[n];
  }

  /**
   * Finds the position in the flush's batch of each item of one call of the flush function. A
   * call's list is the whole batch, or (from a retry) some of its items not yet answered with
   * success, in batch order; items are matched by identity, in order, so that an object added
   * twice keeps its two positions apart.
   *
   * @param call the list the flush function received
   * @return the position of each of its items in the batch
   * @throws IllegalStateException if an item of the call is not an item of the batch still waiting
   *     for a success (a middleware that made up items or sent one twice)
   */
  @SuppressWarnings("ReferenceEquality") // items are matched by identity, on purpose
  public synchronized int[] positionsOf(List<?> call) {
    int n = batch.size();
    int m = call.size();
    int[] at = new int[m];
    if (call == batch) {
      for (int i = 0; i < m; i++) {
        at[i] = i;
      }
      return at;
    }
    boolean[] taken = new boolean[n];
    int cursor = 0;
    for (int i = 0; i < m; i++) {
      Object item = call.get(i);
      int p = find(item, cursor, n, taken);
      if (p < 0) {
        p = find(item, 0, cursor, taken); // out of batch order: a middleware reordered its items
      }
      if (p < 0) {
        throw new IllegalStateException("the flush function received an item that is not one of "
            + "its batch's items waiting for an answer (a middleware made it up, or sent it twice): "
            + Dispatcher.describe(Objects.requireNonNull(item)));
      }
      taken[p] = true;
      at[i] = p;
      cursor = p + 1;
    }
    return at;
  }

  @SuppressWarnings("ReferenceEquality") // an item added twice has two positions
  private int find(@Nullable Object item, int from, int to, boolean[] taken) {
    for (int p = from; p < to; p++) {
      if (!taken[p] && state[p] != OK && batch.get(p) == item) {
        return p;
      }
    }
    return -1;
  }

  /**
   * Records a success, unless the position already succeeded or the flush was settled.
   *
   * @param position the item's position in the batch
   * @param value its answer
   */
  public synchronized void succeed(int position, @Nullable Object value) {
    if (!sealed && state[position] != OK) {
      state[position] = OK;
      values[position] = value;
      errors[position] = null;
    }
  }

  /**
   * Records a failure, unless the position already succeeded or the flush was settled.
   *
   * @param position the item's position in the batch
   * @param cause why the item failed
   */
  public synchronized void fail(int position, Throwable cause) {
    if (!sealed && state[position] != OK) {
      state[position] = FAILED;
      errors[position] = cause;
    }
  }

  /** Freezes the answers: the loop settles the flush with them. */
  synchronized void seal() {
    sealed = true;
  }

  /**
   * Returns the positions without a success, ascending; an empty array when every item succeeded.
   * After {@link #seal()}.
   */
  synchronized int[] unanswered() {
    int k = 0;
    for (byte b : state) {
      if (b != OK) {
        k++;
      }
    }
    int[] out = new int[k];
    int j = 0;
    for (int p = 0; p < state.length; p++) {
      if (state[p] != OK) {
        out[j++] = p;
      }
    }
    return out;
  }

  /** The value of a position that succeeded (null otherwise). After {@link #seal()}. */
  synchronized @Nullable Object value(int position) {
    return values[position];
  }

  /** The item's own failure, or null if it has none (it failed with its whole call). */
  synchronized @Nullable Throwable error(int position) {
    return errors[position];
  }
}
