package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.RecordingFlush;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A flush function stuck in I/O: every call blocks until the test {@linkplain #release releases}
 * it (an interrupt ends the wait with {@link InterruptedException}), then records its batch in
 * {@link #recorder}. A buffer whose loop runs such a flush inline is held, so its channel fills up
 * and stays full: the shared setup of the backpressure, memory-bound and exact-bound tests.
 *
 * <p>Closing it releases it: a test names it after its buffer in a try-with-resources
 * ({@code try (Buffer<T> buffer = start(); stuck)}), so that a failing assertion releases the flush
 * before the buffer's close waits for it, and the test fails at once instead of at its timeout.
 *
 * @param <T> the item type
 */
final class StuckFlush<T> implements FlushFunc<T>, AutoCloseable {
  /** The batches of the calls that were released and returned. */
  final RecordingFlush<T> recorder = new RecordingFlush<>();
  private final CountDownLatch release = new CountDownLatch(1);
  private final AtomicInteger started = new AtomicInteger();

  @Override
  public void flush(List<T> batch) throws Exception {
    started.incrementAndGet();
    release.await();
    recorder.flush(batch);
  }

  /** Waits until at least {@code calls} calls have started (and are stuck, if not released). */
  void awaitStarted(int calls) {
    await(calls + " stuck flush(es) started").atMost(WAIT).until(() -> started.get() >= calls);
  }

  /** Returns how many calls have started. */
  int started() {
    return started.get();
  }

  /** Lets every call, now and later, go on. Idempotent. */
  void release() {
    release.countDown();
  }

  /** Releases it; see {@link #release}. */
  @Override
  public void close() {
    release();
  }
}
