package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.RecordingFlush;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts every way an item can leave a buffer, so a test can check the accounting identity:
 * accepted = flushed + handed to onFlushError + handed to onReject.
 */
final class Ledger<T> {
  final RecordingFlush<T> flushed = new RecordingFlush<>();
  final Queue<T> failed = new ConcurrentLinkedQueue<>();
  final Queue<T> rejected = new ConcurrentLinkedQueue<>();
  final AtomicLong accepted = new AtomicLong();

  void onFlushError(Exception e, List<T> batch) {
    failed.addAll(batch);
  }

  void onReject(T item) {
    rejected.add(item);
  }

  /** Asserts the identity at a quiescent point (after close). */
  void assertBalanced() {
    assertThat((long) flushed.itemCount() + failed.size() + rejected.size())
        .as("accepted %d = flushed %d + failed %d + rejected %d", accepted.get(),
            flushed.itemCount(), failed.size(), rejected.size())
        .isEqualTo(accepted.get());
  }
}
