package dev.batchbuffer.testing;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** A lock with one condition, and a bounded wait on it that fails with a message: the test kit's recorders share it. */
final class Monitor {
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();

  /** Runs {@code action} under the lock and wakes every waiter. */
  void update(Runnable action) {
    lock.lock();
    try {
      action.run();
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Returns {@code read} computed under the lock. */
  <R> R read(Supplier<R> read) {
    lock.lock();
    try {
      return read.get();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits until {@code done} holds (checked under the lock), or fails after {@code timeout}.
   *
   * @param done the condition
   * @param expected what the test waits for, for the message
   * @param actual what has arrived, for the message
   * @param timeout the longest wait, in real time
   */
  void await(BooleanSupplier done, String expected, Supplier<String> actual, Duration timeout)
      throws InterruptedException {
    Objects.requireNonNull(timeout, "timeout must not be null");
    long remaining = timeout.toNanos();
    lock.lock();
    try {
      while (!done.getAsBoolean()) {
        if (remaining <= 0) {
          throw new AssertionError("expected " + expected + " within " + timeout + " but got "
              + actual.get());
        }
        remaining = changed.awaitNanos(remaining);
      }
    } finally {
      lock.unlock();
    }
  }
}
