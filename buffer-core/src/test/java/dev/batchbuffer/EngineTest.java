package dev.batchbuffer;

import static dev.batchbuffer.Fixture.awaitOpen;
import static dev.batchbuffer.Fixture.closeWithin;
import static dev.batchbuffer.Fixture.soon;
import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The engine ({@code internal.Engine}), the producer side and the lifecycle of both buffer kinds,
 * on the manual clock: admission (a fail-fast per-item limit, the memory bound, a channel slot,
 * each way a wait ends, the bytes given back when the slot is not had), the refusals after close
 * and after a fatal error with their messages and counts, the listener's producer events, the
 * stats' state and blocked producers, and close: waiting for the loop without spinning, from the
 * buffer's own threads, with a timeout that runs out (the give-up and its grace, on the buffer's
 * clock) or that is too long to be one.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class EngineTest {
  final ManualTimeSource time = new ManualTimeSource(LoopTest.START);
  final Fixture fixture = new Fixture();
  final Fixture.Recorder recorder = new Fixture.Recorder();
  final CountDownLatch stuck = fixture.latch();
  final CountDownLatch release = fixture.latch();
  final List<String> events = new CopyOnWriteArrayList<>();
  final String name = LoopTest.uniqueName("engine");

  /** Records the batches; a batch with an item starting with "stuck" waits for {@link #release}. */
  final FlushFunc<String> flush = batch -> {
    if (batch.stream().anyMatch(s -> s.startsWith("stuck"))) {
      stuck.countDown();
      awaitOpen(release);
    }
    recorder.flush.flush(batch);
  };

  /** Hears the producers' waits and the close. */
  final BufferListener<Object> listener = new BufferListener<>() {
    @Override
    public void flushed(FlushInfo info) {
      recorder.flushed(info);
    }

    @Override
    public void producerBlocked(String buffer) {
      events.add("blocked " + buffer);
    }

    @Override
    public void producerUnblocked(String buffer, Duration waited) {
      events.add("unblocked " + buffer + " after " + waited);
    }

    @Override
    public void closed(BufferStats stats) {
      events.add("closed " + stats.state() + " flushed=" + stats.flushed());
    }
  };

  @AfterEach
  void cleanUp() throws Exception {
    fixture.releaseAndClose();
  }

  Config.Builder<String> config() {
    return Config.builder(flush).capacity(1).chanSize(1).flushInterval(HOURS);
  }

  Options.Builder<String> options() {
    return Options.<String>builder().timeSource(time).name(name).listener(listener);
  }

  Buffer<String> start(Config.Builder<String> config, Options.Builder<String> options) {
    return fixture.closeLater(Buffer.start(config.build(), options.build()));
  }

  /** A buffer whose loop is stuck flushing "stuck" and whose channel of one holds "queued". */
  Buffer<String> full(Config.Builder<String> config, Options.Builder<String> options)
      throws Exception {
    Buffer<String> buffer = start(config, options);
    buffer.add("stuck");
    awaitOpen(stuck);
    buffer.add("queued");
    return buffer;
  }

  Buffer<String> full() throws Exception {
    return full(config(), options());
  }

  /** A call on a platform thread of its own, whose state a test can read. */
  record Call<V>(Thread thread, CompletableFuture<V> result) {
    V get() throws Exception {
      return result.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Waits until the thread parks (WAITING or TIMED_WAITING) or ends; fails if it ended. */
    void awaitParked() {
      soon().until(() -> thread.getState() == Thread.State.WAITING
          || thread.getState() == Thread.State.TIMED_WAITING || result.isDone());
      assertThat(result).as("the call returned instead of waiting").isNotDone();
    }
  }

  static Call<Boolean> run(Async.Action action) {
    return call(() -> {
      action.run();
      return true;
    });
  }

  static <V> Call<V> call(Async.Work<V> work) {
    CompletableFuture<V> result = new CompletableFuture<>();
    Thread t = Thread.ofPlatform().daemon().start(() -> {
      try {
        result.complete(work.call());
      } catch (Throwable e) {
        result.completeExceptionally(e);
      }
    });
    return new Call<>(t, result);
  }

  // ---- close --------------------------------------------------------------------------------------

  @Test
  void closeParksUntilTheLastFlushReturnedAndTheListenerHearsTheEnd() throws Exception {
    Buffer<String> buffer = full();
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.RUNNING);
    assertThat(buffer.isClosed()).isFalse();
    assertThat(buffer.itemsInChannel()).isEqualTo(1);
    Call<Boolean> close = run(() -> buffer.close());
    close.awaitParked();
    assertThat(close.thread().getState()).as("parked, not spinning").isEqualTo(Thread.State.WAITING);
    assertThat(buffer.isClosed()).isTrue();
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSING);
    release.countDown();
    close.get();
    assertThat(recorder.flushes).containsExactly("COUNT [stuck]", "COUNT [queued]");
    assertThat(events).containsExactly("closed CLOSED flushed=2");
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }

  @Test
  void aCloserInterruptedWhileWaitingStillWaitsAndKeepsItsInterrupt() throws Exception {
    Buffer<String> buffer = full();
    Call<Boolean> close = call(() -> {
      buffer.close();
      return Thread.currentThread().isInterrupted();
    });
    close.awaitParked();
    close.thread().interrupt();
    close.awaitParked();
    release.countDown();
    assertThat(close.get()).isTrue();
  }

  @Test
  void closeAndCloseWithinATimeoutFromAFlushReturnAtOnce() throws Exception {
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    AtomicReference<CloseResult<String>> within = new AtomicReference<>();
    FlushFunc<String> closing = batch -> {
      self.get().close();
      within.set(self.get().close(HOURS));
      recorder.flush.flush(batch);
    };
    Buffer<String> buffer = start(Config.builder(closing).capacity(1).flushInterval(HOURS),
        options());
    self.set(buffer);
    buffer.add("a");
    soon().until(() -> events.contains("closed CLOSED flushed=1"));
    assertThat(within.get()).isEqualTo(new CloseResult<String>(false, List.of(), true));
    assertThatThrownBy(() -> buffer.add("b")).isInstanceOf(IllegalStateException.class)
        .hasMessage(name + " is closed");
  }

  @Test
  void closeWithinATimeoutWaitsForTheDrainAndSaysItDrained() throws Exception {
    Buffer<String> buffer = full();
    Call<CloseResult<String>> close = call(() -> buffer.close(Duration.ofSeconds(1)));
    time.awaitTimedWaiters(1, WAIT);
    release.countDown();
    assertThat(close.get()).isEqualTo(new CloseResult<String>(true, List.of(), false));
    assertThat(recorder.flushes).containsExactly("COUNT [stuck]", "COUNT [queued]");
  }

  /**
   * The timeout runs out on the buffer's clock, exactly: the buffer gives up (the stuck flush is
   * interrupted and its items and the channel's come back undelivered), and close waits for the
   * loop to end for a grace of 200 ms of that clock.
   */
  @Test
  void closeWithinATimeoutThatRunsOutGivesUpAndWaitsForTheLoopDuringTheGrace()
      throws Exception {
    CountDownLatch interrupted = fixture.latch();
    CountDownLatch finish = fixture.latch();
    FlushFunc<String> interruptible = batch -> {
      if (batch.contains("stuck")) {
        stuck.countDown();
        try {
          awaitOpen(release);
        } catch (InterruptedException e) {
          interrupted.countDown();
          awaitOpen(finish);
          throw e;
        }
      }
      recorder.flush.flush(batch);
    };
    Buffer<String> buffer = full(Config.builder(interruptible).capacity(1).chanSize(1)
        .flushInterval(HOURS), options());
    Call<CloseResult<String>> close = call(() -> buffer.close(Duration.ofSeconds(1)));
    time.awaitTimedWaiters(1, WAIT);
    time.advance(Duration.ofMillis(999));
    time.awaitTimedWaiters(1, WAIT);
    assertThat(interrupted.getCount()).as("not given up 1 ms before the timeout").isEqualTo(1);
    time.advance(Duration.ofMillis(1));
    awaitOpen(interrupted);
    time.awaitTimedWaiters(1, WAIT); // the grace
    time.advance(Duration.ofMillis(199));
    time.awaitTimedWaiters(1, WAIT);
    finish.countDown();
    assertThat(close.get()).isEqualTo(
        new CloseResult<>(false, List.of("stuck", "queued"), false));
    assertThat(recorder.flushes).isEmpty();
  }

  @Test
  void closeWithinATimeoutReturnsAfterTheGraceWhileAFlushIgnoresItsInterrupt() throws Exception {
    FlushFunc<String> deaf = batch -> {
      stuck.countDown();
      while (release.getCount() > 0) {
        try {
          awaitOpen(release);
        } catch (InterruptedException e) {
          events.add("interrupted");
        }
      }
    };
    Buffer<String> buffer = start(Config.builder(deaf).capacity(1).chanSize(1)
        .flushInterval(HOURS), options());
    buffer.add("stuck");
    awaitOpen(stuck);
    Call<CloseResult<String>> close = call(() -> buffer.close(Duration.ZERO));
    soon().until(() -> events.contains("interrupted"));
    time.awaitTimedWaiters(1, WAIT);
    time.advance(Duration.ofMillis(200));
    assertThat(close.get()).isEqualTo(new CloseResult<String>(false, List.of(), true));
  }

  @Test
  void aTimeoutTooLongForTheClockIsNoTimeout() throws Exception {
    Buffer<String> buffer = full();
    Call<CloseResult<String>> close = call(() -> buffer.close(Duration.ofSeconds(Long.MAX_VALUE)));
    close.awaitParked();
    assertThat(close.thread().getState()).isEqualTo(Thread.State.WAITING);
    assertThat(time.timedWaiters()).as("no deadline").isZero();
    release.countDown();
    assertThat(close.get()).isEqualTo(new CloseResult<String>(true, List.of(), false));
  }

  @Test
  void aBufferThatGaveUpDidNotDrainEvenIfNothingIsLeftToReturn() throws Exception {
    Buffer<String> buffer = start(config().capacity(10),
        options().periodic(Duration.ofSeconds(1), () -> {
          throw new InternalError("simulated");
        }));
    buffer.add("a"); // lingers for hours
    time.advance(Duration.ofSeconds(1));
    soon().until(() -> buffer.stats().state() == BufferStats.State.FAILED);
    CloseResult<String> first = Async.call(() -> buffer.close(HOURS))
        .get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(first).isEqualTo(new CloseResult<>(false, List.of("a"), false));
    CloseResult<String> second = Async.call(() -> buffer.close(HOURS))
        .get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(second).isEqualTo(new CloseResult<String>(false, List.of(), false));
  }

  // ---- refusals -----------------------------------------------------------------------------------

  @Test
  void everyWayInThrowsOnceClosedNamingTheBufferAndCountsTheRefusals() throws Exception {
    Buffer<String> buffer = start(config(), options());
    buffer.add("a");
    closeWithin(buffer);
    String closed = name + " is closed";
    assertThatThrownBy(() -> buffer.add("a")).hasMessage(closed);
    assertThatThrownBy(() -> buffer.submit("a")).hasMessage(closed);
    assertThatThrownBy(() -> buffer.offer("a")).hasMessage(closed);
    assertThatThrownBy(() -> buffer.offer("a", Duration.ofSeconds(1))).hasMessage(closed);
    assertThatThrownBy(buffer::flush).hasMessage(closed);
    BufferStats stats = buffer.stats();
    assertThat(stats.refused()).isEqualTo(5);
    assertThat(stats.accepted()).as("a refused flush() is no item").isEqualTo(1);
    assertThat(buffer.name()).isEqualTo(name);
  }

  @Test
  void aFatalErrorOfAProducersWeigherStopsAdmissionAtOnce() throws Exception {
    Buffer<String> buffer = start(config().capacity(10).policy(FlushPolicy.<String>bytes(s -> {
      if (s.equals("boom")) {
        throw new InternalError("simulated");
      }
      return s.length();
    }, 10).onOversize(Oversize.FAIL_FAST)), options());
    assertThatThrownBy(() -> buffer.add("boom")).isInstanceOf(InternalError.class);
    assertThatThrownBy(() -> buffer.offer("x")).isInstanceOf(IllegalStateException.class)
        .hasMessage(name + " stopped on a fatal error")
        .cause().isInstanceOf(InternalError.class);
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.FAILED);
  }

  @Test
  void aFatalErrorOfTheMemoryWeigherStopsAdmissionAtOnce() throws Exception {
    Buffer<String> buffer = start(config().capacity(10), options().maxBufferedBytes(s -> {
      if (s.equals("boom")) {
        throw new InternalError("simulated");
      }
      return 1L;
    }, 10));
    assertThatThrownBy(() -> buffer.offer("boom")).isInstanceOf(InternalError.class);
    assertThatThrownBy(() -> buffer.offer("x")).hasMessage(name + " stopped on a fatal error");
  }

  @Test
  void aFailFastLimitRefusesAnItemAboveItOrWeighedNegativeAndTakesOneAtIt() throws Exception {
    Buffer<String> buffer = start(config().capacity(10).chanSize(10).policy(
        FlushPolicy.<String>bytes(s -> s.equals("neg") ? -1 : s.length(), 10)
            .onOversize(Oversize.FAIL_FAST)), options());
    assertThatThrownBy(() -> buffer.add("12345678901")).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("item weighs 11 bytes, above the per-item limit of 10 (Oversize.FAIL_FAST): "
            + "not added");
    assertThatThrownBy(() -> buffer.offer("neg")).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("the weigher returned -1 for neg (must be >= 0; Oversize.FAIL_FAST): not added");
    assertThat(buffer.offer("")).isTrue();
    assertThatThrownBy(() -> buffer.offer("12345678901", Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(buffer.offer("1234567890", Duration.ofSeconds(1))).isTrue();
    buffer.flush().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(recorder.flushes).containsExactly("BYTES [, 1234567890]");
    assertThat(buffer.stats().accepted()).isEqualTo(2);
  }

  @Test
  void everyWayInThatMayWaitThrowsInterruptedExceptionWhenInterruptedOnEntry() throws Exception {
    Buffer<String> buffer = start(config(), options());
    for (Async.Action action : List.<Async.Action>of(() -> buffer.add("a"),
        () -> assertThat(buffer.submit("a")).isNotNull(),
        () -> assertThat(buffer.flush()).isNotNull(),
        () -> buffer.offer("a", Duration.ofSeconds(1)))) {
      Thread.currentThread().interrupt();
      assertThatThrownBy(action::run).isInstanceOf(InterruptedException.class);
      assertThat(Thread.interrupted()).as("the interrupt is spent").isFalse();
    }
    assertThat(buffer.stats().accepted()).isZero();
  }

  // ---- waiting for a slot -------------------------------------------------------------------------

  @Test
  void aTimedOfferWaitsForASlotUntilItsDeadlineOnTheBuffersClockAndNotBefore() throws Exception {
    Buffer<String> buffer = full();
    assertThat(buffer.offer("x")).isFalse();
    assertThat(buffer.offer("x", Duration.ZERO)).isFalse();
    Call<Boolean> offer = call(() -> buffer.offer("x", Duration.ofSeconds(1)));
    time.awaitTimedWaiters(1, WAIT);
    time.advance(Duration.ofMillis(999));
    time.awaitTimedWaiters(1, WAIT);
    assertThat(offer.result()).isNotDone();
    time.advance(Duration.ofMillis(1));
    assertThat(offer.get()).isFalse();
    assertThat(events).containsExactly("blocked " + name, "unblocked " + name + " after PT1S");
  }

  @Test
  void aProducerWaitingForASlotIsCountedAndTheListenerHearsHowLongItWaited() throws Exception {
    Buffer<String> buffer = full();
    Call<Boolean> add = run(() -> buffer.add("x"));
    time.awaitWaiters(1, WAIT);
    assertThat(buffer.stats().producersBlocked()).isEqualTo(1);
    time.advance(Duration.ofSeconds(2));
    release.countDown();
    add.get();
    assertThat(events).containsExactly("blocked " + name, "unblocked " + name + " after PT2S");
  }

  @Test
  void anOfferWithATimeoutTooLongForTheClockWaitsWithoutADeadline() throws Exception {
    Buffer<String> buffer = full();
    Call<Boolean> offer = call(() -> buffer.offer("x", Duration.ofSeconds(Long.MAX_VALUE)));
    time.awaitWaiters(1, WAIT);
    assertThat(time.timedWaiters()).isZero();
    release.countDown();
    assertThat(offer.get()).isTrue();
  }

  /** Not even one whose wait was interrupted: the stats are read only after it. */
  @Test
  void flushWaitsForASlotAndIsNotCountedAsAnItem() throws Exception {
    Buffer<String> buffer = full();
    Call<CompletableFuture<Void>> interrupted = call(buffer::flush);
    time.awaitWaiters(1, WAIT);
    interrupted.thread().interrupt();
    assertThatThrownBy(interrupted::get).cause().isInstanceOf(InterruptedException.class);
    Call<CompletableFuture<Void>> request = call(buffer::flush);
    time.awaitWaiters(1, WAIT);
    release.countDown();
    request.get().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(buffer.stats().accepted()).isEqualTo(2);
  }

  @Test
  void theBuffersOwnThreadIsRefusedAWaitForASlot() throws Exception {
    List<Throwable> thrown = new CopyOnWriteArrayList<>();
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    FlushFunc<String> adding = batch -> {
      if (batch.contains("a")) {
        assertThat(self.get().offer("filler")).isTrue(); // the channel of one is full now
        for (Async.Action action : List.<Async.Action>of(() -> self.get().add("x"),
            () -> assertThat(self.get().flush()).isNotNull(),
            () -> self.get().offer("x", Duration.ofSeconds(1)))) {
          try {
            action.run();
          } catch (IllegalStateException e) {
            thrown.add(e);
          }
        }
      }
    };
    Buffer<String> buffer = start(Config.builder(adding).capacity(1).chanSize(1)
        .flushInterval(HOURS), options());
    self.set(buffer);
    buffer.add("a");
    soon().until(() -> thrown.size() == 3);
    assertThat(thrown).allSatisfy(e -> assertThat(e).hasMessageStartingWith(name
        + ": the buffer is full and this is one of its own threads (" + name + ": the loop"));
  }

  // ---- the memory bound -----------------------------------------------------------------------

  @Test
  void aProducerWaitingForBytesIsCountedAndGetsThemWhenAFlushReturnsThem() throws Exception {
    Buffer<String> buffer = start(config().chanSize(10), options().maxBufferedBytes(s -> 1L, 2));
    buffer.add("stuck");
    awaitOpen(stuck);
    buffer.add("queued");
    assertThat(buffer.offer("x")).as("no bytes").isFalse();
    Call<Boolean> add = run(() -> buffer.add("x"));
    time.awaitWaiters(1, WAIT);
    assertThat(buffer.stats().producersBlocked()).isEqualTo(1);
    time.advance(Duration.ofSeconds(3));
    release.countDown();
    add.get();
    assertThat(events).containsExactly("blocked " + name, "unblocked " + name + " after PT3S");
    assertThat(recorder.awaitFlushes(3)).containsExactly("COUNT [stuck]", "COUNT [queued]",
        "COUNT [x]");
  }

  @Test
  void underAFailFastLimitAFullChannelRefusesWithoutWaiting() throws Exception {
    Buffer<String> buffer = full(config().policy(FlushPolicy.<String>bytes(
        s -> s.startsWith("stuck") ? 5 : 1, 5).onOversize(Oversize.FAIL_FAST)), options());
    assertThat(buffer.offer("x")).isFalse();
    assertThat(buffer.offer("x", Duration.ZERO)).isFalse();
  }

  @Test
  void theBuffersOwnThreadIsRefusedAWaitForBytesOrForASlotUnderAMemoryBound() throws Exception {
    List<Throwable> thrown = new CopyOnWriteArrayList<>();
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    FlushFunc<String> adding = batch -> {
      if (batch.contains("a")) {
        assertThat(self.get().offer("filler")).isTrue(); // the channel of one is full now
        for (Async.Action action : List.<Async.Action>of(() -> self.get().add("x"),
            () -> self.get().offer("heavy", Duration.ofSeconds(1)))) {
          try {
            action.run();
          } catch (IllegalStateException e) {
            thrown.add(e);
          }
        }
      }
    };
    Buffer<String> buffer = start(Config.builder(adding).capacity(1).chanSize(1)
        .flushInterval(HOURS), options().maxBufferedBytes(s -> s.equals("heavy") ? 10L : 1L, 10));
    self.set(buffer);
    buffer.add("a");
    soon().until(() -> thrown.size() == 2);
    assertThat(thrown).allSatisfy(e -> assertThat(e).hasMessageStartingWith(name
        + ": the buffer is full and this is one of its own threads"));
  }

  @Test
  void aFatalErrorOfTheByteHintWeigherStopsAdmissionBeforeTheItem() throws Exception {
    Buffer<String> buffer = start(Config.builder(flush).chanSize(10).flushInterval(HOURS)
        .policy(FlushPolicy.bytes(s -> {
          if (s.equals("boom")) {
            throw new InternalError("simulated");
          }
          return s.length();
        }, 10)), options());
    assertThatThrownBy(() -> buffer.add("boom")).isInstanceOf(IllegalStateException.class)
        .hasMessage(name + " stopped on a fatal error");
    assertThat(buffer.stats().accepted()).isZero();
  }

  @Test
  void anAsynchronousPeriodicTaskRunsOnABufferThread() throws Exception {
    CompletableFuture<String> ranOn = new CompletableFuture<>();
    start(config(), options().periodicAsync(Duration.ofSeconds(1),
        () -> ranOn.complete(Thread.currentThread().getName())));
    time.awaitTimedWaiters(1, WAIT);
    time.advance(Duration.ofSeconds(1));
    assertThat(ranOn.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(name + "-periodic");
  }

  @Test
  void aProducerInterruptedWhileWaitingForASlotGivesItsBytesBack() throws Exception {
    Buffer<String> buffer = full(config(),
        options().maxBufferedBytes(s -> s.equals("big") ? 10L : 1L, 10));
    Call<Boolean> add = run(() -> buffer.add("x")); // has its bytes, waits for a slot
    time.awaitWaiters(1, WAIT);
    add.thread().interrupt();
    assertThatThrownBy(add::get).cause().isInstanceOf(InterruptedException.class);
    release.countDown();
    soon().until(() -> buffer.stats().flushed() == 2);
    assertThat(buffer.offer("big")).as("the whole bound is free again").isTrue();
  }

  @Test
  void aTimedWaitForBytesEndsFalseAtItsDeadline() throws Exception {
    Buffer<String> buffer = start(config().chanSize(10), options().maxBufferedBytes(s -> 1L, 1));
    buffer.add("stuck");
    awaitOpen(stuck);
    Call<Boolean> offer = call(() -> buffer.offer("x", Duration.ofSeconds(1)));
    time.awaitTimedWaiters(1, WAIT);
    time.advance(Duration.ofSeconds(1));
    assertThat(offer.get()).isFalse();
  }

  @Test
  void closeEndsAWaitForBytesWithTheClosedException() throws Exception {
    Buffer<String> buffer = start(config().chanSize(10), options().maxBufferedBytes(s -> 1L, 1));
    buffer.add("stuck");
    awaitOpen(stuck);
    Call<Boolean> add = run(() -> buffer.add("x"));
    time.awaitWaiters(1, WAIT);
    Call<Boolean> close = run(() -> buffer.close());
    assertThatThrownBy(add::get).cause().isInstanceOf(IllegalStateException.class)
        .hasMessage(name + " is closed");
    assertThatThrownBy(() -> buffer.offer("y")).hasMessage(name + " is closed");
    release.countDown();
    close.get();
  }

  /**
   * An item that gets its bytes but not a slot gives the bytes back: an item as heavy as the
   * whole bound then still fits once the others are flushed.
   */
  @Test
  void anItemThatGotItsBytesButNoSlotGivesThemBack() throws Exception {
    Buffer<String> buffer = start(config(),
        options().maxBufferedBytes(s -> s.equals("big") ? 3L : 1L, 3));
    buffer.add("stuck");
    awaitOpen(stuck);
    buffer.add("queued");
    assertThat(buffer.offer("x")).as("bytes, but no slot").isFalse();
    release.countDown();
    soon().until(() -> buffer.stats().flushed() == 2);
    assertThat(buffer.offer("big")).isTrue();
  }

  // ---- which producer wakes the loop --------------------------------------------------------

  @Test
  void underAMemoryBoundEveryArrivalWakesTheLoopWhateverItsBytePolicy() throws Exception {
    Buffer<String> buffer = start(Config.builder(flush).chanSize(100).flushInterval(HOURS)
        .policy(FlushPolicy.bytes(LoopTest::length, 100)), options().maxBufferedBytes(s -> 1L, 100));
    buffer.add("a");
    soon().until(() -> buffer.itemsInChannel() == 0);
    time.awaitTimedWaiters(1, WAIT);
    buffer.add("b");
    soon().until(() -> buffer.itemsInChannel() == 0);
  }

  @Test
  void underAFailFastLimitAHeavyArrivalWakesTheLoop() throws Exception {
    Buffer<String> buffer = start(Config.builder(flush).chanSize(100).flushInterval(HOURS)
        .policy(FlushPolicy.bytes(LoopTest::length, 10).onOversize(Oversize.FAIL_FAST)),
        options());
    buffer.add("a");
    soon().until(() -> buffer.itemsInChannel() == 0);
    time.awaitTimedWaiters(1, WAIT);
    buffer.add("bbbbbbbbb");
    assertThat(recorder.awaitFlushes(1)).containsExactly("BYTES [a, bbbbbbbbb]");
  }

  @Test
  void withACustomConditionBesideTheBytesEveryArrivalWakesTheLoop() throws Exception {
    Buffer<String> buffer = start(Config.builder(flush).chanSize(100).flushInterval(HOURS)
        .policy(FlushPolicy.bytes(LoopTest::length, 100)).shouldFlush(b -> b.contains("g")),
        options());
    buffer.add("a");
    soon().until(() -> buffer.itemsInChannel() == 0);
    time.awaitTimedWaiters(1, WAIT);
    buffer.add("g"); // no heavier than "a": only a look at it can tell
    assertThat(recorder.awaitFlushes(1)).containsExactly("CONDITION [a, g]");
  }

  @Test
  void aBufferWithPeriodicTasksStartsItsLoopAtOnce() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    start(config(), options().periodic(Duration.ofSeconds(1), runs::incrementAndGet));
    time.awaitTimedWaiters(1, WAIT);
    time.advance(Duration.ofSeconds(1));
    soon().until(() -> runs.get() == 1);
  }

  // ---- the loop thread's end ----------------------------------------------------------------

  @Test
  void aFatalErrorCaughtOnTheLoopThreadEndsThatThreadWithIt() throws Exception {
    List<Throwable> uncaught = new CopyOnWriteArrayList<>();
    Thread.UncaughtExceptionHandler before = Thread.getDefaultUncaughtExceptionHandler();
    Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
      if (t.getName().equals(name)) {
        uncaught.add(e);
      }
    });
    try {
      FlushFunc<String> fatal = batch -> {
        throw new InternalError("simulated");
      };
      Buffer<String> buffer = start(Config.builder(fatal).capacity(1).flushInterval(HOURS),
          options());
      buffer.add("a");
      soon().until(() -> uncaught.size() == 1);
      assertThat(uncaught.get(0)).isInstanceOf(InternalError.class).hasMessage("simulated");
    } finally {
      Thread.setDefaultUncaughtExceptionHandler(before);
    }
  }

  @Test
  void aKeyedBufferCountsItsLiveKeys() throws Exception {
    KeyedBuffer<String, String> buffer = fixture.closeLater(KeyedBuffer.<String, String>builder(
        s -> s.substring(0, 1), recorder.keyed).timeSource(time).flushInterval(HOURS).start());
    assertThat(buffer.liveKeys()).isZero();
    buffer.add("a1");
    buffer.add("b1");
    soon().until(() -> buffer.liveKeys() == 2 && buffer.stats().keys() == 2);
  }
}
