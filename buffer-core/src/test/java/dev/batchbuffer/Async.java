package dev.batchbuffer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;

/**
 * Test helpers run their side tasks on fresh virtual threads, never on the (tiny) common pool, and
 * whatever a side task throws (an {@link AssertionError} too) reaches the test thread: through the
 * future of {@link #call}/{@link #run}, or from {@link Producers#joinAll} for producer threads.
 * Public only so that the tests of other packages ({@code internal}) can use it.
 */
public final class Async {
  /** Starts each task on a new virtual thread. */
  public static final Executor VIRTUAL = task -> Thread.ofVirtual().start(task);

  private Async() {}

  /** Work for a helper thread that may throw. */
  @FunctionalInterface
  public interface Work<V> {
    /**
     * Does the work.
     *
     * @return its result
     * @throws Exception anything; it reaches the test thread
     */
    V call() throws Exception;
  }

  /** An action for a helper thread that may throw. */
  @FunctionalInterface
  public interface Action {
    /**
     * Does the action.
     *
     * @throws Exception anything; it reaches the test thread
     */
    void run() throws Exception;
  }

  /**
   * Runs {@code work} on a new virtual thread; its result or whatever it threw (an AssertionError
   * too) reaches the test thread through the future.
   */
  public static <V> CompletableFuture<V> call(Work<V> work) {
    CompletableFuture<V> result = new CompletableFuture<>();
    Thread.ofVirtual().start(() -> {
      try {
        result.complete(work.call());
      } catch (Throwable t) {
        result.completeExceptionally(t);
      }
    });
    return result;
  }

  /** Runs {@code action} on a new virtual thread; the future completes when it returns or throws. */
  public static CompletableFuture<Void> run(Action action) {
    CompletableFuture<Void> result = new CompletableFuture<>();
    Thread.ofVirtual().start(() -> {
      try {
        action.run();
        result.complete(null);
      } catch (Throwable t) {
        result.completeExceptionally(t);
      }
    });
    return result;
  }

  /**
   * Runs {@code work} on a new virtual thread and completes the future with what it returned or
   * threw, as a value: for a call that is expected to fail.
   */
  public static CompletableFuture<Throwable> outcome(Action action) {
    return call(() -> {
      try {
        action.run();
        return new AssertionError("returned normally; expected it to throw");
      } catch (Throwable t) {
        return t;
      }
    });
  }

  /**
   * Starts a producer on a new virtual thread named {@code name} that adds {@code item}, waiting
   * for room if it must (an interrupt ends the wait and is kept on the thread).
   */
  static <T> Thread adding(String name, Buffer<T> buffer, T item) {
    return Thread.ofVirtual().name(name).start(() -> {
      try {
        buffer.add(item);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
  }

  /**
   * Producer threads whose failures reach the test thread: {@link #joinAll} waits for every one
   * and rethrows what they threw, instead of letting an assertion die with its thread (which would
   * leave the test waiting for its timeout, or passing).
   */
  public static final class Producers {
    private final List<Thread> threads = new ArrayList<>();
    private final List<Throwable> failures = new CopyOnWriteArrayList<>();

    /** Creates an empty group. */
    public Producers() {}

    /** Starts {@code body} on a new virtual thread. */
    public Thread start(String name, Action body) {
      return start(name, true, body);
    }

    /** Starts {@code body} on a new virtual or platform thread. */
    public Thread start(String name, boolean virtual, Action body) {
      Runnable guarded = () -> {
        try {
          body.run();
        } catch (Throwable t) {
          failures.add(new AssertionError(Thread.currentThread().getName() + " failed: " + t, t));
        }
      };
      Thread t = virtual ? Thread.ofVirtual().name(name).start(guarded)
          : Thread.ofPlatform().name(name).daemon().start(guarded);
      threads.add(t);
      return t;
    }

    /**
     * Waits for every producer to end and rethrows the first failure (the others suppressed).
     *
     * @param timeout the longest wait for each thread
     * @throws AssertionError if a producer failed or did not end in time
     */
    public void joinAll(Duration timeout) throws InterruptedException {
      for (Thread t : threads) {
        if (!t.join(timeout)) {
          throw withOthers(new AssertionError(t.getName() + " did not end within " + timeout));
        }
      }
      if (!failures.isEmpty()) {
        AssertionError first = new AssertionError(failures.size()
            + " producer(s) failed; the first: " + failures.get(0).getMessage(), failures.get(0));
        for (int i = 1; i < failures.size(); i++) {
          first.addSuppressed(failures.get(i));
        }
        throw first;
      }
    }

    private AssertionError withOthers(AssertionError error) {
      failures.forEach(error::addSuppressed);
      return error;
    }
  }
}
