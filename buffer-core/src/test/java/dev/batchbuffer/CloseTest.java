package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CloseTest {

  @Test
  void closeDrainsThousandsOfPendingItemsInOrder() throws Exception {
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    int n = 50_000;
    Buffer<Integer> buffer = Buffer.start(
        Config.builder(flush).capacity(100).chanSize(n).flushInterval(HOURS).build());
    for (int i = 0; i < n; i++) {
      buffer.add(i);
    }
    buffer.close();
    assertThat(flush.items()).containsExactlyElementsOf(IntStream.range(0, n).boxed().toList());
    assertThat(flush.batches()).allSatisfy(b -> assertThat(b).hasSizeLessThanOrEqualTo(100));
  }

  @Test
  void closeDoesTheFinalFlushOfAPartialBatch() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(100).flushInterval(HOURS).build());
    buffer.add("a");
    buffer.add("b");
    buffer.close();
    assertThat(flush.batches()).containsExactly(List.of("a", "b"));
  }

  @Test
  void closeReturnsOnlyAfterTheLastFlushReturned() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicBoolean flushReturned = new AtomicBoolean();
    FlushFunc<String> flush = batch -> {
      inFlush.countDown();
      release.await();
      flushReturned.set(true);
    };
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(100).flushInterval(HOURS).build());
    buffer.add("a");
    AtomicReference<Thread> closer = new AtomicReference<>();
    CompletableFuture<Void> closing = Async.run(() -> {
      closer.set(Thread.currentThread());
      buffer.close();
    });
    inFlush.await();
    // The closer has reached its wait for the loop (parked), not merely not started yet.
    await().atMost(WAIT).until(() -> {
      Thread t = closer.get();
      return t != null && t.getState() == Thread.State.WAITING;
    });
    assertThat(closing).isNotDone();
    release.countDown();
    closing.get(10, TimeUnit.SECONDS);
    assertThat(flushReturned).isTrue();
  }

  @Test
  void closeIsIdempotent() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).flushInterval(HOURS).build());
    buffer.add("a");
    buffer.close();
    buffer.close();
    assertThat(buffer.isClosed()).isTrue();
    assertThat(flush.batches()).containsExactly(List.of("a"));
  }

  @Test
  void addAfterCloseThrowsAndTheCallerKeepsTheItem() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).build(),
        Options.builder().name("orders").build());
    buffer.close();
    assertThatThrownBy(() -> buffer.add("x")).isInstanceOf(IllegalStateException.class)
        .hasMessage("orders is closed");
    assertThatThrownBy(() -> buffer.offer("x")).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> buffer.offer("x", Duration.ofSeconds(1)))
        .isInstanceOf(IllegalStateException.class);
    assertThat(flush.batches()).isEmpty();
  }

  @Test
  @SuppressWarnings("NullAway") // passing null is the point
  void nullItemIsRejected() throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>()).build())) {
      String nothing = null;
      assertThatThrownBy(() -> buffer.add(nothing)).isInstanceOf(NullPointerException.class)
          .hasMessage("item must not be null");
      assertThatThrownBy(() -> buffer.offer(nothing)).hasMessage("item must not be null");
      assertThatThrownBy(() -> buffer.offer(nothing, WAIT)).hasMessage("item must not be null");
    }
  }

  @RepeatedTest(25)
  void producersRacingCloseEitherGetTheirItemFlushedOrAnException() throws Exception {
    RecordingFlush<Long> flush = new RecordingFlush<>();
    Buffer<Long> buffer = Buffer.start(
        Config.builder(flush).capacity(7).chanSize(16).flushInterval(HOURS).build());
    int producers = 8;
    List<List<Long>> acceptedBy = new ArrayList<>();
    AtomicInteger refused = new AtomicInteger();
    CountDownLatch started = new CountDownLatch(producers);
    Async.Producers threads = new Async.Producers();
    for (int p = 0; p < producers; p++) {
      List<Long> accepted = new ArrayList<>();
      acceptedBy.add(accepted);
      long base = (long) p << 32;
      threads.start("producer-" + p, () -> {
        started.countDown();
        for (long i = 0; ; i++) {
          try {
            buffer.add(base + i);
            accepted.add(base + i);
          } catch (IllegalStateException e) {
            refused.incrementAndGet();
            return;
          }
        }
      });
    }
    started.await();
    await().atMost(WAIT).until(() -> flush.itemCount() > 100);
    buffer.close();
    threads.joinAll(WAIT);
    assertThat(refused).hasValue(producers);
    List<Long> flushed = flush.items();
    List<Long> expected = acceptedBy.stream().flatMap(List::stream).toList();
    assertThat(flushed).hasSameSizeAs(expected);
    assertThat(flushed.stream().sorted().toList()).isEqualTo(expected.stream().sorted().toList());
    // Per-producer order survives.
    java.util.Map<Integer, List<Long>> byProducer = flushed.stream()
        .collect(java.util.stream.Collectors.groupingBy(i -> (int) (i >>> 32)));
    for (int p = 0; p < producers; p++) {
      assertThat(byProducer.getOrDefault(p, List.of())).isEqualTo(acceptedBy.get(p));
    }
  }

  @Test
  void closeFromInsideFlushDoesNotDeadlock() throws Exception {
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      recorder.flush(batch);
      Buffer<Integer> b = self.get();
      if (b != null) {
        b.close();
      }
    };
    Buffer<Integer> buffer = Buffer.start(
        Config.builder(flush).capacity(5).chanSize(100).flushInterval(HOURS).build());
    self.set(buffer);
    for (int i = 0; i < 5; i++) {
      buffer.add(i); // the fifth fills the batch; its flush closes the buffer
    }
    await().atMost(WAIT).until(buffer::isClosed);
    assertThatThrownBy(() -> buffer.add(5)).isInstanceOf(IllegalStateException.class);
    buffer.close(); // from outside: waits for the drain that the inner close started
    assertThat(recorder.items()).containsExactly(0, 1, 2, 3, 4);
  }

  @Test
  void producersBlockedOnAFullChannelAreReleasedByClose() throws Exception {
    StuckFlush<Integer> stuck = new StuckFlush<>();
    ManualTimeSource time = new ManualTimeSource();
    Buffer<Integer> buffer = Buffer.start(
        Config.builder(stuck).capacity(1).chanSize(1).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).build());
    buffer.add(0);
    stuck.awaitStarted(1);
    buffer.add(1);
    CompletableFuture<Throwable> blocked = Async.outcome(() -> buffer.add(2));
    time.awaitWaiters(1, WAIT); // the producer parks on the full channel (the loop is in the flush)
    CompletableFuture<Void> closing = Async.run(buffer::close);
    assertThat(blocked.get(10, TimeUnit.SECONDS)).isInstanceOf(IllegalStateException.class);
    stuck.release();
    assertThat(closing).succeedsWithin(WAIT);
    assertThat(stuck.recorder.items()).containsExactly(0, 1);
  }

  @Test
  void interruptedCloseKeepsWaitingAndRestoresTheInterrupt() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    FlushFunc<String> flush = batch -> {
      inFlush.countDown();
      release.await();
    };
    Buffer<String> buffer = Buffer.start(Config.builder(flush).flushInterval(HOURS).build());
    buffer.add("a");
    AtomicBoolean interruptedAfterClose = new AtomicBoolean();
    AtomicBoolean closedAfterClose = new AtomicBoolean();
    Thread closer = Thread.ofVirtual().start(() -> {
      buffer.close();
      interruptedAfterClose.set(Thread.currentThread().isInterrupted());
      closedAfterClose.set(true);
    });
    inFlush.await();
    closer.interrupt();
    // The interrupt woke the closer; once it is parked again it went on waiting for the loop.
    await().atMost(WAIT).until(() -> !closer.isInterrupted() && closer.getState() == Thread.State.WAITING);
    assertThat(closedAfterClose).isFalse();
    release.countDown();
    closer.join();
    assertThat(interruptedAfterClose).isTrue();
  }

  @Test
  void addFromTheLoopThreadIntoAFullChannelThrowsInsteadOfDeadlocking() throws Exception {
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    List<Throwable> thrown = new java.util.concurrent.CopyOnWriteArrayList<>();
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      recorder.flush(batch);
      Buffer<Integer> b = self.get();
      if (b != null && batch.contains(0)) {
        try {
          for (int i = 0; i < 3; i++) {
            b.add(100 + i); // the third one finds the channel (of 2) full
          }
        } catch (IllegalStateException e) {
          thrown.add(e);
        }
      }
    };
    Buffer<Integer> buffer = Buffer.start(
        Config.builder(flush).capacity(1).chanSize(2).flushInterval(HOURS).build());
    self.set(buffer);
    buffer.add(0);
    await().atMost(WAIT).until(() -> !thrown.isEmpty());
    buffer.close();
    assertThat(thrown.get(0)).hasMessageContaining("deadlock");
    assertThat(recorder.items()).containsExactly(0, 100, 101);
  }

  @Test
  void closeOfAnIdleBufferReturnsPromptly() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).build());
    assertThat(Async.run(buffer::close)).succeedsWithin(WAIT);
    assertThat(buffer.isClosed()).isTrue();
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
    assertThat(flush.batches()).as("an empty batch is never flushed").isEmpty();
  }
}
