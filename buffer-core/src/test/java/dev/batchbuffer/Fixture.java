package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.awaitility.core.ConditionFactory;

/**
 * What the fast per-class tests of the loop and the engine share: a recorder of every flush with
 * its reason and key, latches that a failing test releases, and closes bounded by
 * {@link TestConstants#WAIT}: a mutant (or a defect) that keeps a buffer from ending makes the
 * test fail in that time instead of hanging it.
 */
final class Fixture {
  private final List<AutoCloseable> resources = new ArrayList<>();
  private final List<CountDownLatch> latches = new ArrayList<>();

  /** Registers a buffer to close (bounded) after the test, after the latches are released. */
  <C extends AutoCloseable> C closeLater(C buffer) {
    resources.add(buffer);
    return buffer;
  }

  /** A latch of one count that the end of the test releases, whatever happened. */
  CountDownLatch latch() {
    CountDownLatch latch = new CountDownLatch(1);
    latches.add(latch);
    return latch;
  }

  /** Releases every latch, then closes every buffer, each within WAIT. */
  void releaseAndClose() throws Exception {
    latches.forEach(CountDownLatch::countDown);
    for (AutoCloseable c : resources) {
      closeWithin(c);
    }
  }

  /** Closes {@code buffer} on another thread and waits at most WAIT for the close to return. */
  static void closeWithin(AutoCloseable buffer) throws Exception {
    Async.run(buffer::close).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * An Awaitility wait of at most WAIT that looks every millisecond, from the start. It leaves
   * uncaught exceptions of other threads alone: a buffer's loop thread that caught a fatal error
   * ends by rethrowing it, which is not a failure of whichever test is waiting then.
   */
  static ConditionFactory soon() {
    return await().atMost(WAIT).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1))
        .dontCatchUncaughtExceptions();
  }

  /** Awaits {@code latch} at most WAIT; fails if it did not open. */
  static void awaitOpen(CountDownLatch latch) throws InterruptedException {
    if (!latch.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("latch not released within " + WAIT);
    }
  }

  /**
   * Records each flush as {@code "REASON key=[items]"} (the key only for a keyed buffer), in the
   * order the flushes settle: its flush functions keep the batch, its listener adds the reason.
   * Meant for one flush at a time (or flushes that settle in the order they ran).
   */
  static final class Recorder implements BufferListener<Object> {
    final List<String> flushes = new CopyOnWriteArrayList<>();
    private final Queue<List<String>> batches = new ConcurrentLinkedQueue<>();
    final FlushFunc<String> flush = batch -> batches.add(List.copyOf(batch));
    final KeyedFlushFunc<String, String> keyed = (key, batch) -> batches.add(List.copyOf(batch));

    @Override
    public void flushed(FlushInfo info) {
      flushes.add(info.reason() + " " + (info.key() == null ? "" : info.key() + "=")
          + batches.poll());
    }

    @Override
    public void flushFailed(FlushInfo info, Throwable error) {
      flushes.add("FAILED " + info.reason() + " " + (info.key() == null ? "" : info.key() + "=")
          + batches.poll());
    }

    /** Waits until at least {@code n} flushes were recorded and returns them all. */
    List<String> awaitFlushes(int n) {
      soon().until(() -> flushes.size() >= n);
      return List.copyOf(flushes);
    }
  }
}
