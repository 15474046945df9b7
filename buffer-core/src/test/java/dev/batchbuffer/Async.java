package dev.batchbuffer;

import java.util.concurrent.Executor;

/** Test helpers run their side tasks on fresh virtual threads, never on the (tiny) common pool. */
final class Async {
  /** Starts each task on a new virtual thread. */
  static final Executor VIRTUAL = task -> Thread.ofVirtual().start(task);

  private Async() {}
}
