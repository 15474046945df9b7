package dev.batchbuffer;

import java.util.concurrent.Executor;

/** Test helpers run their side tasks on fresh virtual threads, never on the (tiny) common pool. */
final class Async {
  /** Starts each task on a new virtual thread. */
  static final Executor VIRTUAL = task -> Thread.ofVirtual().start(task);

  private Async() {}

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
}
