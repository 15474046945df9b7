package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Periodic tasks, sync and async, on a manual clock. */
@ExtendWith(RecordingLoggerFinder.Reset.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class PeriodicTaskTest {
  static final Duration PERIOD = Duration.ofSeconds(1);
  static final Duration LINGER = Duration.ofHours(1);
  final ManualTimeSource time = new ManualTimeSource();
  final List<String> events = new CopyOnWriteArrayList<>();

  /**
   * Waits until the loop is parked for its next deadline; after an advance, until it has handled
   * the new time and parked again (an advance unregisters the threads it wakes).
   */
  void awaitParked() throws Exception {
    time.awaitTimedWaiters(1, WAIT);
  }

  @Test
  void periodicTaskRunsEveryPeriodOnTheLoopThread() throws Exception {
    List<String> threads = new CopyOnWriteArrayList<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
            .flushInterval(LINGER).build(),
        Options.builder().name("ticking").timeSource(time)
            .periodic(PERIOD, () -> threads.add(Thread.currentThread().getName())).build())) {
      awaitParked();
      time.advance(PERIOD.minusNanos(1));
      awaitParked();
      assertThat(threads).isEmpty();
      time.advance(1, TimeUnit.NANOSECONDS);
      await().atMost(WAIT).until(() -> threads.size() == 1);
      awaitParked();
      time.advance(PERIOD);
      await().atMost(WAIT).until(() -> threads.size() == 2);
      assertThat(threads).containsOnly("ticking");
      assertThat(buffer.isClosed()).isFalse();
    }
  }

  @Test
  void periodicTaskNeverRunsDuringAFlushAndSkipsMissedPeriods() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    FlushFunc<String> flush = batch -> {
      events.add("flush started");
      gate.await();
      events.add("flush returned");
    };
    AtomicInteger runs = new AtomicInteger();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1)
            .flushInterval(LINGER).build(),
        Options.builder().timeSource(time).periodic(PERIOD, () -> {
          runs.incrementAndGet();
          events.add("task");
        }).build())) {
      buffer.add("a");
      await().atMost(WAIT).until(() -> events.contains("flush started"));
      time.advance(PERIOD.multipliedBy(3));
      assertThat(runs).hasValue(0);
      gate.countDown();
      await().atMost(WAIT).until(() -> runs.get() == 1);
      awaitParked();
      assertThat(runs).as("missed periods are skipped, not caught up").hasValue(1);
      assertThat(events).containsExactly("flush started", "flush returned", "task");
    }
  }

  @Test
  void periodicTaskWaitsForFlushesRunningOffTheLoop() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    FlushFunc<String> flush = batch -> {
      events.add("flush started");
      gate.await();
      events.add("flush returned");
    };
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1)
            .flushInterval(LINGER).build(),
        Options.builder().timeSource(time).maxInFlight(2)
            .periodic(PERIOD, () -> events.add("task")).build())) {
      buffer.add("a");
      await().atMost(WAIT).until(() -> events.contains("flush started"));
      awaitParked();
      time.advance(PERIOD);
      gate.countDown();
      await().atMost(WAIT).until(() -> events.contains("task"));
      assertThat(events).containsExactly("flush started", "flush returned", "task");
    }
  }

  @Test
  void periodicTaskRunsOnceMoreAfterTheFinalFlushOfClose() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder((List<String> batch) ->
            events.add("flush " + batch)).capacity(10).flushInterval(LINGER).build(),
        Options.builder().timeSource(time).periodic(PERIOD, () -> events.add("task")).build());
    buffer.add("a");
    buffer.close();
    assertThat(events).containsExactly("flush [a]", "task");
  }

  @Test
  void asyncPeriodicTaskRunsOffTheLoopAndNeverOverlapsItself() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    List<String> threads = new CopyOnWriteArrayList<>();
    AtomicInteger passes = new AtomicInteger(); // a sync marker: the loop has handled a period
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
            .flushInterval(LINGER).build(),
        Options.builder().name("async-owner").timeSource(time)
            .periodicAsync(PERIOD, () -> {
              threads.add(Thread.currentThread().getName());
              release.await();
            })
            .periodic(PERIOD, passes::incrementAndGet).build())) {
      awaitParked();
      time.advance(PERIOD);
      await().atMost(WAIT).until(() -> threads.size() == 1 && passes.get() == 1);
      awaitParked();
      time.advance(PERIOD); // the first run still holds the latch: this period is skipped
      await().atMost(WAIT).until(() -> passes.get() == 2);
      assertThat(threads).hasSize(1);
      release.countDown();
      // Once the first run has ended (the loop sees it at some period), the next one starts.
      await().atMost(WAIT).until(() -> {
        time.advance(PERIOD);
        return threads.size() >= 2; // a fast second run may be followed by a third
      });
      assertThat(threads).allSatisfy(t -> assertThat(t).isEqualTo("async-owner-periodic"));
      assertThat(buffer.stats().hookErrors()).isZero();
    }
  }

  @Test
  void closeWaitsForARunningAsyncTaskAndStartsNoMore() throws Exception {
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger runs = new AtomicInteger();
    Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
            .flushInterval(LINGER).build(),
        Options.builder().timeSource(time).periodicAsync(PERIOD, () -> {
          runs.incrementAndGet();
          started.countDown();
          release.await();
          events.add("task finished");
        }).build());
    awaitParked();
    time.advance(PERIOD);
    started.await();
    Thread closer = Thread.ofVirtual().start(() -> {
      buffer.close();
      events.add("closed");
    });
    await().atMost(WAIT).until(() -> buffer.stats().state() == BufferStats.State.CLOSING);
    assertThat(events).isEmpty();
    release.countDown();
    closer.join();
    assertThat(events).containsExactly("task finished", "closed");
    assertThat(runs).hasValue(1);
  }

  @Test
  void throwingPeriodicTaskIsCountedLoggedAndRunsAgain() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
            .flushInterval(LINGER).build(),
        Options.builder().name("hook-probe").timeSource(time).periodic(PERIOD, () -> {
          runs.incrementAndGet();
          throw new IOException("fsync failed");
        }).build())) {
      awaitParked();
      time.advance(PERIOD);
      await().atMost(WAIT).until(() -> runs.get() == 1);
      awaitParked();
      time.advance(PERIOD);
      await().atMost(WAIT).until(() -> runs.get() == 2);
      await().atMost(WAIT).until(() -> buffer.stats().hookErrors() == 2);
      buffer.add("still works");
    }
    assertThat(RecordingLoggerFinder.linesContaining("hook-probe: a periodic task threw"))
        .hasSize(1);
  }

  @Test
  void keyedBufferRunsPeriodicTasksToo() throws Exception {
    AtomicInteger sync = new AtomicInteger();
    AtomicInteger async = new AtomicInteger();
    KeyedBuffer<String, String> keyed = KeyedBuffer.<String, String>builder(s -> s,
            (key, batch) -> {}).timeSource(time).keyIdleTimeout(Duration.ofHours(1))
        .periodic(PERIOD, sync::incrementAndGet).periodicAsync(PERIOD, async::incrementAndGet)
        .start();
    awaitParked();
    time.advance(PERIOD);
    await().atMost(WAIT).until(() -> sync.get() == 1 && async.get() == 1);
    keyed.close();
    assertThat(sync).as("once more at close").hasValue(2);
  }

  @Test
  void periodMustBePositive() {
    assertThatThrownBy(() -> Options.builder().periodic(Duration.ZERO, () -> {}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("period").hasMessageContaining("PT0S");
    assertThatThrownBy(() -> Options.builder().periodicAsync(Duration.ofSeconds(-1), () -> {}))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("period");
  }

  @Test
  void scriptedFailuresDoNotStopPeriodicTasks() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
        .thenFail(new IOException("down")).build();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1)
            .flushInterval(LINGER).onFlushError((e, batch) -> {}).build(),
        Options.builder().timeSource(time).periodic(PERIOD, runs::incrementAndGet).build())) {
      buffer.add("a");
      assertThat(flush.awaitCalls(1, WAIT)).singleElement()
          .satisfies(call -> assertThat(call.succeeded()).isFalse());
      awaitParked();
      time.advance(PERIOD);
      await().atMost(WAIT).until(() -> runs.get() == 1);
      assertThat(buffer.isClosed()).as("the failed flush did not stop the buffer").isFalse();
    }
  }

  @Test
  void closeFromAnAsyncPeriodicTaskDoesNotDeadlock() throws Exception {
    java.util.concurrent.atomic.AtomicReference<Buffer<String>> self =
        new java.util.concurrent.atomic.AtomicReference<>();
    CountDownLatch closedFromTask = new CountDownLatch(1);
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(100)
            .flushInterval(LINGER).build(),
        Options.builder().timeSource(time).periodicAsync(PERIOD, () -> {
          self.get().close(); // starts the close and returns: the loop waits for this task
          closedFromTask.countDown();
        }).build());
    self.set(buffer);
    buffer.add("a");
    awaitParked();
    time.advance(PERIOD);
    closedFromTask.await();
    buffer.close(); // the loop drains, waits for the finished task, and ends
    assertThat(flush.items()).containsExactly("a");
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }
}
