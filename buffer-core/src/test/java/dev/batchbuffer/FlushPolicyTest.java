package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The per-item contract: willOverflow, canAdd/onReject, append, shouldFlush. Count triggers only. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FlushPolicyTest {

  @Test
  void countFlushHandsOverFullBatches() throws Exception {
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(3).flushInterval(HOURS).build())) {
      for (int i = 0; i < 7; i++) {
        buffer.add(i);
      }
      assertThat(flush.awaitBatches(2, WAIT)).containsExactly(List.of(0, 1, 2), List.of(3, 4, 5));
    }
    assertThat(flush.batches()).containsExactly(List.of(0, 1, 2), List.of(3, 4, 5), List.of(6));
  }

  @Test
  void customShouldFlushDecidesWhenToFlush() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).capacity(1000).flushInterval(HOURS)
        .shouldFlush(batch -> batch.get(batch.size() - 1).equals("end")).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String s : List.of("a", "b", "end", "c", "end")) {
        buffer.add(s);
      }
      assertThat(flush.awaitBatches(2, WAIT))
          .containsExactly(List.of("a", "b", "end"), List.of("c", "end"));
    }
  }

  @Test
  void customShouldFlushIgnoresCapacity() throws Exception {
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    Config<Integer> config = Config.builder(flush).capacity(2).flushInterval(HOURS)
        .shouldFlush(batch -> batch.size() >= 5).build();
    try (Buffer<Integer> buffer = Buffer.start(config)) {
      for (int i = 0; i < 5; i++) {
        buffer.add(i);
      }
      assertThat(flush.awaitBatches(1, WAIT)).containsExactly(List.of(0, 1, 2, 3, 4));
    }
  }

  @Test
  void willOverflowFlushesTheExistingBatchFirst() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    // A "byte" limit of 5 characters per batch.
    Config<String> config = Config.builder(flush).capacity(100).flushInterval(HOURS)
        .willOverflow((batch, item) -> length(batch) + item.length() > 5).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String s : List.of("ab", "cd", "ef", "g", "hijk")) {
        buffer.add(s);
      }
      assertThat(flush.awaitBatches(2, WAIT))
          .containsExactly(List.of("ab", "cd"), List.of("ef", "g"));
    }
    assertThat(flush.batches()).last().isEqualTo(List.of("hijk"));
  }

  @Test
  void willOverflowIsNotAskedForAnEmptyBatch() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    List<Integer> sizesAsked = new CopyOnWriteArrayList<>();
    Config<String> config = Config.builder(flush).capacity(100).flushInterval(HOURS)
        .willOverflow((batch, item) -> {
          sizesAsked.add(batch.size());
          return true;
        }).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("a");
      buffer.add("b");
      buffer.add("c");
      flush.awaitBatches(2, WAIT);
    }
    assertThat(sizesAsked).containsExactly(1, 1);
    assertThat(flush.batches()).containsExactly(List.of("a"), List.of("b"), List.of("c"));
  }

  @Test
  void emptyBatchIsNeverFlushed() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    // Everything is rejected, so every batch stays empty: neither close nor overflow may flush it.
    Config<String> config = Config.builder(flush).capacity(2).flushInterval(HOURS)
        .canAdd((batch, item) -> false).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("x");
      buffer.add("y");
    }
    try (Buffer<String> idle = Buffer.start(Config.builder(flush).build())) {
      assertThat(idle.itemsInChannel()).isZero();
    }
    assertThat(flush.batches()).isEmpty();
  }

  @Test
  void canAddFalseHandsTheItemToOnRejectAndKeepsTheBatch() throws Exception {
    Ledger<Integer> ledger = new Ledger<>();
    Config<Integer> config = Config.builder(ledger.flushed).capacity(3).flushInterval(HOURS)
        .canAdd((batch, item) -> item % 2 == 0).onReject(ledger::onReject).build();
    try (Buffer<Integer> buffer = Buffer.start(config)) {
      for (int i = 0; i < 8; i++) {
        buffer.add(i);
        ledger.accepted.incrementAndGet();
      }
    }
    assertThat(ledger.flushed.batches()).containsExactly(List.of(0, 2, 4), List.of(6));
    assertThat(ledger.rejected).containsExactly(1, 3, 5, 7);
    ledger.assertBalanced();
  }

  @Test
  void canAddSeesTheBatchAfterAnOverflowFlush() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    List<Integer> sizesSeenByCanAdd = new CopyOnWriteArrayList<>();
    Config<String> config = Config.builder(flush).capacity(100).flushInterval(HOURS)
        .willOverflow((batch, item) -> batch.size() == 2)
        .canAdd((batch, item) -> sizesSeenByCanAdd.add(batch.size())).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("a");
      buffer.add("b");
      buffer.add("c");
    }
    assertThat(sizesSeenByCanAdd).containsExactly(0, 1, 0);
  }

  @Test
  void flushedListIsUnmodifiableAndSafeToKeep() throws Exception {
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(2).flushInterval(HOURS).build())) {
      for (int i = 0; i < 6; i++) {
        buffer.add(i);
      }
    }
    List<List<Integer>> batches = flush.batches();
    // Kept references still hold their own items after later batches were built.
    assertThat(batches).containsExactly(List.of(0, 1), List.of(2, 3), List.of(4, 5));
    List<Integer> first = batches.get(0);
    assertThatThrownBy(() -> first.add(9)).isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> first.set(0, 9)).isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> first.removeIf(x -> true)).isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(first::clear).isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> first.get(2)).isInstanceOf(IndexOutOfBoundsException.class);
    assertThat(batches.get(0)).isNotSameAs(batches.get(1));
  }

  @Test
  void policyViewOfTheBatchIsReadOnly() throws Exception {
    Ledger<String> ledger = new Ledger<>();
    List<Throwable> thrown = new CopyOnWriteArrayList<>();
    Config<String> config = Config.builder(ledger.flushed).capacity(100).flushInterval(HOURS)
        .canAdd((batch, item) -> {
          try {
            batch.add(item);
          } catch (UnsupportedOperationException e) {
            thrown.add(e);
          }
          return true;
        }).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("a");
      buffer.add("b");
    }
    assertThat(thrown).hasSize(2);
    assertThat(ledger.flushed.batches()).containsExactly(List.of("a", "b"));
  }

  /**
   * Flushes never overlap. Each flush stays in progress until the channel behind it is full again
   * (or the producer is done), so a buffer that could start another flush meanwhile has both the
   * items and the time to do it, and the overlap is seen: the count of flushes in progress is
   * raised on entry and lowered on exit, in two separate steps.
   */
  @Test
  void batchesArriveInOrderOneAtATime() throws Exception {
    int capacity = 10;
    int chanSize = 20;
    RecordingFlush<Integer> seen = new RecordingFlush<>();
    AtomicInteger inProgress = new AtomicInteger();
    AtomicInteger maxInProgress = new AtomicInteger();
    AtomicBoolean allAdded = new AtomicBoolean();
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    FlushFunc<Integer> flush = batch -> {
      maxInProgress.accumulateAndGet(inProgress.incrementAndGet(), Math::max);
      try {
        Buffer<Integer> buffer = java.util.Objects.requireNonNull(self.get());
        await().atMost(WAIT).pollInterval(Duration.ofMillis(1)).until(() -> allAdded.get()
            || buffer.itemsInChannel() == chanSize || inProgress.get() > 1);
        seen.flush(batch);
      } finally {
        inProgress.decrementAndGet();
      }
    };
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(capacity)
        .chanSize(chanSize).flushInterval(HOURS).build())) {
      self.set(buffer);
      for (int i = 0; i < 1000; i++) {
        buffer.add(i);
      }
      allAdded.set(true);
    }
    assertThat(seen.items())
        .containsExactlyElementsOf(java.util.stream.IntStream.range(0, 1000).boxed().toList());
    assertThat(maxInProgress).as("flushes in progress at once").hasValue(1);
  }

  private static int length(List<String> batch) {
    int n = 0;
    for (String s : batch) {
      n += s.length();
    }
    return n;
  }
}
