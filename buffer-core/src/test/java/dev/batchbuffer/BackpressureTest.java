package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
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
  final StuckFlush<Integer> stuck = new StuckFlush<>();
  final RecordingFlush<Integer> recorder = stuck.recorder;
  final ManualTimeSource time = new ManualTimeSource();

  /** capacity 1, chanSize 2: item 0 is held in a stuck flush, items 1 and 2 fill the channel. */
  Buffer<Integer> startStuck() throws InterruptedException {
    Buffer<Integer> buffer = Buffer.start(
        Config.builder(stuck).capacity(1).chanSize(2).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).build());
    buffer.add(0);
    stuck.awaitStarted(1);
    buffer.add(1);
    buffer.add(2);
    assertThat(buffer.itemsInChannel()).isEqualTo(2);
    return buffer;
  }

  @Test
  void offerReturnsFalseWhenTheChannelIsFull() throws Exception {
    try (Buffer<Integer> buffer = startStuck(); stuck) {
      assertThat(buffer.offer(3)).isFalse();
      stuck.release();
      assertThat(recorder.awaitItems(3, WAIT)).containsExactly(0, 1, 2);
      await().atMost(WAIT).until(() -> buffer.offer(3));
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2, 3);
  }

  @Test
  void addBlocksWhileTheChannelIsFullAndProceedsWhenItDrains() throws Exception {
    try (Buffer<Integer> buffer = startStuck(); stuck) {
      CompletableFuture<Void> adder = Async.run(() -> buffer.add(3));
      time.awaitWaiters(1, WAIT); // the adder parks (the loop is in the flush, not on the clock)
      assertThat(adder).isNotDone();
      stuck.release();
      adder.get(10, TimeUnit.SECONDS);
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2, 3);
  }

  @Test
  void offerWithTimeoutGivesUpWhenTheTimeoutPasses() throws Exception {
    try (Buffer<Integer> buffer = startStuck(); stuck) {
      CompletableFuture<Boolean> offered = Async.call(() -> buffer.offer(3, Duration.ofSeconds(2)));
      time.awaitTimedWaiters(1, WAIT);
      time.advance(Duration.ofSeconds(1));
      time.awaitTimedWaiters(1, WAIT); // woken by the advance, the offer re-checked and waits again
      assertThat(offered).isNotDone();
      time.advance(Duration.ofSeconds(1));
      assertThat(offered.get(10, TimeUnit.SECONDS)).isFalse();
      stuck.release();
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2);
  }

  @Test
  void offerWithTimeoutSucceedsWhenRoomAppearsInTime() throws Exception {
    try (Buffer<Integer> buffer = startStuck(); stuck) {
      CompletableFuture<Boolean> offered = Async.call(() -> buffer.offer(3, Duration.ofSeconds(2)));
      time.awaitTimedWaiters(1, WAIT);
      stuck.release();
      assertThat(offered.get(10, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2, 3);
  }

  @Test
  void offerWithZeroTimeoutDoesNotWait() throws Exception {
    try (Buffer<Integer> buffer = startStuck(); stuck) {
      assertThat(buffer.offer(3, Duration.ZERO)).isFalse();
      assertThat(buffer.offer(3, Duration.ofSeconds(-1))).isFalse();
      stuck.release();
    }
  }

  @Test
  void interruptedAddLeavesTheItemOutAndClearsTheStatus() throws Exception {
    try (Buffer<Integer> buffer = startStuck(); stuck) {
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
      time.awaitWaiters(1, WAIT);
      adder.interrupt();
      adder.join();
      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
      assertThat(stillInterrupted).isFalse();
      stuck.release();
    }
    assertThat(recorder.items()).containsExactly(0, 1, 2).doesNotContain(99);
  }

  @Test
  void interruptedTimedOfferLeavesTheItemOut() throws Exception {
    try (Buffer<Integer> buffer = startStuck(); stuck) {
      AtomicReference<Throwable> thrown = new AtomicReference<>();
      Thread adder = Thread.ofVirtual().start(() -> {
        try {
          buffer.offer(99, Duration.ofHours(1));
        } catch (Throwable t) {
          thrown.set(t);
        }
      });
      time.awaitTimedWaiters(1, WAIT);
      adder.interrupt();
      adder.join();
      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
      stuck.release();
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
    try (Buffer<Integer> buffer = startStuck(); stuck) {
      assertThat(buffer.itemsInChannel()).isEqualTo(2);
      stuck.release();
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
