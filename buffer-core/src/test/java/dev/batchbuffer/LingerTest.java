package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;


import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Time triggers only, on a manual clock: capacity is huge, nothing sleeps. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LingerTest {
  static final Duration LINGER = Duration.ofSeconds(5);

  // A start near the wrap point checks that deadlines compare by difference.
  final ManualTimeSource time = new ManualTimeSource(Long.MAX_VALUE - 3_000_000_000L);
  final RecordingFlush<String> flush = new RecordingFlush<>();

  Buffer<String> start(int capacity) {
    return Buffer.start(Config.builder(flush).capacity(capacity).chanSize(64).flushInterval(LINGER).build(),
        Options.builder().timeSource(time).build());
  }

  /**
   * Waits until the loop is parked for a deadline: it has taken the first item and armed the
   * deadline, or, after an advance, it has handled the new time and parked again (an advance
   * unregisters the threads it wakes), so a check that nothing was flushed yet cannot race it.
   * Later items may still sit in the channel: a lingering count-only batch is not woken per item;
   * the deadline drains them.
   */
  void awaitParked() throws Exception {
    time.awaitTimedWaiters(1, WAIT);
  }

  @Test
  void partialBatchIsFlushedWhenTheIntervalPasses() throws Exception {
    try (Buffer<String> buffer = start(1000)) {
      buffer.add("a");
      buffer.add("b");
      awaitParked();
      time.advance(LINGER.minusNanos(1));
      awaitParked(); // woken by the advance, it looked at the time and parked again
      assertThat(flush.batches()).isEmpty();
      time.advance(1, TimeUnit.NANOSECONDS);
      assertThat(flush.awaitBatches(1, WAIT)).containsExactly(List.of("a", "b"));
    }
  }

  @Test
  void deadlineStartsWithTheFirstItemNotATicker() throws Exception {
    try (Buffer<String> buffer = start(1000)) {
      // A long idle time before the first item must not shorten its wait.
      time.advance(Duration.ofSeconds(4));
      buffer.add("a");
      awaitParked();
      time.advance(Duration.ofSeconds(4));
      awaitParked();
      buffer.add("b"); // a later item does not move the deadline either
      awaitParked();
      assertThat(flush.batches()).isEmpty();
      time.advance(Duration.ofSeconds(1));
      assertThat(flush.awaitBatches(1, WAIT)).containsExactly(List.of("a", "b"));
    }
  }

  @Test
  void deadlineRestartsAfterACountFlush() throws Exception {
    try (Buffer<String> buffer = start(2)) {
      buffer.add("a");
      awaitParked();
      time.advance(Duration.ofSeconds(4));
      buffer.add("b"); // count flush at t=4s
      flush.awaitBatches(1, WAIT);
      buffer.add("c"); // a new batch: its deadline is t=4s+5s, not the old t=5s
      awaitParked();
      time.advance(Duration.ofSeconds(2));
      awaitParked();
      assertThat(flush.batches()).hasSize(1);
      time.advance(Duration.ofSeconds(3));
      assertThat(flush.awaitBatches(2, WAIT)).containsExactly(List.of("a", "b"), List.of("c"));
    }
  }

  @Test
  void emptyBatchIsNotFlushedOnTime() throws Exception {
    try (Buffer<String> buffer = start(1000)) {
      buffer.flush().get(); // starts the loop, which then waits for an item with no deadline
      time.awaitWaiters(1, WAIT);
      assertThat(time.timedWaiters()).as("an idle loop has no deadline").isZero();
      time.advance(Duration.ofMinutes(10));
      time.awaitWaiters(1, WAIT); // woken, it found nothing to flush and parked again
      assertThat(time.timedWaiters()).isZero();
      assertThat(flush.batches()).isEmpty();
      buffer.add("a");
      awaitParked();
      assertThat(flush.batches()).isEmpty();
    }
    assertThat(flush.batches()).containsExactly(List.of("a"));
  }

  @Test
  void eachLingerFlushTakesOnlyItsOwnBatch() throws Exception {
    try (Buffer<String> buffer = start(1000)) {
      for (int round = 0; round < 5; round++) {
        buffer.add("r" + round);
        awaitParked();
        time.advance(LINGER);
        flush.awaitBatches(round + 1, WAIT);
      }
      assertThat(flush.batches()).containsExactly(
          List.of("r0"), List.of("r1"), List.of("r2"), List.of("r3"), List.of("r4"));
    }
  }
}
