package dev.batchbuffer;

import static dev.batchbuffer.DispatcherContractTest.deliveryFailure;
import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Per-item futures, flush(), close(Duration), concurrent flushes and partial failures. */
@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class DeliveryTest {
  @Test
  void submittedItemsFutureCompletesWhenItsBatchIsFlushed() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).flushInterval(HOURS).build())) {
      CompletableFuture<Void> a = buffer.submit("a");
      assertThat(a).isNotDone();
      buffer.add("b");
      assertThat(a).succeedsWithin(WAIT);
      assertThat(flush.batches()).containsExactly(List.of("a", "b"));
    }
  }

  @Test
  void submittedItemsFutureFailsWhenItsBatchFails() throws Exception {
    FlushFunc<String> flush = batch -> {
      throw new IOException("backend down");
    };
    List<String> handed = new CopyOnWriteArrayList<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).flushInterval(HOURS)
        .onFlushError((e, batch) -> handed.addAll(batch)).build())) {
      DeliveryException e = deliveryFailure(buffer.submit("a"));
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(e.getCause()).hasMessage("backend down");
    }
    assertThat(handed).containsExactly("a");
  }

  @Test
  void submittedItemsFutureFailsWhenTheItemIsRejected() throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .canAdd((batch, item) -> false).build())) {
      assertThat(deliveryFailure(buffer.submit("a")).reason()).isEqualTo(DeliveryException.Reason.REJECTED);
    }
  }

  @Test
  void partialFailureFailsOnlyTheNamedItems() throws Exception {
    FlushFunc<String> flush = batch -> {
      throw new PartialFlushException(List.of(1, 3), new IOException("throttled"));
    };
    List<String> handed = new CopyOnWriteArrayList<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(4).flushInterval(HOURS)
        .onFlushError((e, batch) -> handed.addAll(batch)).build())) {
      List<CompletableFuture<Void>> futures = new ArrayList<>();
      for (String s : List.of("a", "b", "c", "d")) {
        futures.add(buffer.submit(s));
      }
      assertThat(futures.get(0)).succeedsWithin(WAIT);
      assertThat(futures.get(2)).succeedsWithin(WAIT);
      assertThat(deliveryFailure(futures.get(1)).reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(deliveryFailure(futures.get(3)).getCause()).isInstanceOf(PartialFlushException.class);
    }
    assertThat(handed).containsExactly("b", "d");
  }

  @Test
  void flushHandsOverThePartialBatchNow() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(100).flushInterval(HOURS).build())) {
      buffer.add("a");
      buffer.add("b");
      assertThat(buffer.flush()).succeedsWithin(WAIT);
      assertThat(flush.batches()).containsExactly(List.of("a", "b"));
      assertThat(buffer.flush()).as("nothing to flush").succeedsWithin(WAIT);
      assertThat(flush.batches()).hasSize(1);
    }
  }

  @Test
  void flushReportsFailuresTruthfullyAndOnlyOnce() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    FlushFunc<String> flush = batch -> {
      if (calls.incrementAndGet() == 1) {
        throw new IOException("first batch lost");
      }
    };
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).flushInterval(HOURS)
        .onFlushError((e, b) -> {}).build())) {
      buffer.add("a"); // fails
      buffer.add("b"); // succeeds
      DeliveryException e = deliveryFailure(buffer.flush());
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(e).hasMessageStartingWith("1 items failed since the previous flush()");
      assertThat(e.getCause()).hasMessage("first batch lost");
      buffer.add("c");
      assertThat(buffer.flush()).as("the failure was reported once").succeedsWithin(WAIT);
    }
  }

  @Test
  void flushCanBeAwaitedWithATimeout() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    FlushFunc<String> flush = batch -> release.await();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(100).flushInterval(HOURS).build())) {
      buffer.add("a");
      CompletableFuture<Void> done = buffer.flush();
      assertThatThrownBy(() -> done.get(50, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);
      release.countDown();
      assertThat(done).succeedsWithin(WAIT);
    }
  }

  @Test
  void flushAfterCloseThrows() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>()).build());
    buffer.close();
    assertThatThrownBy(buffer::flush).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void closeWithTimeoutReportsADrainThatFinishedInTime() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(100).flushInterval(HOURS).build());
    buffer.add("a");
    CloseResult<String> result = buffer.close(WAIT);
    assertThat(result.drained()).isTrue();
    assertThat(result.undelivered()).isEmpty();
    assertThat(result.stillFlushing()).isFalse();
    assertThat(flush.items()).containsExactly("a");
  }

  @Test
  void closeWithTimeoutGivesUpAndReturnsWhatWasNotDelivered() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    FlushFunc<String> hanging = batch -> {
      inFlush.countDown();
      new CountDownLatch(1).await(); // hangs until interrupted
    };
    List<Exception> failures = new CopyOnWriteArrayList<>();
    // On the manual clock: the timeout passes when the test says so and the grace after it never
    // does, so the loop's answer to the interrupt is waited for however loaded the machine is.
    ManualTimeSource time = new ManualTimeSource();
    Buffer<String> buffer = Buffer.start(Config.builder(hanging).capacity(1).chanSize(10)
        .flushInterval(HOURS).onFlushError((e, b) -> failures.add(e)).build(),
        Options.builder().timeSource(time).build());
    CompletableFuture<Void> first = buffer.submit("first");
    inFlush.await();
    List<CompletableFuture<Void>> waiting = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      waiting.add(buffer.submit("w" + i));
    }
    CompletableFuture<CloseResult<String>> closing = Async.call(() -> buffer.close(Duration.ofMillis(100)));
    time.awaitTimedWaiters(1, WAIT); // close waits for its timeout (the loop is in the flush)
    time.advance(Duration.ofMillis(100));
    assertThat(closing).succeedsWithin(WAIT);
    CloseResult<String> result = closing.join();
    assertThat(result.drained()).isFalse();
    assertThat(result.stillFlushing()).isFalse();
    // The flush close(timeout) interrupted failed because of that interrupt: its item is handed
    // back with the others, in acceptance order, and is not reported to onFlushError.
    assertThat(result.undelivered()).containsExactly("first", "w0", "w1", "w2", "w3", "w4");
    assertThat(waiting).allSatisfy(f ->
        assertThat(deliveryFailure(f).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED));
    assertThat(deliveryFailure(first).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(failures).isEmpty();
  }

  @Test
  void closeWithTimeoutSaysSoWhenAFlushIgnoresTheInterrupt() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    FlushFunc<String> stubborn = batch -> {
      inFlush.countDown();
      boolean done = false;
      while (!done) {
        try {
          done = release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException ignored) {
          // this backend ignores interrupts
        }
      }
    };
    List<String> lateItems = new CopyOnWriteArrayList<>();
    Buffer<String> buffer = Buffer.start(Config.builder(stubborn).capacity(1).flushInterval(HOURS)
        .onFlushError((e, b) -> lateItems.addAll(b)).build());
    buffer.add("a");
    inFlush.await();
    CompletableFuture<Void> later = buffer.submit("b");
    CloseResult<String> result = buffer.close(Duration.ofMillis(50));
    assertThat(result.drained()).isFalse();
    assertThat(result.stillFlushing()).isTrue();
    assertThat(result.undelivered()).as("the loop is stuck in the flush: nothing handed back yet")
        .isEmpty();
    release.countDown();
    // Given up after close(timeout) returned its list: it goes to onFlushError, as a failure.
    DeliveryException late = deliveryFailure(later);
    assertThat(late.reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(late.getCause()).isInstanceOfSatisfying(DeliveryException.class,
        d -> assertThat(d.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED));
    await().atMost(WAIT).until(() -> lateItems.contains("b"));
  }

  @Test
  void maxInFlightRunsThatManyFlushesAtOnce() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger running = new AtomicInteger();
    AtomicInteger peak = new AtomicInteger();
    RecordingFlush<Integer> done = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      peak.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        release.await();
      } finally {
        running.decrementAndGet();
      }
      done.flush(batch);
    };
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(10)
        .flushInterval(HOURS).build(), Options.builder().maxInFlight(3).build())) {
      for (int i = 0; i < 5; i++) {
        buffer.add(i);
      }
      await().atMost(WAIT).until(() -> running.get() == 3);
      assertThat(peak).hasValue(3);
      release.countDown();
      done.awaitItems(5, WAIT);
    }
    assertThat(done.items()).containsExactlyInAnyOrder(0, 1, 2, 3, 4);
    assertThat(peak).hasValue(3);
  }

  @Test
  void asyncFlushFunctionsOverlapUnderMaxInFlight() throws Exception {
    java.util.Map<Integer, CompletableFuture<Void>> calls = new java.util.concurrent.ConcurrentHashMap<>();
    AsyncFlushFunc<Integer> async = batch -> {
      CompletableFuture<Void> call = new CompletableFuture<>();
      calls.put(batch.get(0), call);
      return call;
    };
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(async.awaiting()).capacity(1)
        .flushInterval(HOURS).build(), Options.builder().maxInFlight(2).build())) {
      CompletableFuture<Void> a = buffer.submit(1);
      CompletableFuture<Void> b = buffer.submit(2);
      await().atMost(WAIT).until(() -> calls.size() == 2);
      java.util.Objects.requireNonNull(calls.get(2)).complete(null); // the second finishes first
      assertThat(b).succeedsWithin(WAIT);
      assertThat(a).isNotDone();
      java.util.Objects.requireNonNull(calls.get(1)).completeExceptionally(new IOException("late failure"));
      assertThat(deliveryFailure(a).getCause()).hasMessage("late failure");
    }
  }

  @Test
  void asyncFlushFailureReachesOnFlushError() throws Exception {
    AsyncFlushFunc<Integer> async = batch -> CompletableFuture.failedFuture(new IOException("nope"));
    List<Exception> errors = new CopyOnWriteArrayList<>();
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(async.awaiting()).capacity(1)
        .onFlushError((e, b) -> errors.add(e)).build())) {
      buffer.add(1);
    }
    assertThat(errors).singleElement().satisfies(e -> assertThat(e).hasMessage("nope"));
  }

  @Test
  void keyedBufferSupportsSubmitFlushAndCloseWithTimeout() throws Exception {
    List<String> flushed = new CopyOnWriteArrayList<>();
    KeyedBuffer<Character, String> buffer = KeyedBuffer.<Character, String>builder(
        s -> s.charAt(0), (key, batch) -> flushed.addAll(batch)).flushInterval(HOURS).start();
    CompletableFuture<Void> a = buffer.submit("a1");
    buffer.add("b1");
    assertThat(buffer.flush()).succeedsWithin(WAIT);
    assertThat(a).isDone();
    assertThat(flushed).containsExactlyInAnyOrder("a1", "b1");
    assertThat(buffer.close(WAIT).drained()).isTrue();
  }
}
