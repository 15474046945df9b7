package dev.batchbuffer;

import static dev.batchbuffer.Fixture.awaitOpen;
import static dev.batchbuffer.Fixture.closeWithin;
import static dev.batchbuffer.Fixture.soon;
import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The loop ({@code internal.Loop}) through both buffer kinds, on a manual clock that starts two
 * seconds before it wraps (the loop compares its times by difference): when a partial batch's
 * linger ends, which arrivals wake a sleeping loop (a count, a byte limit, a heavy item, a custom
 * condition, a memory bound, half the channel), what the stats say about the batches, what a
 * flush() request and a close do, how a keyed loop orders its deadlines and caps its keys and
 * items, sweeps idle keys and survives its key function, and how it gives up after a fatal error
 * (in acceptance order, without running policies, failing the flush() requests it met).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LoopTest {
  static final long START = Long.MAX_VALUE - Duration.ofSeconds(2).toNanos();
  /** Buffer names are unique in the JVM, so a log line found is this run's. */
  static final AtomicInteger NAMES = new AtomicInteger();

  static String uniqueName(String prefix) {
    return prefix + "-" + NAMES.incrementAndGet();
  }

  final ManualTimeSource time = new ManualTimeSource(START);
  final Fixture fixture = new Fixture();
  final Fixture.Recorder recorder = new Fixture.Recorder();
  final List<String> rejected = new CopyOnWriteArrayList<>();

  @AfterEach
  void cleanUp() throws Exception {
    fixture.releaseAndClose();
  }

  Options.Builder<String> options() {
    return Options.<String>builder().timeSource(time).listener(recorder);
  }

  Buffer<String> plain(Config.Builder<String> config, Options.Builder<String> options) {
    return fixture.closeLater(Buffer.start(config.onReject(rejected::add).build(), options.build()));
  }

  Buffer<String> plain(Config.Builder<String> config) {
    return plain(config, options());
  }

  Config.Builder<String> config() {
    return Config.builder(recorder.flush).flushInterval(HOURS).chanSize(100);
  }

  KeyedBuffer.Builder<String, String> keyed() {
    return KeyedBuffer.<String, String>builder(s -> s.substring(0, 1), recorder.keyed)
        .timeSource(time).listener(recorder).flushInterval(HOURS).chanSize(100)
        .onReject(rejected::add);
  }

  KeyedBuffer<String, String> start(KeyedBuffer.Builder<String, String> builder) {
    return fixture.closeLater(builder.start());
  }

  static long length(String s) {
    return s.length();
  }

  /** After the loop took what was added and parked (with a deadline: its batch is partial). */
  void awaitParkedWithABatch(BufferFace<String> buffer) throws Exception {
    soon().until(() -> buffer.itemsInChannel() == 0);
    time.awaitTimedWaiters(1, WAIT);
  }

  void advance(Duration d) throws Exception {
    time.advance(d);
  }

  // ---- a plain buffer ---------------------------------------------------------------------------

  @Test
  void aPartialBatchIsFlushedWhenItsLingerEndsAndNotBefore() throws Exception {
    Buffer<String> buffer = plain(config().flushInterval(Duration.ofSeconds(1)));
    buffer.add("a");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    advance(Duration.ofMillis(999));
    time.awaitTimedWaiters(1, WAIT);
    assertThat(recorder.flushes).isEmpty();
    assertThat(buffer.stats().oldestItemAge()).isEqualTo(Duration.ofMillis(999));
    advance(Duration.ofMillis(1)); // across the wrap of the clock
    assertThat(recorder.awaitFlushes(1)).containsExactly("TIME [a]");
    soon().until(() -> buffer.stats().oldestItemAge().isZero());
  }

  @Test
  void statsShowTheBytesAndAgeOfThePartialBatchAndCloseFlushesAndClearsThem() throws Exception {
    Buffer<String> buffer = plain(config().policy(FlushPolicy.bytes(LoopTest::length, 100)));
    buffer.add("abcde");
    soon().until(() -> buffer.stats().bytesWaiting() == 5);
    advance(Duration.ofSeconds(3));
    assertThat(buffer.stats().oldestItemAge()).isEqualTo(Duration.ofSeconds(3));
    closeWithin(buffer);
    assertThat(recorder.flushes).containsExactly("CLOSE [abcde]");
    BufferStats stats = buffer.stats();
    assertThat(stats.state()).isEqualTo(BufferStats.State.CLOSED);
    assertThat(stats.bytesWaiting()).isZero();
    assertThat(stats.oldestItemAge()).isZero();
    assertThat(stats.flushed()).isEqualTo(1);
  }

  @Test
  void aFlushRequestFlushesThePartialBatchAndCompletes() throws Exception {
    Buffer<String> buffer = plain(config().capacity(10));
    buffer.add("a");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    buffer.add("b"); // the loop waits for 9 arrivals: the request must wake it
    buffer.flush().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(recorder.flushes).containsExactly("EXPLICIT [a, b]");
    assertThat(buffer.stats().flushes(FlushReason.EXPLICIT)).isEqualTo(1);
  }

  /**
   * The request's future completes before the loop's turn ends (here the turn goes on to run a
   * periodic task, held): the stats read then must already show the batch flushed.
   */
  @Test
  void statsReadWhenAFlushRequestCompletesShowTheBatchGoneEvenWhileTheLoopIsBusy()
      throws Exception {
    CountDownLatch firstRun = fixture.latch();
    CountDownLatch releaseFirst = fixture.latch();
    CountDownLatch secondRun = fixture.latch();
    CountDownLatch releaseSecond = fixture.latch();
    AtomicInteger runs = new AtomicInteger();
    Buffer<String> buffer = plain(config().capacity(10),
        options().periodic(Duration.ofSeconds(1), () -> {
          if (runs.incrementAndGet() == 1) {
            firstRun.countDown();
            awaitOpen(releaseFirst);
          } else {
            secondRun.countDown();
            awaitOpen(releaseSecond);
          }
        }));
    buffer.add("a");
    soon().until(() -> buffer.itemsInChannel() == 0);
    advance(Duration.ofSeconds(1));
    awaitOpen(firstRun); // the loop runs the task: what comes now waits in the channel
    CompletableFuture<Void> request = buffer.flush();
    advance(Duration.ofSeconds(1)); // the task is due again in the loop's next turn
    releaseFirst.countDown();
    request.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    awaitOpen(secondRun);
    assertThat(recorder.flushes).containsExactly("EXPLICIT [a]");
    assertThat(buffer.stats().oldestItemAge()).isZero();
  }

  /**
   * The loop publishes the slots it emptied at the end of each turn: read while that turn runs a
   * (held) periodic task, the channel must be empty.
   */
  @Test
  void theChannelReadsEmptyOnceTheLoopHasTakenItsItems() throws Exception {
    CountDownLatch firstRun = fixture.latch();
    CountDownLatch releaseFirst = fixture.latch();
    CountDownLatch secondRun = fixture.latch();
    CountDownLatch releaseSecond = fixture.latch();
    AtomicInteger runs = new AtomicInteger();
    Buffer<String> buffer = plain(config().capacity(10),
        options().periodic(Duration.ofSeconds(1), () -> {
          if (runs.incrementAndGet() == 1) {
            firstRun.countDown();
            awaitOpen(releaseFirst);
          } else {
            secondRun.countDown();
            awaitOpen(releaseSecond);
          }
        }));
    time.awaitTimedWaiters(1, WAIT);
    advance(Duration.ofSeconds(1));
    awaitOpen(firstRun);
    buffer.add("x");
    buffer.add("y");
    buffer.add("z");
    advance(Duration.ofSeconds(1));
    releaseFirst.countDown();
    awaitOpen(secondRun); // the turn that took x, y, z runs the task again
    assertThat(buffer.itemsInChannel()).isZero();
    assertThat(buffer.stats().itemsWaiting()).isEqualTo(3);
  }

  @Test
  void aCountOnlyBatchIsFlushedOnceEnoughItemsArrivedForIt() throws Exception {
    Buffer<String> buffer = plain(config().capacity(4));
    buffer.add("a1");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    buffer.add("a2");
    buffer.add("a3");
    buffer.add("a4");
    assertThat(recorder.awaitFlushes(1)).containsExactly("COUNT [a1, a2, a3, a4]");
  }

  @Test
  void aLoopWaitingForManyArrivalsWakesOnceHalfTheChannelIsFull() throws Exception {
    Buffer<String> buffer = plain(config().capacity(100).chanSize(10));
    buffer.add("x0");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    for (int i = 1; i <= 5; i++) {
      buffer.add("x" + i);
    }
    soon().until(() -> buffer.itemsInChannel() == 0);
    assertThat(buffer.stats().itemsWaiting()).isEqualTo(6);
  }

  @Test
  void producersWakeTheLoopWhenLightItemsCanFillTheBatchsBytes() throws Exception {
    Buffer<String> buffer = plain(config().policy(FlushPolicy.bytes(LoopTest::length, 10)));
    buffer.add("aa");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    for (String s : List.of("bb", "cc", "dd", "ee")) {
      buffer.add(s);
    }
    assertThat(recorder.awaitFlushes(1)).containsExactly("BYTES [aa, bb, cc, dd, ee]");
  }

  @Test
  void producersWakeTheLoopWhenLightItemsCanOverflowTheBatch() throws Exception {
    FlushPolicy<String> bytes = FlushPolicy.bytes(LoopTest::length, 10);
    Buffer<String> buffer = plain(config().capacity(100).willOverflow(bytes.asWillOverflow()));
    buffer.add("aa");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    for (String s : List.of("bb", "cc", "dd", "ee", "ff")) {
      buffer.add(s);
    }
    assertThat(recorder.awaitFlushes(1)).containsExactly("OVERFLOW [aa, bb, cc, dd, ee]");
  }

  /** A way an item comes in. */
  @FunctionalInterface
  interface Way {
    void add(Buffer<String> buffer, String item) throws Exception;
  }

  /** Whichever way it comes in: add, offer, offer with a timeout. */
  @Test
  void aHeavyItemWakesTheLoopAtOnce() throws Exception {
    List<Way> ways = List.of(
        (buffer, item) -> buffer.add(item),
        (buffer, item) -> assertThat(buffer.offer(item)).isTrue(),
        (buffer, item) -> assertThat(buffer.offer(item, Duration.ofSeconds(1))).isTrue());
    for (int way = 0; way < ways.size(); way++) {
      Buffer<String> buffer = plain(config().policy(FlushPolicy.bytes(LoopTest::length, 10)));
      buffer.add("a" + way);
      awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
      ways.get(way).add(buffer, "bbbbbbbb");
      assertThat(recorder.awaitFlushes(way + 1)).as("way %s", way)
          .endsWith("BYTES [a" + way + ", bbbbbbbb]");
    }
  }

  @Test
  void anItemItsProducerCouldNotWeighWakesTheLoop() throws Exception {
    Buffer<String> buffer = plain(config().policy(FlushPolicy.bytes(s -> {
      if (s.equals("boom")) {
        throw new IllegalStateException("cannot weigh");
      }
      return s.length();
    }, 10)));
    buffer.add("a");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    buffer.add("boom");
    soon().until(() -> rejected.equals(List.of("boom")));
  }

  @Test
  void everyArrivalWakesTheLoopWhenACustomConditionMayEndTheBatch() throws Exception {
    Buffer<String> buffer = plain(config().capacity(100).shouldFlush(b -> b.contains("go")));
    buffer.add("x");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    buffer.add("go");
    assertThat(recorder.awaitFlushes(1)).containsExactly("CONDITION [x, go]");
  }

  @Test
  void everyArrivalWakesTheLoopUnderAMemoryBound() throws Exception {
    Buffer<String> buffer = plain(config().capacity(10),
        options().maxBufferedBytes(s -> 1L, 1_000));
    buffer.add("a");
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    buffer.add("b");
    soon().until(() -> buffer.itemsInChannel() == 0);
  }

  @Test
  void aFlushFinishedOnItsOwnThreadIsSettledWhileTheLoopSleeps() throws Exception {
    Buffer<String> buffer = plain(config().capacity(1), options().maxInFlight(2));
    CompletableFuture<Void> a = buffer.submit("a");
    a.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(buffer.stats().flushed()).isEqualTo(1);
  }

  @Test
  void closeWaitsForAFlushStillRunningOnItsOwnThread() throws Exception {
    CountDownLatch started = fixture.latch();
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    FlushFunc<String> flush = batch -> {
      started.countDown();
      soon().until(() -> self.get().isClosed()); // returns once close has begun
      recorder.flush.flush(batch);
    };
    Buffer<String> buffer = fixture.closeLater(Buffer.start(Config.builder(flush).capacity(1)
        .flushInterval(HOURS).build(), options().maxInFlight(2).build()));
    self.set(buffer);
    buffer.add("a");
    awaitOpen(started);
    closeWithin(buffer);
    assertThat(recorder.flushes).containsExactly("COUNT [a]");
    assertThat(buffer.stats().flushed()).isEqualTo(1);
  }

  /**
   * flush() waits, on the loop, for the flushes running on their own threads; the slots taken so
   * far (the request's own among them) must be free meanwhile, or a producer waits for nothing.
   * The channel of 16 publishes its emptied slots every second element otherwise.
   */
  @Test
  void aProducerGetsTheSlotOfAFlushRequestWhileTheLoopWaitsForRunningFlushes() throws Exception {
    CountDownLatch started = fixture.latch();
    CountDownLatch release = fixture.latch();
    FlushFunc<String> flush = batch -> {
      if (batch.contains("a")) {
        started.countDown();
        awaitOpen(release);
      }
    };
    Buffer<String> buffer = fixture.closeLater(Buffer.start(Config.builder(flush).capacity(1)
        .chanSize(16).flushInterval(HOURS).build(), options().maxInFlight(2).build()));
    buffer.add("a");
    awaitOpen(started);
    CompletableFuture<Void> request = buffer.flush();
    Async.run(() -> {
      for (int i = 0; i < 16; i++) {
        buffer.add("b" + i);
      }
    }).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(request).isNotDone();
    release.countDown();
    request.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Test
  void anInterruptACallbackLeftOnTheLoopIsClearedBeforeItSleeps() throws Exception {
    CountingClock clock = new CountingClock();
    FlushFunc<String> flush = batch -> Thread.currentThread().interrupt();
    Buffer<String> buffer = fixture.closeLater(Buffer.start(Config.builder(flush).capacity(1)
        .flushInterval(HOURS).build(), Options.<String>builder().timeSource(clock).build()));
    buffer.add("a");
    soon().until(() -> buffer.stats().flushed() == 1);
    clock.time.awaitWaiters(1, WAIT);
    assertThat(clock.interruptedParks.get()).isZero();
  }

  @Test
  void theLingerAndAPeriodicTaskEachWakeTheLoopWhicheverComesFirst() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    Buffer<String> buffer = plain(config().flushInterval(Duration.ofSeconds(1)),
        options().periodic(Duration.ofSeconds(3), runs::incrementAndGet));
    buffer.add("a"); // lingers until 1 s, the task is due at 3 s
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    advance(Duration.ofSeconds(1));
    assertThat(recorder.awaitFlushes(1)).containsExactly("TIME [a]");
    time.awaitTimedWaiters(1, WAIT);
    advance(Duration.ofMillis(1500));
    time.awaitTimedWaiters(1, WAIT);
    buffer.add("b"); // lingers until 3.5 s
    awaitParkedWithABatch(BufferFace.of(buffer, "plain"));
    advance(Duration.ofMillis(500));
    soon().until(() -> runs.get() == 1);
    assertThat(recorder.flushes).hasSize(1);
  }

  @Test
  void aPeriodicTaskRunsOnceMoreAtCloseUnlessTheBufferGaveUp() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    Buffer<String> buffer = plain(config(), options().periodic(HOURS, runs::incrementAndGet));
    closeWithin(buffer);
    assertThat(runs.get()).isEqualTo(1);
  }

  // ---- when the loop wakes ----------------------------------------------------------------------

  /**
   * A manual clock that keeps the deadline of the last park on it (only the loop parks on it in
   * these tests): the manual clock wakes every parked thread when it moves, so only the deadline
   * tells whether the loop would wake in time on a real clock.
   */
  static final class DeadlineClock implements TimeSource {
    static final long UNTIMED = Long.MIN_VALUE;
    final ManualTimeSource time = new ManualTimeSource(Duration.ofSeconds(1000).toNanos());
    volatile long lastDeadline = UNTIMED;

    @Override
    public long nanoTime() {
      return time.nanoTime();
    }

    @Override
    public void park(Object blocker) {
      lastDeadline = UNTIMED;
      time.park(blocker);
    }

    @Override
    public void parkNanos(Object blocker, long nanos) {
      parkUntil(blocker, time.nanoTime() + nanos);
    }

    @Override
    public void parkUntil(Object blocker, long deadline) {
      lastDeadline = deadline;
      time.parkUntil(blocker, deadline);
    }

    /** Waits until the loop parks with a deadline and returns it, relative to now. */
    Duration awaitParkedFor() throws Exception {
      time.awaitTimedWaiters(1, WAIT);
      return Duration.ofNanos(lastDeadline - time.nanoTime());
    }
  }

  @Test
  void aKeyedLoopSleepsUntilTheEarlierOfItsFirstDeadlineAndItsNextSweep() throws Exception {
    DeadlineClock clock = new DeadlineClock();
    KeyedBuffer<String, String> buffer = start(keyed().timeSource(clock)
        .flushInterval(Duration.ofSeconds(1)).keyIdleTimeout(Duration.ofSeconds(10))
        .policy(key -> FlushPolicy.count(key.equals("a") ? 1 : 10)));
    buffer.add("b1");
    assertThat(clock.awaitParkedFor()).as("the linger").isEqualTo(Duration.ofSeconds(1));
    clock.time.advance(Duration.ofSeconds(1));
    recorder.awaitFlushes(1);
    assertThat(clock.awaitParkedFor()).as("every key idle: the sweep")
        .isEqualTo(Duration.ofSeconds(9));
  }

  @Test
  void aLoopWithPeriodicTasksSleepsUntilTheEarlierOfTheLingerAndTheNextTask() throws Exception {
    DeadlineClock clock = new DeadlineClock();
    Buffer<String> buffer = plain(config().flushInterval(Duration.ofSeconds(1)),
        options().timeSource(clock).periodic(Duration.ofSeconds(3), () -> { }));
    assertThat(clock.awaitParkedFor()).as("no batch: the task").isEqualTo(Duration.ofSeconds(3));
    buffer.add("a");
    soon().until(() -> buffer.itemsInChannel() == 0 && clock.lastDeadline
        == clock.time.nanoTime() + Duration.ofSeconds(1).toNanos());
    clock.time.advance(Duration.ofMillis(2500));
    recorder.awaitFlushes(1);
    buffer.add("b");
    soon().until(() -> buffer.itemsInChannel() == 0 && clock.lastDeadline
        == clock.time.nanoTime() + Duration.ofMillis(500).toNanos());
  }

  // ---- a failing clock: the loop's own defect ---------------------------------------------------

  /** A manual clock that throws on the loop thread (named after its buffer) when told to. */
  static final class FailingClock implements TimeSource {
    final ManualTimeSource time = new ManualTimeSource(START);
    final String loopName;
    final AtomicInteger failures = new AtomicInteger();
    /** Readings of the loop that succeed before the failures start. */
    final AtomicInteger passes = new AtomicInteger();

    FailingClock(String loopName) {
      this.loopName = loopName;
    }

    @Override
    public long nanoTime() {
      if (Thread.currentThread().getName().equals(loopName)
          && passes.getAndUpdate(n -> n > 0 ? n - 1 : n) == 0
          && failures.getAndUpdate(n -> n > 0 ? n - 1 : n) != 0) {
        throw new IllegalStateException("clock failed");
      }
      return time.nanoTime();
    }

    @Override
    public void park(Object blocker) {
      time.park(blocker);
    }

    @Override
    public void parkNanos(Object blocker, long nanos) {
      time.parkNanos(blocker, nanos);
    }

    @Override
    public void parkUntil(Object blocker, long deadline) {
      time.parkUntil(blocker, deadline);
    }
  }

  @Test
  void aFailureOfTheLoopItselfStopsTheBufferWhichGivesUpWhatItHeld() throws Exception {
    String name = uniqueName("loop-defect");
    FailingClock clock = new FailingClock(name);
    Buffer<String> buffer = plain(config().capacity(10), options().name(name).timeSource(clock)
        .maxBufferedBytes(s -> 1L, 100));
    buffer.add("a");
    soon().until(() -> buffer.itemsInChannel() == 0);
    clock.failures.set(1);
    buffer.add("b"); // every arrival wakes the loop: it takes b, then reads the clock
    soon().until(() -> buffer.stats().state() == BufferStats.State.FAILED);
    CloseResult<String> result = Async.call(() -> buffer.close(HOURS))
        .get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(result.undelivered()).containsExactly("a", "b");
    assertThat(recorder.flushes).isEmpty();
  }

  /**
   * Closed with a partial batch, the loop reads the clock once more in its last turn, then fails
   * on the final flush: the buffer reports that failure (FAILED, a log line), it does not say it
   * closed cleanly.
   */
  @Test
  void aLoopThatFailsWhileClosingStopsTheBufferAndLogsThatItsItemsAreLost() throws Exception {
    String name = uniqueName("loop-defect");
    FailingClock clock = new FailingClock(name);
    Buffer<String> buffer = plain(config().capacity(10), options().name(name).timeSource(clock));
    buffer.add("a");
    soon().until(() -> buffer.itemsInChannel() == 0);
    clock.time.awaitTimedWaiters(1, WAIT);
    clock.passes.set(1);
    clock.failures.set(-1); // for ever
    closeWithin(buffer);
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.FAILED);
    assertThat(RecordingLoggerFinder.LINES).anySatisfy(line -> assertThat(line.message())
        .isEqualTo(name + ": the loop failed while closing; items still in the buffer are lost"));
    assertThat(recorder.flushes).isEmpty();
  }

  // ---- giving up after a fatal error ------------------------------------------------------------

  /**
   * A periodic task throws a fatal error while the loop holds a partial batch and the channel
   * holds an item and two flush() requests: the batch and then the channel's item are given up in
   * acceptance order (no policy runs on the item: canAdd would refuse it), the first request fails
   * naming what was given up since the previous one, the second for the loss before it, and the
   * stopped buffer reads an empty channel and logs why it stopped.
   */
  @Test
  void afterAFatalErrorTheBatchAndTheChannelAreGivenUpInOrderAndTheRequestsFail()
      throws Exception {
    CountDownLatch running = fixture.latch();
    CountDownLatch release = fixture.latch();
    AtomicInteger runs = new AtomicInteger();
    String name = uniqueName("loop-fatal");
    Buffer<String> buffer = plain(config().capacity(10).canAdd((b, s) -> !s.equals("y")),
        options().name(name).periodic(Duration.ofSeconds(1), () -> {
          runs.incrementAndGet();
          running.countDown();
          awaitOpen(release);
          throw new InternalError("simulated");
        }));
    buffer.add("x");
    soon().until(() -> buffer.itemsInChannel() == 0);
    advance(Duration.ofSeconds(1));
    awaitOpen(running);
    CompletableFuture<Void> y = buffer.submit("y");
    CompletableFuture<Void> first = buffer.flush();
    CompletableFuture<Void> second = buffer.flush();
    release.countDown();
    CloseResult<String> result = Async.call(() -> buffer.close(HOURS))
        .get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(result.undelivered()).containsExactly("x", "y");
    assertThat(result.drained()).isFalse();
    assertThat(rejected).isEmpty();
    assertThat(recorder.flushes).isEmpty();
    assertThat(runs.get()).as("no last run after giving up").isEqualTo(1);
    assertThat(failure(y)).hasMessage("the buffer stopped before the item was delivered")
        .satisfies(e -> assertThat(e.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED));
    assertThat(failure(first))
        .hasMessage("2 items were given up undelivered since the previous flush()");
    assertThat(failure(second))
        .hasMessage("the buffer gave up on items accepted before this flush()")
        .satisfies(e -> assertThat(e.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED));
    assertThat(buffer.itemsInChannel()).isZero();
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.FAILED);
    assertThat(RecordingLoggerFinder.LINES).anySatisfy(line -> {
      assertThat(line.message()).startsWith(name + ": a callback threw a fatal error; the "
          + "buffer stopped.");
      assertThat(line.level()).isEqualTo(System.Logger.Level.ERROR);
    });
  }

  static DeliveryException failure(CompletableFuture<Void> future) throws Exception {
    try {
      future.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof DeliveryException d) {
        return d;
      }
      throw new AssertionError("failed with " + e.getCause(), e);
    }
    throw new AssertionError("completed normally");
  }

  // ---- a keyed buffer ---------------------------------------------------------------------------

  /**
   * Keys take their first items in an order that is not their deadlines' (the second key's
   * policy has a shorter age), and the deadlines straddle the wrap of the clock.
   */
  @Test
  void eachKeysBatchIsFlushedAtItsOwnDeadlineInDeadlineOrder() throws Exception {
    KeyedBuffer<String, String> buffer = start(keyed().flushInterval(Duration.ofSeconds(1))
        .policy(key -> key.equals("a")
            ? FlushPolicy.<String>bytes(LoopTest::length, 100).or(FlushPolicy.age(
                Duration.ofMillis(400)))
            : FlushPolicy.bytes(LoopTest::length, 100)));
    BufferFace<String> face = BufferFace.of(buffer, "keyed");
    advance(Duration.ofMillis(1500));
    buffer.add("c1"); // due at 2.5 s
    awaitParkedWithABatch(face);
    advance(Duration.ofMillis(300));
    buffer.add("a12"); // due at 2.2 s
    awaitParkedWithABatch(face);
    advance(Duration.ofMillis(300));
    buffer.add("b1234"); // due at 3.1 s
    awaitParkedWithABatch(face);
    assertThat(buffer.stats().bytesWaiting()).isEqualTo(10);
    assertThat(buffer.stats().oldestItemAge()).isEqualTo(Duration.ofMillis(600));
    advance(Duration.ofMillis(100));
    assertThat(recorder.awaitFlushes(1)).containsExactly("TIME a=[a12]");
    awaitParkedWithABatch(face);
    assertThat(buffer.stats().bytesWaiting()).isEqualTo(7);
    assertThat(buffer.stats().oldestItemAge()).isEqualTo(Duration.ofMillis(700));
    advance(Duration.ofMillis(300));
    assertThat(recorder.awaitFlushes(2)).containsExactly("TIME a=[a12]", "TIME c=[c1]");
    awaitParkedWithABatch(face);
    assertThat(buffer.stats().bytesWaiting()).isEqualTo(5);
    assertThat(buffer.stats().oldestItemAge()).isEqualTo(Duration.ofMillis(400));
    advance(Duration.ofMillis(600));
    assertThat(recorder.awaitFlushes(3)).containsExactly("TIME a=[a12]", "TIME c=[c1]", "TIME b=[b1234]");
    soon().until(() -> buffer.stats().bytesWaiting() == 0);
    assertThat(buffer.stats().oldestItemAge()).isZero();
  }

  @Test
  void aDeadlineOfAFlushedBatchIsDroppedAndTheKeysNextBatchKeepsItsOwn() throws Exception {
    KeyedBuffer<String, String> buffer = start(keyed().flushInterval(Duration.ofSeconds(1))
        .policy(FlushPolicy.count(2)));
    BufferFace<String> face = BufferFace.of(buffer, "keyed");
    buffer.add("a1");
    buffer.add("a2");
    assertThat(recorder.awaitFlushes(1)).containsExactly("COUNT a=[a1, a2]");
    advance(Duration.ofMillis(500));
    buffer.add("a3");
    awaitParkedWithABatch(face);
    advance(Duration.ofMillis(500)); // the first batch's deadline: stale
    time.awaitTimedWaiters(1, WAIT);
    assertThat(recorder.flushes).hasSize(1);
    advance(Duration.ofMillis(500));
    assertThat(recorder.awaitFlushes(2)).containsExactly("COUNT a=[a1, a2]", "TIME a=[a3]");
  }

  @Test
  void aKeyedLoopWakesForTheLingerBeforeItsIdleSweep() throws Exception {
    KeyedBuffer<String, String> buffer = start(keyed().flushInterval(Duration.ofSeconds(1))
        .keyIdleTimeout(Duration.ofSeconds(10)));
    buffer.add("a1");
    awaitParkedWithABatch(BufferFace.of(buffer, "keyed"));
    advance(Duration.ofSeconds(1));
    assertThat(recorder.awaitFlushes(1)).containsExactly("TIME a=[a1]");
  }

  @Test
  void withEveryKeyIdleTheOneUsedLongestAgoMakesRoomForANewKey() throws Exception {
    List<String> policies = new CopyOnWriteArrayList<>();
    KeyedBuffer<String, String> buffer = start(keyed().maxKeys(2).policy(key -> {
      policies.add(key);
      return FlushPolicy.count(1);
    }));
    buffer.add("a1");
    recorder.awaitFlushes(1);
    advance(Duration.ofSeconds(1));
    buffer.add("b1");
    recorder.awaitFlushes(2);
    buffer.add("c1"); // a was used longest ago
    recorder.awaitFlushes(3);
    assertThat(buffer.liveKeys()).isEqualTo(2);
    buffer.add("b2");
    buffer.add("a2");
    recorder.awaitFlushes(5);
    assertThat(policies).containsExactly("a", "b", "c", "a");
    assertThat(buffer.stats().flushes(FlushReason.PRESSURE)).isZero();
  }

  @Test
  void anIdleKeyMakesRoomBeforeALiveOne() throws Exception {
    KeyedBuffer<String, String> buffer = start(keyed().maxKeys(2).policy(FlushPolicy.count(2)));
    buffer.add("a1"); // live
    buffer.add("b1");
    buffer.add("b2"); // flushed: b is idle
    recorder.awaitFlushes(1);
    buffer.add("c1");
    soon().until(() -> buffer.stats().itemsWaiting() == 2
        && buffer.itemsInChannel() == 0);
    assertThat(recorder.flushes).containsExactly("COUNT b=[b1, b2]");
    assertThat(buffer.liveKeys()).isEqualTo(2);
  }

  @Test
  void withEveryKeyLiveTheOldestBatchIsFlushedToMakeRoom() throws Exception {
    KeyedBuffer<String, String> buffer = start(keyed().maxKeys(2).policy(FlushPolicy.count(10)));
    BufferFace<String> face = BufferFace.of(buffer, "keyed");
    buffer.add("a1");
    awaitParkedWithABatch(face);
    advance(Duration.ofMillis(1));
    buffer.add("b1");
    buffer.add("a2");
    awaitParkedWithABatch(face);
    advance(Duration.ofMillis(1));
    buffer.add("c1");
    assertThat(recorder.awaitFlushes(1)).containsExactly("PRESSURE a=[a1, a2]");
    soon().until(() -> buffer.itemsInChannel() == 0);
    assertThat(buffer.liveKeys()).isEqualTo(2);
    closeWithin(buffer);
    assertThat(recorder.flushes).containsExactly("PRESSURE a=[a1, a2]", "CLOSE b=[b1]",
        "CLOSE c=[c1]");
  }

  @Test
  void itemsAboveTheBufferedLimitFlushTheOldestBatches() throws Exception {
    KeyedBuffer<String, String> buffer = start(keyed().maxBufferedItems(2)
        .policy(FlushPolicy.count(10)));
    buffer.add("a1");
    buffer.add("b1");
    soon().until(() -> buffer.itemsInChannel() == 0
        && buffer.stats().itemsWaiting() == 2);
    assertThat(recorder.flushes).isEmpty();
    buffer.add("c1");
    assertThat(recorder.awaitFlushes(1)).containsExactly("PRESSURE a=[a1]");
  }

  @Test
  void anItemWhoseKeyFunctionFailsIsRejectedWithTheReason() throws Exception {
    String name = uniqueName("loop-keyfail");
    KeyedBuffer<String, String> buffer = start(KeyedBuffer.<String, String>builder(s -> {
      if (s.startsWith("!")) {
        throw new IllegalArgumentException("no key");
      }
      return s.substring(0, 1);
    }, recorder.keyed).timeSource(time).name(name).flushInterval(HOURS)
        .onReject(rejected::add));
    CompletableFuture<Void> bad = buffer.submit("!x");
    assertThat(failure(bad)).hasMessage("the key or policy function failed on the item: "
        + "java.lang.IllegalArgumentException: no key")
        .satisfies(e -> assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED));
    soon().until(() -> rejected.equals(List.of("!x"))); // onReject hears it after the future
    assertThat(RecordingLoggerFinder.LINES).anySatisfy(line -> assertThat(line.message())
        .startsWith(name + ": the key or policy function failed; the item is handed to "
            + "onReject"));
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.RUNNING);
  }

  @Test
  void aFatalErrorFromTheKeyFunctionStopsTheBuffer() throws Exception {
    KeyedBuffer<String, String> buffer = start(KeyedBuffer.<String, String>builder(s -> {
      throw new InternalError("simulated");
    }, recorder.keyed).timeSource(time).flushInterval(HOURS).onReject(rejected::add));
    buffer.add("x");
    soon().until(() -> buffer.stats().state() == BufferStats.State.FAILED);
    assertThat(rejected).containsExactly("x");
  }

  /** The channel of 16 publishes its emptied slots every second element otherwise. */
  @Test
  void theKeyFunctionMayBlockWithoutHoldingTheItemsSlot() throws Exception {
    CountDownLatch inside = fixture.latch();
    CountDownLatch release = fixture.latch();
    KeyedBuffer<String, String> buffer = start(KeyedBuffer.<String, String>builder(s -> {
      if (s.equals("slow")) {
        inside.countDown();
        awaitUninterruptibly(release);
      }
      return s.substring(0, 1);
    }, recorder.keyed).timeSource(time).flushInterval(HOURS).chanSize(16));
    buffer.add("slow");
    awaitOpen(inside);
    for (int i = 0; i < 16; i++) {
      assertThat(buffer.offer("x" + i)).as("offer %s", i).isTrue();
    }
    release.countDown();
  }

  @Test
  void theBytesOfAKeyedBufferCountEveryItemOfEveryBatch() throws Exception {
    KeyedBuffer<String, String> buffer = start(keyed()
        .policy(FlushPolicy.bytes(LoopTest::length, 100)));
    buffer.add("a1");
    buffer.add("a22");
    buffer.add("b1");
    soon().until(() -> buffer.stats().bytesWaiting() == 7);
    buffer.flush().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(buffer.stats().bytesWaiting()).isZero();
  }

  /**
   * The idle sweep runs one timeout after the buffer started, then every half timeout from the
   * last sweep; a key is dropped at the first sweep that finds it idle for the timeout. Here the
   * clock starts at 0 and the key is used at 3 s: sweeps at 12 s and 17 s, none at 14 s.
   */
  @Test
  void idleKeysAreSweptEveryHalfTimeoutFromOneTimeoutAfterTheStart() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    List<String> policies = new CopyOnWriteArrayList<>();
    KeyedBuffer<String, String> buffer = start(keyed().timeSource(clock)
        .keyIdleTimeout(Duration.ofSeconds(10)).policy(key -> {
          policies.add(key);
          return FlushPolicy.count(1);
        }));
    clock.advance(Duration.ofSeconds(3));
    buffer.add("a1");
    recorder.awaitFlushes(1);
    clock.awaitTimedWaiters(1, WAIT);
    for (int at : new int[] {9, 12, 14}) {
      clock.advance(Duration.ofSeconds(at).minusNanos(clock.nanoTime()));
      clock.awaitTimedWaiters(1, WAIT);
      assertThat(buffer.liveKeys()).as("at %s s", at).isEqualTo(1);
    }
    clock.advance(Duration.ofSeconds(3));
    soon().until(() -> buffer.liveKeys() == 0);
    assertThat(policies).containsExactly("a");
  }

  /** Keys used at 0 s and 4 s, a live one, and a sweep at 10 s: only the first is dropped. */
  @Test
  void aSweepDropsTheKeysIdleForTheTimeoutAndKeepsTheRecentAndTheLive() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    List<String> policies = new CopyOnWriteArrayList<>();
    KeyedBuffer<String, String> buffer = start(keyed().timeSource(clock)
        .keyIdleTimeout(Duration.ofSeconds(10)).policy(key -> {
          policies.add(key);
          return FlushPolicy.count(key.equals("c") ? 2 : 1);
        }));
    buffer.add("a1");
    buffer.add("c1"); // stays live
    recorder.awaitFlushes(1);
    clock.awaitTimedWaiters(1, WAIT);
    clock.advance(Duration.ofSeconds(4));
    buffer.add("b1");
    recorder.awaitFlushes(2);
    clock.awaitTimedWaiters(1, WAIT);
    clock.advance(Duration.ofSeconds(6)); // a idle exactly 10 s, b 6 s
    clock.awaitTimedWaiters(1, WAIT);
    assertThat(buffer.liveKeys()).isEqualTo(2);
    buffer.add("b2");
    buffer.add("a2");
    recorder.awaitFlushes(4);
    assertThat(policies).containsExactly("a", "c", "b", "a");
  }

  /** For a key function, which may not throw InterruptedException. */
  static void awaitUninterruptibly(CountDownLatch latch) {
    try {
      awaitOpen(latch);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
