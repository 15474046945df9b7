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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Options.maxBufferedBytes: a byte bound on channel + batch + the flush in progress. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MemoryBoundTest {
  static final Duration HOURS = Duration.ofHours(1);
  final CountDownLatch release = new CountDownLatch(1);
  final CountDownLatch flushing = new CountDownLatch(1);
  final RecordingFlush<String> recorder = new RecordingFlush<>();
  final ManualTimeSource time = new ManualTimeSource();

  /** A buffer of capacity 1 whose first flush hangs until released; 10 bytes may be held. */
  Buffer<String> startStuck() throws InterruptedException {
    FlushFunc<String> flush = batch -> {
      flushing.countDown();
      release.await();
      recorder.flush(batch);
    };
    Buffer<String> buffer = Buffer.start(
        Config.builder(flush).capacity(1).chanSize(100).flushInterval(HOURS).build(),
        Options.<String>builder().timeSource(time).maxBufferedBytes(String::length, 10).build());
    buffer.add("aaaa"); // 4 bytes, held by the stuck flush
    flushing.await();
    return buffer;
  }

  @Test
  void offerReturnsFalseWhenTheBytesWouldExceedTheBound() throws Exception {
    try (Buffer<String> buffer = startStuck()) {
      assertThat(buffer.offer("bbbbbb")).isTrue();   // 10 bytes held
      assertThat(buffer.offer("c")).isFalse();       // 11 would exceed
      assertThat(buffer.itemsInChannel()).isEqualTo(1);
      release.countDown();
    }
    assertThat(recorder.items()).containsExactly("aaaa", "bbbbbb");
  }

  @Test
  void addWaitsForBytesToBeReleasedByAFlush() throws Exception {
    try (Buffer<String> buffer = startStuck()) {
      buffer.add("bbbbbb");
      CompletableFuture<Void> adder = CompletableFuture.runAsync(() -> {
        try {
          buffer.add("ccc");
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      }, Async.VIRTUAL);
      await().until(() -> time.waiters() >= 1);
      assertThat(adder).isNotDone();
      release.countDown();
      adder.get(10, TimeUnit.SECONDS);
    }
    assertThat(recorder.items()).containsExactly("aaaa", "bbbbbb", "ccc");
  }

  @Test
  void timedOfferGivesUpOnTheManualClock() throws Exception {
    try (Buffer<String> buffer = startStuck()) {
      buffer.add("bbbbbb");
      CompletableFuture<Boolean> offered = CompletableFuture.supplyAsync(() -> {
        try {
          return buffer.offer("ccc", Duration.ofSeconds(1));
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      }, Async.VIRTUAL);
      await().until(() -> time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(1));
      assertThat(offered.get(10, TimeUnit.SECONDS)).isFalse();
      release.countDown();
    }
    assertThat(recorder.items()).containsExactly("aaaa", "bbbbbb");
  }

  @Test
  void itemLargerThanTheWholeBoundWaitsUntilNothingElseIsHeld() throws Exception {
    try (Buffer<String> buffer = startStuck()) {
      CompletableFuture<Void> adder = CompletableFuture.runAsync(() -> {
        try {
          buffer.add("x".repeat(25)); // bigger than the 10-byte bound: admitted alone
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      }, Async.VIRTUAL);
      await().until(() -> time.waiters() >= 1);
      release.countDown();
      adder.get(10, TimeUnit.SECONDS);
    }
    assertThat(recorder.items()).containsExactly("aaaa", "x".repeat(25));
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
    CompletableFuture<Throwable> blocked = CompletableFuture.supplyAsync(() -> {
      try {
        buffer.add("ccc");
        return new AssertionError("added");
      } catch (Throwable t) {
        return t;
      }
    }, Async.VIRTUAL);
    await().until(() -> time.waiters() >= 1);
    CompletableFuture<Void> closing = CompletableFuture.runAsync(buffer::close, Async.VIRTUAL);
    assertThat(blocked.get(10, TimeUnit.SECONDS)).isInstanceOf(IllegalStateException.class);
    release.countDown();
    closing.get(10, TimeUnit.SECONDS);
    assertThat(recorder.items()).containsExactly("aaaa", "bbbbbb");
  }

  @Test
  void maxBufferedBytesMustBePositive() {
    assertThatThrownBy(() -> Options.<String>builder().maxBufferedBytes(String::length, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("maxBufferedBytes must be >= 1 (was 0)");
  }

  @Test
  void boundHoldsUnderManyProducers() throws Exception {
    long bound = 64;
    java.util.concurrent.atomic.AtomicLong maxSeenInFlush = new java.util.concurrent.atomic.AtomicLong();
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
      List<Thread> producers = new java.util.ArrayList<>();
      for (int p = 0; p < 4; p++) {
        producers.add(Thread.ofVirtual().start(() -> {
          for (int i = 0; i < 2000; i++) {
            try {
              buffer.add("x".repeat(1 + i % 7));
            } catch (InterruptedException e) {
              throw new AssertionError(e);
            }
          }
        }));
      }
      for (Thread t : producers) {
        t.join();
      }
    }
    assertThat(sink.itemCount()).isEqualTo(8000);
    assertThat(maxSeenInFlush.get()).isLessThanOrEqualTo(bound);
  }
}
