package dev.batchbuffer.examples.bench;

/** Waiting at a contender's close, whatever interrupts the closing thread. */
final class Joins {
  /** A wait that an interrupt can cut short. */
  @FunctionalInterface
  interface Wait {
    void await() throws InterruptedException;
  }

  private Joins() {}

  /**
   * Waits until {@code wait} returns normally; an interrupt meanwhile is kept for the caller, not
   * obeyed.
   *
   * @param wait the wait, repeated after each interrupt
   */
  static void uninterruptibly(Wait wait) {
    boolean interrupted = false;
    while (true) {
      try {
        wait.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Waits for {@code thread} to end, as {@link #uninterruptibly} does.
   *
   * @param thread the thread to wait for
   */
  static void joinUninterruptibly(Thread thread) {
    uninterruptibly(thread::join);
  }
}
