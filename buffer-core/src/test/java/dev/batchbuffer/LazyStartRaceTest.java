package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static dev.batchbuffer.TestConstants.HOURS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The loop thread starts with the first arrival, {@code flush()}, close or fatal error: each of
 * those racing the others on a buffer that was never used, and the state of such a buffer.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LazyStartRaceTest {

  final List<Throwable> errors = new CopyOnWriteArrayList<>();

  /** Starts {@code body} on a virtual thread that waits for {@code go}; failures are collected. */
  Thread racer(CountDownLatch go, ThrowingRunnable body) {
    return Thread.ofVirtual().start(() -> {
      try {
        go.await();
        body.run();
      } catch (Throwable t) {
        errors.add(t);
      }
    });
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  void joinAll(List<Thread> threads) throws InterruptedException {
    for (Thread t : threads) {
      assertThat(t.join(WAIT)).as("%s ended", t).isTrue();
    }
    assertThat(errors).isEmpty();
  }

  /** Asserts that each producer's items arrived once each and in the order it added them. */
  static void assertPerProducerOrder(List<String> items, Map<String, Integer> acceptedPerProducer) {
    Map<String, Integer> next = new HashMap<>();
    for (String item : items) {
      String producer = item.substring(0, item.indexOf('-'));
      int i = Integer.parseInt(item.substring(item.indexOf('-') + 1));
      assertThat(i).as("next item of %s", producer).isEqualTo(next.getOrDefault(producer, 0));
      next.put(producer, i + 1);
    }
    assertThat(next).isEqualTo(acceptedPerProducer.entrySet().stream()
        .filter(e -> e.getValue() > 0)
        .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
  }

  @RepeatedTest(20)
  void firstAddsRacingFlushRequestsDeliverEverythingInOrderAndCompleteEveryRequest()
      throws Exception {
    RecordingFlush<String> sink = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(sink).capacity(4).chanSize(3)
        .flushInterval(HOURS).build());
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    Map<String, Integer> accepted = new java.util.concurrent.ConcurrentHashMap<>();
    List<CompletableFuture<Void>> requests = new CopyOnWriteArrayList<>();
    for (int p = 0; p < 3; p++) {
      String name = "p" + p;
      threads.add(racer(go, () -> {
        for (int i = 0; i < 100; i++) {
          buffer.add(name + "-" + i);
          accepted.put(name, i + 1);
        }
      }));
    }
    for (int f = 0; f < 2; f++) {
      threads.add(racer(go, () -> {
        for (int i = 0; i < 5; i++) {
          requests.add(buffer.flush());
        }
      }));
    }
    go.countDown();
    joinAll(threads);
    CompletableFuture.allOf(requests.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    buffer.close();
    assertPerProducerOrder(sink.items(), accepted);
    assertThat(sink.items()).hasSize(300);
  }

  @RepeatedTest(20)
  void firstSubmitsRacingATimedCloseSettleEveryAcceptedFutureAndRefuseTheRest()
      throws Exception {
    RecordingFlush<String> sink = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(sink).capacity(3).chanSize(2)
        .flushInterval(HOURS).build());
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    Map<String, CompletableFuture<Void>> futures = new java.util.concurrent.ConcurrentHashMap<>();
    Map<String, Integer> accepted = new java.util.concurrent.ConcurrentHashMap<>();
    for (int p = 0; p < 3; p++) {
      String name = "p" + p;
      threads.add(racer(go, () -> {
        try {
          for (int i = 0; i < 50; i++) {
            futures.put(name + "-" + i, buffer.submit(name + "-" + i));
            accepted.put(name, i + 1);
          }
        } catch (IllegalStateException closed) {
          // refused after the close: the caller keeps the item
        }
      }));
    }
    AtomicReference<CloseResult<String>> closed = new AtomicReference<>();
    threads.add(racer(go, () -> closed.set(buffer.close(Duration.ofSeconds(10)))));
    go.countDown();
    joinAll(threads);
    assertThat(closed.get().drained()).isTrue();
    assertThat(closed.get().undelivered()).isEmpty();
    for (CompletableFuture<Void> f : futures.values()) {
      assertThat(f).isCompleted();
      f.get(); // completed normally: delivered
    }
    assertThat(sink.items()).containsExactlyInAnyOrderElementsOf(futures.keySet());
    assertPerProducerOrder(sink.items(), accepted);
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }

  @RepeatedTest(10)
  void concurrentClosesOfANeverUsedBufferAllReturnAndTheListenerHearsClosedOnce()
      throws Exception {
    AtomicInteger closedHeard = new AtomicInteger();
    Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>()).build(),
        Options.<String>builder().listener(new BufferListener<String>() {
          @Override
          public void closed(BufferStats stats) {
            closedHeard.incrementAndGet();
          }
        }).build());
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      boolean timed = i % 2 == 0;
      threads.add(racer(go, () -> {
        if (timed) {
          assertThat(buffer.close(WAIT).drained()).isTrue();
        } else {
          buffer.close();
        }
        assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
      }));
    }
    go.countDown();
    joinAll(threads);
    assertThat(closedHeard).hasValue(1);
  }

  @RepeatedTest(10)
  void firstAddsToAKeyedBufferRacingCloseLoseNothing() throws Exception {
    List<String> flushed = new CopyOnWriteArrayList<>();
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            s -> s.substring(0, 2), (key, batch) -> flushed.addAll(batch))
        .policy(FlushPolicy.count(3)).chanSize(2).flushInterval(HOURS).start();
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    Map<String, Integer> accepted = new java.util.concurrent.ConcurrentHashMap<>();
    for (int p = 0; p < 3; p++) {
      String name = "p" + p;
      threads.add(racer(go, () -> {
        try {
          for (int i = 0; i < 50; i++) {
            buffer.add(name + "-" + i);
            accepted.put(name, i + 1);
          }
        } catch (IllegalStateException closed) {
          // refused after the close
        }
      }));
    }
    threads.add(racer(go, buffer::close));
    go.countDown();
    joinAll(threads);
    buffer.close();
    assertPerProducerOrder(flushed, accepted); // one key per producer: its flushes are in order
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }

  @Test
  void statsOfANeverUsedBufferSayRunningEmptyAndUnblocked() {
    ManualTimeSource time = new ManualTimeSource();
    Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>()).build(),
        Options.<String>builder().timeSource(time).maxBufferedBytes(String::length, 100).build());
    BufferStats stats = buffer.stats();
    assertThat(stats.state()).isEqualTo(BufferStats.State.RUNNING);
    assertThat(stats.accepted()).isZero();
    assertThat(stats.itemsWaiting()).isZero();
    assertThat(stats.itemsFlushing()).isZero();
    assertThat(stats.bytesWaiting()).isZero();
    assertThat(stats.producersBlocked()).isZero();
    assertThat(stats.flushesInFlight()).isZero();
    assertThat(stats.flushLatencyP50()).isZero();
    assertThat(stats.flushLatencyP99()).isZero();
    assertThat(stats.oldestItemAge()).isZero();
    assertThat(stats.keys()).isZero();
    assertThat(buffer.itemsInChannel()).isZero();
    assertThat(buffer.isClosed()).isFalse();
    assertThat(time.waiters()).as("no loop runs").isZero();
    buffer.close();
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
    assertThat(buffer.stats().accepted()).isZero();
  }

  @Test
  void aNeverUsedKeyedBufferRunsNoLoopAndThenBatchesItsFirstItem() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    List<List<String>> flushed = new CopyOnWriteArrayList<>();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            s -> s.substring(0, 1), (key, batch) -> flushed.add(batch))
        .policy(FlushPolicy.count(10)).flushInterval(Duration.ofSeconds(1)).timeSource(time)
        .start()) {
      assertThat(time.waiters()).isZero();
      assertThat(buffer.liveKeys()).isZero();
      assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.RUNNING);
      assertThat(buffer.stats().accepted()).isZero();
      buffer.add("a1");
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1 && buffer.liveKeys() == 1);
      time.advance(Duration.ofSeconds(1));
      await().atMost(WAIT).until(() -> flushed.size() == 1);
    }
    assertThat(flushed).containsExactly(List.of("a1"));
  }

  /**
   * A buffer with a periodic task starts its loop at once; the loop, not a producer, makes the
   * channel's ring. The first arrival must still wake it (its wake-up target starts at 1).
   */
  @Test
  void aLoopStartedForPeriodicTasksIsWokenByTheFirstArrival() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<String> sink = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(sink).capacity(1).chanSize(4)
            .flushInterval(HOURS).build(),
        Options.<String>builder().timeSource(time).periodic(HOURS, () -> { }).build())) {
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
      buffer.add("a"); // a full batch: flushed without the clock moving
      assertThat(sink.awaitItems(1, WAIT)).containsExactly("a");
      buffer.add("b");
      assertThat(sink.awaitItems(2, WAIT)).containsExactly("a", "b");
    }
  }

  /** As above, with a partial batch: the loop then waits for more arrivals or the linger. */
  @Test
  void aLoopStartedForPeriodicTasksLingersOnTheFirstItem() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<String> sink = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(sink).capacity(10).chanSize(4)
            .flushInterval(Duration.ofSeconds(1)).build(),
        Options.<String>builder().timeSource(time).periodic(HOURS, () -> { }).build())) {
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1);
      buffer.add("a");
      await().atMost(WAIT).until(() -> buffer.stats().itemsWaiting() == 1
          && buffer.itemsInChannel() == 0 && time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(1));
      assertThat(sink.awaitItems(1, WAIT)).containsExactly("a");
    }
  }

  @Test
  void aFatalErrorInAProducerSideWeigherBeforeTheLoopStartedStopsTheBuffer() throws Exception {
    RecordingFlush<String> sink = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(sink).capacity(10).build(),
        Options.<String>builder().maxBufferedBytes(s -> {
          if (s.equals("boom")) {
            throw new InternalError("simulated");
          }
          return 1;
        }, 100).build());
    assertThatThrownBy(() -> buffer.add("boom")).isInstanceOf(InternalError.class);
    await().atMost(WAIT).until(() -> buffer.stats().state() == BufferStats.State.FAILED);
    assertThatThrownBy(() -> buffer.add("x")).isInstanceOf(IllegalStateException.class)
        .cause().isInstanceOf(InternalError.class);
    buffer.close(); // returns: the error started the loop, which ended
    assertThat(buffer.close(WAIT).undelivered()).isEmpty();
    assertThat(sink.items()).isEmpty();
  }

  @Test
  void closeFromInsideTheFirstFlushReturnsAndEverythingAcceptedIsDelivered() throws Exception {
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    List<String> flushed = new CopyOnWriteArrayList<>();
    FlushFunc<String> flush = batch -> {
      self.get().close(); // from the loop thread: starts the close, returns at once
      flushed.addAll(batch);
    };
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).chanSize(8)
        .flushInterval(HOURS).build());
    self.set(buffer);
    List<String> accepted = new ArrayList<>();
    try {
      for (int i = 0; i < 20; i++) {
        buffer.add("x" + i);
        accepted.add("x" + i);
      }
    } catch (IllegalStateException closedMeanwhile) {
      // the first flush closed the buffer
    }
    buffer.close();
    assertThat(flushed).containsExactlyElementsOf(accepted);
    assertThat(accepted).hasSizeGreaterThanOrEqualTo(2);
  }

  @Test
  void closeFromInsideOnRejectOfTheFirstItemReturnsAndDrains() throws Exception {
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    RecordingFlush<String> sink = new RecordingFlush<>();
    List<String> rejected = new CopyOnWriteArrayList<>();
    Buffer<String> buffer = Buffer.start(Config.builder(sink).capacity(10).flushInterval(HOURS)
        .canAdd((batch, item) -> !item.startsWith("r"))
        .onReject(item -> {
          rejected.add(item);
          self.get().close();
        }).build());
    self.set(buffer);
    buffer.add("r0");
    await().atMost(WAIT).until(buffer::isClosed);
    buffer.close();
    assertThat(rejected).containsExactly("r0");
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }

  @Test
  void aFlushRequestOnANeverUsedBufferWithAManualClockCompletesWithoutTheClock()
      throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .build(), Options.<String>builder().timeSource(time).build())) {
      buffer.flush().get(10, TimeUnit.SECONDS);
      await().atMost(WAIT).until(() -> time.waiters() == 1);
      assertThat(time.timedWaiters()).as("an empty loop waits without a deadline").isZero();
    }
  }
}
