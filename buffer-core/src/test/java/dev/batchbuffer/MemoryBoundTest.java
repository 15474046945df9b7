package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Options.maxBufferedBytes: a byte bound on channel + batch + the flush in progress. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MemoryBoundTest {
  final StuckFlush<String> stuck = new StuckFlush<>();
  final ManualTimeSource time = new ManualTimeSource();

  /** A buffer of capacity 1 whose first flush hangs until released; 10 bytes may be held. */
  Buffer<String> startStuck() throws InterruptedException {
    Buffer<String> buffer = Buffer.start(
        Config.builder(stuck).capacity(1).chanSize(100).flushInterval(HOURS).build(),
        Options.<String>builder().timeSource(time).maxBufferedBytes(String::length, 10).build());
    buffer.add("aaaa"); // 4 bytes, held by the stuck flush
    stuck.awaitStarted(1);
    return buffer;
  }

  @Test
  void offerReturnsFalseWhenTheBytesWouldExceedTheBound() throws Exception {
    try (Buffer<String> buffer = startStuck(); stuck) {
      assertThat(buffer.offer("bbbbbb")).isTrue();   // 10 bytes held
      assertThat(buffer.offer("c")).isFalse();       // 11 would exceed
      assertThat(buffer.itemsInChannel()).isEqualTo(1);
      stuck.release();
    }
    assertThat(stuck.recorder.items()).containsExactly("aaaa", "bbbbbb");
  }

  @Test
  void addWaitsForBytesToBeReleasedByAFlush() throws Exception {
    try (Buffer<String> buffer = startStuck(); stuck) {
      buffer.add("bbbbbb");
      CompletableFuture<Void> adder = Async.run(() -> buffer.add("ccc"));
      time.awaitWaiters(1, WAIT); // the adder parks for bytes (the loop is in the flush, not parked)
      assertThat(adder).isNotDone();
      stuck.release();
      assertThat(adder).succeedsWithin(WAIT);
    }
    assertThat(stuck.recorder.items()).containsExactly("aaaa", "bbbbbb", "ccc");
  }

  @Test
  void timedOfferGivesUpOnTheManualClock() throws Exception {
    try (Buffer<String> buffer = startStuck(); stuck) {
      buffer.add("bbbbbb");
      CompletableFuture<Boolean> offered = Async.call(() -> buffer.offer("ccc", Duration.ofSeconds(1)));
      time.awaitTimedWaiters(1, WAIT);
      time.advance(Duration.ofSeconds(1));
      assertThat(offered.get(10, TimeUnit.SECONDS)).isFalse();
      stuck.release();
    }
    assertThat(stuck.recorder.items()).containsExactly("aaaa", "bbbbbb");
  }

  @Test
  void itemLargerThanTheWholeBoundWaitsUntilNothingElseIsHeld() throws Exception {
    try (Buffer<String> buffer = startStuck(); stuck) {
      CompletableFuture<Void> adder = Async.run(() -> buffer.add("x".repeat(25))); // above 10: alone
      time.awaitWaiters(1, WAIT);
      assertThat(adder).as("admitted while 4 bytes are held").isNotDone();
      stuck.release();
      assertThat(adder).succeedsWithin(WAIT);
    }
    assertThat(stuck.recorder.items()).containsExactly("aaaa", "x".repeat(25));
  }

  @Test
  void rejectedItemsGiveTheirBytesBack() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).capacity(100).flushInterval(HOURS)
        .canAdd((batch, item) -> !item.startsWith("no")).build();
    try (Buffer<String> buffer = Buffer.start(config,
        Options.<String>builder().maxBufferedBytes(String::length, 10).build())) {
      for (int i = 0; i < 100; i++) {
        buffer.add("no-" + i); // each rejected, so the 10-byte bound never fills up
      }
      buffer.add("yes");
    }
    assertThat(flush.items()).containsExactly("yes");
  }

  @Test
  void closeReleasesProducersWaitingForBytes() throws Exception {
    Buffer<String> buffer = startStuck();
    buffer.add("bbbbbb");
    CompletableFuture<Throwable> blocked = Async.outcome(() -> buffer.add("ccc"));
    time.awaitWaiters(1, WAIT);
    CompletableFuture<Void> closing = Async.run(buffer::close);
    assertThat(blocked.get(10, TimeUnit.SECONDS)).isInstanceOf(IllegalStateException.class);
    stuck.release();
    assertThat(closing).succeedsWithin(WAIT);
    assertThat(stuck.recorder.items()).containsExactly("aaaa", "bbbbbb");
  }

  @Test
  void maxBufferedBytesMustBePositive() {
    assertThatThrownBy(() -> Options.<String>builder().maxBufferedBytes(String::length, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("maxBufferedBytes must be >= 1 (was 0)");
  }

  /**
   * Under racing producers, no batch a flush receives weighs more than the bound, and once
   * everything is flushed every byte is given back: a whole bound's worth is admitted again (an
   * offer, which never waits, succeeds; it fails while even one byte is still held).
   */
  @Test
  void boundHoldsUnderManyProducers() throws Exception {
    long bound = 64;
    AtomicLong maxSeenInFlush = new AtomicLong();
    RecordingFlush<String> sink = new RecordingFlush<>();
    FlushFunc<String> flush = batch -> {
      long w = 0;
      for (String s : batch) {
        w += s.length();
      }
      maxSeenInFlush.accumulateAndGet(w, Math::max);
      sink.flush(batch);
    };
    try (Buffer<String> buffer = Buffer.start(
        Config.builder(flush).capacity(1000).chanSize(1000).flushInterval(Duration.ofMillis(1)).build(),
        Options.<String>builder().maxBufferedBytes(String::length, bound).build())) {
      Async.Producers producers = new Async.Producers();
      for (int p = 0; p < 4; p++) {
        producers.start("producer-" + p, () -> {
          for (int i = 0; i < 2000; i++) {
            buffer.add("x".repeat(1 + i % 7));
          }
        });
      }
      producers.joinAll(WAIT);
      sink.awaitItems(8000, WAIT);
      // Everything flushed: the bound is free again, all of it.
      // The last flush's bytes are given back when the loop settles it, just after it returned.
      await("a whole bound's worth is admitted").atMost(WAIT)
          .until(() -> buffer.offer("y".repeat((int) bound)));
    }
    assertThat(sink.itemCount()).isEqualTo(8001);
    assertThat(maxSeenInFlush.get()).isLessThanOrEqualTo(bound);
  }
}
