package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A buffer starts its loop thread with its first item, {@code flush()} or close, so that an idle
 * buffer that was never used costs no thread stack; every way in must start it exactly once.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LazyStartTest {

  final ManualTimeSource time = new ManualTimeSource();
  final RecordingFlush<String> flush = new RecordingFlush<>();

  Buffer<String> start() {
    return Buffer.start(Config.builder(flush).capacity(10).chanSize(4)
        .flushInterval(Duration.ofSeconds(1)).build(), Options.builder().timeSource(time).build());
  }

  @Test
  void aBufferThatWasNeverUsedRunsNoLoop() throws Exception {
    // The manual clock sees every park of a loop. The unused buffer is made first: had it started
    // a loop, that loop would be parked on the clock well before the used one's.
    try (Buffer<String> unused = start(); Buffer<String> used = start()) {
      used.add("a");
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
      assertThat(time.waiters()).as("only the used buffer's loop waits").isEqualTo(1);
      assertThat(unused.stats().state()).isEqualTo(BufferStats.State.RUNNING);
      assertThat(unused.stats().accepted()).isZero();
    }
    assertThat(flush.batches()).containsExactly(List.of("a"));
  }

  @Test
  void closeOfANeverUsedBufferRunsTheLoopToTheEnd() {
    AtomicReference<BufferStats> closed = new AtomicReference<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(10).build(),
        Options.<String>builder().listener(new BufferListener<String>() {
          @Override
          public void closed(BufferStats stats) {
            closed.set(stats);
          }
        }).build());
    buffer.close();
    assertThat(closed.get()).as("the listener heard closed before close() returned").isNotNull();
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
    assertThat(flush.batches()).isEmpty();
  }

  @Test
  void timedCloseOfANeverUsedBufferDrains() {
    Buffer<String> buffer = start();
    CloseResult<String> result = buffer.close(Duration.ofSeconds(5));
    assertThat(result.drained()).isTrue();
    assertThat(result.undelivered()).isEmpty();
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }

  @Test
  void flushOfANeverUsedBufferCompletes() throws Exception {
    try (Buffer<String> buffer = start()) {
      assertThat(buffer.flush()).as("flush() with nothing accepted").succeedsWithin(WAIT);
      assertThat(buffer.stats().accepted()).isZero();
    }
    assertThat(flush.batches()).as("nothing to flush, so no call").isEmpty();
  }

  @Test
  void periodicTasksStartTheLoopAtOnce() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(10).build(),
        Options.<String>builder().timeSource(time)
            .periodic(Duration.ofSeconds(1), runs::incrementAndGet).build())) {
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(1));
      await().atMost(WAIT).until(() -> runs.get() >= 1);
      assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.RUNNING);
    }
  }

  @RepeatedTest(20)
  void firstAddsRacingCloseStartTheLoopOnceAndLoseNothing() throws Exception {
    RecordingFlush<String> sink = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(sink).capacity(3).chanSize(2).build());
    int producers = 4;
    CountDownLatch go = new CountDownLatch(1);
    AtomicInteger accepted = new AtomicInteger();
    List<Thread> threads = new ArrayList<>();
    List<Throwable> errors = new CopyOnWriteArrayList<>();
    for (int p = 0; p < producers; p++) {
      String name = "p" + p;
      threads.add(Thread.ofVirtual().start(() -> {
        try {
          go.await();
          for (int i = 0; i < 50; i++) {
            buffer.add(name + "-" + i);
            accepted.incrementAndGet();
          }
        } catch (IllegalStateException closedMeanwhile) {
          // refused: not accepted, so not expected in a flush
        } catch (Throwable t) {
          errors.add(t);
        }
      }));
    }
    Thread closer = Thread.ofVirtual().start(() -> {
      try {
        go.await();
        buffer.close();
      } catch (Throwable t) {
        errors.add(t);
      }
    });
    go.countDown();
    for (Thread t : threads) {
      t.join();
    }
    closer.join();
    buffer.close();
    assertThat(errors).isEmpty();
    assertThat(sink.items()).hasSize(accepted.get());
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }
}
