package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The channel bound is exact: while the loop is held, exactly {@code chanSize} more items are
 * accepted, no fewer and no more. The loop publishes the slots it emptied lazily (every few polls,
 * and before anything slow), so each way the loop can be held is checked on its own: an inline
 * flush, a wait for a flush slot ({@code maxInFlight > 1}), a {@code flush()} request waiting for
 * the running flushes, and {@code onReject}. Channel sizes below 16 publish on every poll; 16, 64
 * and 200 publish every 2, 8 and 25 polls.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ExactBoundTest {

  final StuckFlush<String> stuck = new StuckFlush<>();
  final RecordingFlush<String> recorder = stuck.recorder;
  final CountDownLatch release = new CountDownLatch(1); // for the blocked callbacks other than flush

  /** Offers until the first refusal; returns how many were accepted. */
  static int fill(Buffer<String> buffer, String prefix, int atMost) {
    int n = 0;
    while (n < atMost && buffer.offer(prefix + n)) {
      n++;
    }
    return n;
  }

  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 64, 200})
  void aBlockedInlineFlushLeavesExactlyChanSizeSlots(int chanSize) throws Exception {
    int flushesToStart = 1;
    Buffer<String> buffer = Buffer.start(Config.builder(stuck).capacity(1)
        .chanSize(chanSize).flushInterval(HOURS).build());
    try {
      buffer.add("held");
      stuck.awaitStarted(flushesToStart);
      assertThat(fill(buffer, "x", chanSize + 5)).isEqualTo(chanSize);
      assertThat(buffer.itemsInChannel()).isEqualTo(chanSize);
    } finally {
      stuck.release();
      release.countDown();
      buffer.close();
    }
    assertThat(recorder.items()).hasSize(chanSize + 1).startsWith("held");
  }

  /** Capacity 1 and two flushes running: the third batch makes the loop wait for a slot. */
  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {1, 2, 7, 8, 16, 64, 200})
  void aLoopWaitingForAFlushSlotLeavesExactlyChanSizeSlots(int chanSize) throws Exception {
    int flushesToStart = 2;
    Buffer<String> buffer = Buffer.start(Config.builder(stuck).capacity(1)
        .chanSize(chanSize).flushInterval(HOURS).build(),
        Options.<String>builder().maxInFlight(2).build());
    try {
      buffer.add("a");
      buffer.add("b");
      stuck.awaitStarted(flushesToStart);
      buffer.add("c"); // taken by the loop, which then waits for a slot with it
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0);
      assertThat(fill(buffer, "x", chanSize + 5)).isEqualTo(chanSize);
    } finally {
      stuck.release();
      release.countDown();
      buffer.close();
    }
    assertThat(recorder.items()).hasSize(chanSize + 3);
  }

  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {1, 3, 8, 16, 64})
  void aKeyedBufferWithABlockedFlushLeavesExactlyChanSizeSlots(int chanSize) throws Exception {
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            s -> s.substring(0, 1), (key, batch) -> stuck.flush(batch))
        .policy(FlushPolicy.count(1)).chanSize(chanSize).flushInterval(HOURS).start();
    try {
      buffer.add("held");
      stuck.awaitStarted(1);
      int n = 0;
      while (n < chanSize + 5 && buffer.offer("k" + n)) {
        n++;
      }
      assertThat(n).isEqualTo(chanSize);
    } finally {
      stuck.release();
      release.countDown();
      buffer.close();
    }
    assertThat(recorder.items()).hasSize(chanSize + 1);
  }

  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {1, 4, 16, 64})
  void aMemoryBoundBufferWithABlockedFlushLeavesExactlyChanSizeSlots(int chanSize)
      throws Exception {
    int flushesToStart = 1;
    Buffer<String> buffer = Buffer.start(Config.builder(stuck).capacity(1)
        .chanSize(chanSize).flushInterval(HOURS).build(),
        Options.<String>builder().maxBufferedBytes(s -> 1, 1_000).build());
    try {
      buffer.add("held");
      stuck.awaitStarted(flushesToStart);
      assertThat(fill(buffer, "x", chanSize + 5)).isEqualTo(chanSize);
    } finally {
      stuck.release();
      release.countDown();
      buffer.close();
    }
    assertThat(recorder.items()).hasSize(chanSize + 1);
  }

  /**
   * A {@code flush()} request with nothing left to flush waits for the running flushes
   * ({@code maxInFlight > 1}); the request's own slot was emptied and must be free meanwhile.
   */
  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {1, 8, 16, 64, 200})
  void aFlushRequestWaitingForRunningFlushesLeavesExactlyChanSizeSlots(int chanSize)
      throws Exception {
    int flushesToStart = 2;
    Buffer<String> buffer = Buffer.start(Config.builder(stuck).capacity(1)
        .chanSize(chanSize).flushInterval(HOURS).build(),
        Options.<String>builder().maxInFlight(2).build());
    CompletableFuture<Void> request;
    try {
      buffer.add("a");
      buffer.add("b");
      stuck.awaitStarted(flushesToStart);
      request = buffer.flush(); // taken at once; completes when a and b are settled
      await("the loop took the flush() request and freed its slot").atMost(WAIT)
          .until(() -> buffer.itemsInChannel() == 0);
      assertThat(fill(buffer, "x", chanSize + 5)).isEqualTo(chanSize);
      assertThat(request).isNotDone();
    } finally {
      stuck.release();
      release.countDown();
      buffer.close();
    }
    assertThat(request).isCompleted();
    assertThat(recorder.items()).hasSize(chanSize + 2);
  }

  /**
   * onReject runs after the loop took the refused item: its slot is free, so an onReject that
   * puts a replacement back with {@code offer} finds room even when producers filled the channel.
   */
  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {1, 2, 8, 16, 64})
  void aRefusedItemsSlotIsFreeWhenOnRejectRuns(int chanSize) throws Exception {
    int flushesToStart = 1;
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    List<Boolean> replaced = new CopyOnWriteArrayList<>();
    Buffer<String> buffer = Buffer.start(Config.builder(stuck).capacity(1)
        .chanSize(chanSize).flushInterval(HOURS)
        .canAdd((batch, item) -> !item.equals("big"))
        .onReject(item -> replaced.add(self.get().offer("small")))
        .build());
    self.set(buffer);
    try {
      buffer.add("held");
      stuck.awaitStarted(flushesToStart);
      buffer.add("big");
      assertThat(fill(buffer, "x", chanSize - 1)).isEqualTo(chanSize - 1); // full now
      assertThat(buffer.offer("y")).isFalse();
      stuck.release();
      await().atMost(WAIT).until(() -> replaced.size() == 1);
      assertThat(replaced).as("the replacement offered from onReject").containsExactly(true);
    } finally {
      stuck.release();
      release.countDown();
      buffer.close();
    }
    assertThat(recorder.items()).contains("small").doesNotContain("big");
  }

  /**
   * While a per-item policy callback (canAdd, willOverflow, shouldFlush, a weigher, a key
   * function) blocks, the slots the loop already emptied are free: the loop publishes them before
   * it calls user code.
   */
  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {16, 64, 200})
  void aBlockedCanAddLeavesExactlyChanSizeSlots(int chanSize) throws Exception {
    CountDownLatch inCanAdd = new CountDownLatch(1);
    Buffer<String> buffer = Buffer.start(Config.builder(recorder).capacity(1000)
        .chanSize(chanSize).flushInterval(HOURS)
        .canAdd((batch, item) -> {
          if (item.equals("slow")) {
            inCanAdd.countDown();
            try {
              release.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }
          return true;
        }).build());
    try {
      buffer.add("slow");
      assertThat(inCanAdd.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(fill(buffer, "x", chanSize + 5)).isEqualTo(chanSize);
    } finally {
      stuck.release();
      release.countDown();
      buffer.close();
    }
  }

  /** Many producers against a held loop: together they get exactly chanSize slots. */
  @ParameterizedTest(name = "chanSize {0}")
  @ValueSource(ints = {1, 5, 16, 64})
  void racingProducersAgainstABlockedFlushGetExactlyChanSizeSlots(int chanSize)
      throws Exception {
    int flushesToStart = 1;
    Buffer<String> buffer = Buffer.start(Config.builder(stuck).capacity(1)
        .chanSize(chanSize).flushInterval(HOURS).build());
    List<String> accepted = new CopyOnWriteArrayList<>();
    try {
      buffer.add("held");
      stuck.awaitStarted(flushesToStart);
      CountDownLatch go = new CountDownLatch(1);
      Async.Producers threads = new Async.Producers();
      for (int p = 0; p < 4; p++) {
        String name = "p" + p;
        threads.start(name, () -> {
          go.await();
          for (int i = 0; i < chanSize + 2; i++) {
            if (buffer.offer(name + "-" + i)) {
              accepted.add(name + "-" + i);
            }
          }
        });
      }
      go.countDown();
      threads.joinAll(WAIT);
      assertThat(accepted).hasSize(chanSize);
    } finally {
      stuck.release();
      release.countDown();
      buffer.close();
    }
    assertThat(Set.copyOf(recorder.items())).containsAll(accepted).hasSize(chanSize + 1);
  }
}
