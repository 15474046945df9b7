package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The channel bound: a flush that waits on a latch holds the loop, so the channel fills up and stays
 * full until the test releases it.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BackpressureTest {
  static final Duration WAIT = Duration.ofSeconds(10);

  final CountDownLatch release = new CountDownLatch(1);
  final CountDownLatch flushing = new CountDownLatch(1);
  final RecordingFlush<Integer> recorder = new RecordingFlush<>();
  final ManualTimeSource time = new ManualTimeSource();

  /** capacity 1, chanSize 2: item 0 is held in a stuck flush, items 1 and 2 fill the channel. */
  Buffer<Integer> startStuck() throws InterruptedException {
    FlushFunc<Integer> flush = batch -> {
      flushing.countDown();
      release.await();
      recorder.flush(batch);
    };
    Buffer<Integer> buffer = Buffer.start(
        Config.builder(flush).capacity(1).chanSize(2).flushInterval(Duration.ofHours(1)).build(),
        Options.builder().timeSource(time).build());
    buffer.add(0);
    flushing.await();
    buffer.add(1);
    buffer.add(2);
    assertThat(buffer.itemsInChannel()).isEqualTo(2);
    return buffer;
  }

  @Test
  void offerReturnsFalseWhenTheChannelIsFull() throws Exception {
    try (Buffer<Integer> buffer = startStuck()) {
      assertThat(buffer.offer(3)).isFalse();
      release.countDown();
      assertThat(recorder.awaitItems(3, WAIT)).containsExactly(0, 1, 2);
      await().atMost(WAIT).until(() -> buffer.offer(3));
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2, 3);
  }

  @Test
  void addBlocksWhileTheChannelIsFullAndProceedsWhenItDrains() throws Exception {
    try (Buffer<Integer> buffer = startStuck()) {
      CompletableFuture<Void> adder = CompletableFuture.runAsync(() -> {
        try {
          buffer.add(3);
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      }, Async.VIRTUAL);
      await().atMost(WAIT).until(() -> time.waiters() >= 1);
      assertThat(adder).isNotDone();
      release.countDown();
      adder.get(10, TimeUnit.SECONDS);
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2, 3);
  }

  @Test
  void offerWithTimeoutGivesUpWhenTheTimeoutPasses() throws Exception {
    try (Buffer<Integer> buffer = startStuck()) {
      CompletableFuture<Boolean> offered = CompletableFuture.supplyAsync(() -> {
        try {
          return buffer.offer(3, Duration.ofSeconds(2));
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      }, Async.VIRTUAL);
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(1));
      assertThat(offered).isNotDone();
      time.advance(Duration.ofSeconds(1));
      assertThat(offered.get(10, TimeUnit.SECONDS)).isFalse();
      release.countDown();
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2);
  }

  @Test
  void offerWithTimeoutSucceedsWhenRoomAppearsInTime() throws Exception {
    try (Buffer<Integer> buffer = startStuck()) {
      CompletableFuture<Boolean> offered = CompletableFuture.supplyAsync(() -> {
        try {
          return buffer.offer(3, Duration.ofSeconds(2));
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      }, Async.VIRTUAL);
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
      release.countDown();
      assertThat(offered.get(10, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2, 3);
  }

  @Test
  void offerWithZeroTimeoutDoesNotWait() throws Exception {
    try (Buffer<Integer> buffer = startStuck()) {
      assertThat(buffer.offer(3, Duration.ZERO)).isFalse();
      assertThat(buffer.offer(3, Duration.ofSeconds(-1))).isFalse();
      release.countDown();
    }
  }

  @Test
  void interruptedAddLeavesTheItemOutAndClearsTheStatus() throws Exception {
    try (Buffer<Integer> buffer = startStuck()) {
      AtomicReference<Throwable> thrown = new AtomicReference<>();
      AtomicBoolean stillInterrupted = new AtomicBoolean(true);
      Thread adder = Thread.ofVirtual().start(() -> {
        try {
          buffer.add(99);
        } catch (Throwable t) {
          thrown.set(t);
          stillInterrupted.set(Thread.currentThread().isInterrupted());
        }
      });
      await().atMost(WAIT).until(() -> time.waiters() >= 1);
      adder.interrupt();
      adder.join();
      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
      assertThat(stillInterrupted).isFalse();
      release.countDown();
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2).doesNotContain(99);
  }

  @Test
  void interruptedTimedOfferLeavesTheItemOut() throws Exception {
    try (Buffer<Integer> buffer = startStuck()) {
      AtomicReference<Throwable> thrown = new AtomicReference<>();
      Thread adder = Thread.ofVirtual().start(() -> {
        try {
          buffer.offer(99, Duration.ofHours(1));
        } catch (Throwable t) {
          thrown.set(t);
        }
      });
      await().atMost(WAIT).until(() -> time.timedWaiters() >= 1);
      adder.interrupt();
      adder.join();
      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
      release.countDown();
    }
    assertThat(recorder.items()).doesNotContain(99);
  }

  @Test
  void addOnAnInterruptedThreadThrowsAtOnce() throws Exception {
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(recorder).build())) {
      Thread.currentThread().interrupt();
      assertThatThrownBy(() -> buffer.add(1)).isInstanceOf(InterruptedException.class);
      assertThat(Thread.interrupted()).as("status cleared, as the JDK's blocking queues do").isFalse();
      Thread.currentThread().interrupt();
      assertThatThrownBy(() -> buffer.offer(1, Duration.ofSeconds(1)))
          .isInstanceOf(InterruptedException.class);
      Thread.currentThread().interrupt();
      assertThat(buffer.offer(2)).as("offer(item) never waits, so it ignores interrupts").isTrue();
      assertThat(Thread.interrupted()).isTrue();
    }
    assertThat(recorder.items()).containsExactly(2);
  }

  @Test
  void itemsInChannelCountsWaitingItems() throws Exception {
    try (Buffer<Integer> buffer = startStuck()) {
      assertThat(buffer.itemsInChannel()).isEqualTo(2);
      release.countDown();
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0);
    }
    assertThat(recorder.items()).isEqualTo(List.of(0, 1, 2));
  }

  @Test
  void manyBlockedProducersAllGetThrough() throws Exception {
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    int producers = 50;
    int each = 200;
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(3).chanSize(4).build())) {
      List<java.util.concurrent.Future<?>> done = new java.util.ArrayList<>();
      try (var executor = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
        for (int p = 0; p < producers; p++) {
          int base = p * each;
          done.add(executor.submit(() -> {
            for (int i = 0; i < each; i++) {
              buffer.add(base + i);
            }
            return null;
          }));
        }
      }
      for (var f : done) {
        f.get();
      }
    }
    assertThat(flush.items()).hasSize(producers * each).doesNotHaveDuplicates();
  }
}
