package dev.batchbuffer.internal;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.Async;
import dev.batchbuffer.BufferListener;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushInfo;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.RecordingLoggerFinder;
import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The dispatcher on its own, driven as the loop drives it from a stand-in loop thread whose every
 * call the test bounds: each way a batch handed over ends (flushed, failed in part or in whole,
 * handed back by close(timeout), given up after a stop or a fatal error, given up after
 * close(timeout) took the undelivered list), with the exact futures, onFlushError and onReject
 * arguments, counts, listener calls and log lines; the maxInFlight limit and the per-key order
 * (also while a timeout worker outlives its flush), the interrupts of {@code stop}, the outcome of
 * {@code flush()} requests, and which threads count as the buffer's own.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DispatcherTest {
  private static final AtomicInteger BUFFERS = new AtomicInteger();

  final String name = "dispatcher-test-" + BUFFERS.incrementAndGet();
  final ManualTimeSource time = new ManualTimeSource(1_000_000_000L);
  final Problems problems = new Problems(name, time);
  /** What the listener heard of settled flushes, in order. */
  final List<FlushInfo> heard = new CopyOnWriteArrayList<>();
  final List<Throwable> heardErrors = new CopyOnWriteArrayList<>();
  final List<String> heardRejected = new CopyOnWriteArrayList<>();
  final Telemetry<String> telemetry = new Telemetry<>(name, time, problems,
      new BufferListener<String>() {
        @Override
        public void flushed(FlushInfo info) {
          heard.add(info);
        }

        @Override
        public void flushFailed(FlushInfo info, Throwable error) {
          heard.add(info);
          heardErrors.add(error);
        }

        @Override
        public void rejected(String buffer, String item) {
          heardRejected.add(item);
        }
      });
  final MemoryGate<String> memory = new MemoryGate<>(String::length, 1_000, time);
  final TestSink sink = new TestSink();
  final Map<String, CompletableFuture<Void>> futures = new ConcurrentHashMap<>();
  final List<String> rejected = new CopyOnWriteArrayList<>();
  /** The bytes the memory gate held when onReject was called. */
  final List<Long> heldAtReject = new CopyOnWriteArrayList<>();
  final List<Failure> flushErrors = new CopyOnWriteArrayList<>();
  Consumer<String> onReject = item -> {
    heldAtReject.add(memory.used());
    rejected.add(item);
  };
  BiConsumer<Exception, List<String>> onFlushError =
      (e, items) -> flushErrors.add(new Failure(e, List.copyOf(items)));
  @Nullable LoopThread loop;
  @Nullable Dispatcher<String> dispatcher;

  /** One call of onFlushError. */
  record Failure(Exception error, List<String> items) {}

  /**
   * Ends what a failed test (or a broken dispatcher) may have left running, so that it cannot slow
   * down the tests after it: a loop parked or spinning in the dispatcher sees the stop, a held flush
   * is released.
   */
  @AfterEach
  void stopEverything() {
    if (dispatcher != null) {
      dispatcher.stop(true);
    }
    sink.releaseAll();
    if (loop != null) {
      loop.close();
    }
  }

  // ---- the inline flush (maxInFlight 1) -------------------------------------------------------

  @Test
  void anInlineFlushRunsOnTheLoopWithExactlyTheItemsHandedOverAndIsSettledWhenDispatchReturns() {
    Dispatcher<String> d = start(1, false);
    List<Object> inFlush = new CopyOnWriteArrayList<>();
    sink.during("a", () -> {
      inFlush.add(stats().itemsFlushing());
      inFlush.add(Dispatcher.flushingTelemetry() == telemetry);
      inFlush.add(d.isOwnThread());
      time.advance(Duration.ofMillis(5));
    });
    BatchState<String> s = state(null, "a", "bb", "ccc");
    s.epoch = 4;
    long handedOverAt = time.nanoTime();
    loop().exec(() -> d.dispatch(s, FlushReason.COUNT));

    assertThat(sink.calls).containsExactly("null=[a, bb, ccc]");
    assertThat(sink.thread("a")).isSameAs(loop().thread);
    assertThat(inFlush).containsExactly(3L, true, true);
    assertThat(futures.values()).hasSize(3).allSatisfy(f -> assertThat(f).isCompleted());
    assertThat(s.items).as("the next batch allocates its own array").isSameAs(BatchState.NO_ITEMS);
    assertThat(s.futures).isNull();
    assertThat(s.size).isZero();
    assertThat(s.bytes).isZero();
    assertThat(s.held).isZero();
    assertThat(s.epoch).isEqualTo(5);
    assertThat(s.lastUsed).isEqualTo(handedOverAt);
    assertThat(memory.used()).isZero();
    BufferStats stats = stats();
    assertThat(stats.flushed()).isEqualTo(3);
    assertThat(stats.failed()).isZero();
    assertThat(stats.itemsFlushing()).isZero();
    assertThat(stats.flushesInFlight()).isZero();
    assertThat(stats.flushesByReason()).containsEntry(FlushReason.COUNT, 1L);
    assertThat(stats.flushTimeTotal()).isEqualTo(Duration.ofMillis(5));
    assertThat(heard).containsExactly(
        new FlushInfo(name, null, 3, 30, FlushReason.COUNT, Duration.ofMillis(5), 0));
    assertThat(loop().call(() -> Dispatcher.flushingTelemetry() == null))
        .as("after the flush, on the loop").isTrue();
    assertThat((Object) Dispatcher.flushingTelemetry()).as("on a thread that never flushed").isNull();
    assertThat(logged()).isEmpty();
  }

  @Test
  void aSettledInlineBatchIsNoLongerReachableFromTheDispatcher() {
    Dispatcher<String> d = start(1, false);
    BatchState<String> s = new BatchState<>(limits(), null);
    s.items = new Object[] {String.valueOf(new char[] {'p', 'r', 'o', 'b', 'e'})};
    s.size = 1;
    WeakReference<Object> item = new WeakReference<>(s.items[0]);
    loop().exec(() -> d.dispatch(s, FlushReason.COUNT));
    assertThat(sink.calls).containsExactly("null=[probe]");
    sink.threads.clear();
    await("the item is collected").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() -> {
      System.gc();
      return item.get() == null;
    });
  }

  @Test
  void anInlineFlushDoesNotSeeAnInterruptACallbackLeftOnTheLoop() {
    Dispatcher<String> d = start(1, false);
    List<Boolean> interrupted = new CopyOnWriteArrayList<>();
    sink.during("a", () -> interrupted.add(Thread.currentThread().isInterrupted()));
    loop().exec(() -> {
      Thread.currentThread().interrupt();
      d.dispatch(state(null, "a"), FlushReason.COUNT);
    });
    assertThat(interrupted).containsExactly(false);
    assertThat(futures.get("a")).isCompleted();
    assertThat(logged()).containsExactly("a callback interrupted its thread; the interrupt was cleared");
  }

  @Test
  void stopWithInterruptEndsAnInlineFlushThroughTheLoopAndHandsItsItemsBack() throws Exception {
    Dispatcher<String> d = start(1, false);
    sink.hold("a");
    CompletableFuture<Void> dispatched = loop().submit(() -> d.dispatch(state(null, "a", "b"),
        FlushReason.CLOSE));
    sink.awaitStarted("a");
    d.stop(true);
    get(dispatched);
    DeliveryException e = failure("a");
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(e).hasMessage("close(timeout) interrupted the item's flush and gave it up")
        .hasCauseInstanceOf(InterruptedException.class);
    assertThat(failure("b").reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(flushErrors).isEmpty();
    assertThat(stats().undelivered()).isEqualTo(2);
    assertThat(stats().failed()).isZero();
    assertThat(heard).singleElement().satisfies(i -> assertThat(i.failed()).isEqualTo(2));
    assertThat(seal(d)).containsExactly("a", "b");
    assertThat(memory.used()).isZero();
  }

  // ---- off the loop: maxInFlight and keys -----------------------------------------------------

  @Test
  void flushesRunOnTheirOwnThreadsAndTheLoopWaitsForASlotAtMaxInFlight() {
    Dispatcher<String> d = start(2, false);
    List<Boolean> own = new CopyOnWriteArrayList<>();
    sink.during("a", () -> own.add(d.isOwnThread()));
    sink.hold("a");
    sink.hold("b");
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state(null, "b"), FlushReason.TIME));
    sink.awaitStarted("a");
    sink.awaitStarted("b");
    assertThat(sink.thread("a")).isNotSameAs(loop().thread).isNotSameAs(sink.thread("b"));
    assertThat(sink.thread("a").getName()).isEqualTo(name + "-flush");
    assertThat(own).containsExactly(true);
    assertThat(stats().itemsFlushing()).isEqualTo(2);
    assertThat(stats().flushesInFlight()).isEqualTo(2);
    assertThat(loop().call(d::busy)).isTrue();

    CompletableFuture<Void> third = loop().submit(() -> d.dispatch(state(null, "c"), FlushReason.COUNT));
    awaitParked(d, third);
    assertThat(sink.calls).hasSize(2);
    sink.release("a");
    get(third);
    assertThat(futures.get("a")).isCompleted();
    sink.awaitStarted("c");
    sink.release("b");
    loop().exec(d::awaitAll);
    assertThat(loop().call(d::busy)).isFalse();
    assertThat(futures.values()).hasSize(3).allSatisfy(f -> assertThat(f).isCompleted());
    assertThat(stats().flushed()).isEqualTo(3);
    assertThat(stats().flushesInFlight()).isZero();
    assertThat(stats().flushesByReason()).containsEntry(FlushReason.COUNT, 2L)
        .containsEntry(FlushReason.TIME, 1L);
    assertThat(memory.used()).isZero();
  }

  @Test
  void awaitAllParksUntilTheRunningFlushFinishes() {
    Dispatcher<String> d = start(2, false);
    sink.hold("a");
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    CompletableFuture<Void> all = loop().submit(d::awaitAll);
    awaitParked(d, all);
    assertThat(futures.get("a")).isNotDone();
    sink.release("a");
    get(all);
    assertThat(futures.get("a")).isCompleted();
    assertThat(loop().call(d::busy)).isFalse();
  }

  @Test
  void flushesOfOneKeyRunOneAtATimeInBatchOrderWhileOtherKeysRunBeside() {
    Dispatcher<String> d = start(4, true);
    sink.hold("a1");
    sink.hold("a2");
    loop().exec(() -> d.dispatch(state("a", "a1"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("a", "a2"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("a", "a3"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("b", "b1"), FlushReason.COUNT));
    sink.awaitStarted("a1");
    sink.join("b1");
    loop().exec(d::settleFinished);
    assertThat(futures.get("b1")).isCompleted();
    assertThat(futures.get("a2")).isNotDone();
    assertThat(sink.calls).containsExactlyInAnyOrder("a=[a1]", "b=[b1]");
    assertThat(stats().itemsFlushing()).as("queued batches count as flushing").isEqualTo(3);
    CompletableFuture<Void> all = loop().submit(d::awaitAll);
    awaitParked(d, all);
    sink.release("a1");
    sink.awaitStarted("a2");
    assertThat(sink.overlaps).as("a2 started while a1 ran").isEmpty();
    sink.release("a2");
    get(all);
    assertThat(sink.calls).hasSize(4).filteredOn(c -> c.startsWith("a="))
        .containsExactly("a=[a1]", "a=[a2]", "a=[a3]");
    assertThat(sink.overlaps).isEmpty();
    assertThat(futures.values()).hasSize(4).allSatisfy(f -> assertThat(f).isCompleted());
    assertThat(heard).extracting(FlushInfo::key).containsExactly("b", "a", "a", "a");
  }

  @Test
  void withoutKeysFlushesOfTheSameNullKeyRunAtOnce() {
    Dispatcher<String> d = start(2, false);
    sink.hold("a");
    sink.hold("b");
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state(null, "b"), FlushReason.COUNT));
    sink.awaitStarted("a");
    sink.awaitStarted("b");
    sink.release("a");
    sink.release("b");
    loop().exec(d::awaitAll);
    assertThat(futures.values()).hasSize(2).allSatisfy(f -> assertThat(f).isCompleted());
  }

  @Test
  void aTimeoutWorkerThatOutlivesItsFlushKeepsTheKeyUntilItEnds() throws Exception {
    Dispatcher<String> d = start(2, true);
    CountDownLatch workerGo = new CountDownLatch(1);
    AtomicBoolean workerRunning = new AtomicBoolean();
    AtomicReference<@Nullable Boolean> a2SawWorker = new AtomicReference<>();
    List<Object> inWorker = new CopyOnWriteArrayList<>();
    CompletableFuture<Thread> worker = new CompletableFuture<>();
    sink.during("a1", () -> {
      workerRunning.set(true);
      worker.complete(Dispatcher.startWorker(name + "-timeout", () -> {
        inWorker.add(d.isOwnThread());
        inWorker.add(Dispatcher.flushingTelemetry() == telemetry);
        try {
          inWorker.add(workerGo.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } finally {
          workerRunning.set(false);
        }
      }));
    });
    sink.during("a2", () -> a2SawWorker.set(workerRunning.get()));
    loop().exec(() -> d.dispatch(state("a", "a1"), FlushReason.COUNT));
    sink.join("a1");
    loop().exec(d::settleFinished);
    assertThat(futures.get("a1")).as("settled while its worker runs").isCompleted();
    loop().exec(() -> d.dispatch(state("a", "a2"), FlushReason.COUNT));
    CompletableFuture<Void> all = loop().submit(d::awaitAll);
    awaitParked(d, all);
    workerGo.countDown();
    get(all); // the worker's end woke the loop, which started a2 and settled it
    assertThat(a2SawWorker.get()).as("a2 started while a1's worker still ran").isFalse();
    assertThat(sink.calls).containsExactly("a=[a1]", "a=[a2]");
    assertThat(inWorker).containsExactly(true, true, true);
    assertThat(get(worker).getName()).isEqualTo(name + "-timeout");
    assertThat(futures.get("a2")).isCompleted();
  }

  @Test
  void aWorkerThatEndsBeforeItsFlushReturnsLeavesTheKeyToTheFlush() {
    Dispatcher<String> d = start(2, true);
    sink.during("a1", () -> {
      Thread w = Dispatcher.startWorker(name + "-timeout", () -> {});
      if (!w.join(WAIT)) {
        throw new AssertionError("the worker did not end");
      }
    });
    sink.hold("a1");
    loop().exec(() -> d.dispatch(state("a", "a1"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("a", "a2"), FlushReason.COUNT));
    CompletableFuture<Void> all = loop().submit(d::awaitAll);
    awaitParked(d, all);
    sink.release("a1");
    get(all);
    assertThat(sink.calls).containsExactly("a=[a1]", "a=[a2]");
    assertThat(sink.overlaps).isEmpty();
    assertThat(futures.values()).hasSize(2).allSatisfy(f -> assertThat(f).isCompleted());
  }

  @Test
  void aKeyFreedByItsLastWorkerBeforeAFlushRequestLetsTheNextBatchOfTheKeyStartAtOnce() {
    Dispatcher<String> d = start(2, true);
    CountDownLatch workerGo = new CountDownLatch(1);
    AtomicBoolean workerReleased = new AtomicBoolean();
    CompletableFuture<Thread> worker = new CompletableFuture<>();
    sink.during("a1", () -> worker.complete(Dispatcher.startWorker(name + "-timeout", () -> {
      try {
        workerReleased.set(workerGo.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    })));
    loop().exec(() -> d.dispatch(state("a", "a1"), FlushReason.COUNT));
    sink.join("a1");
    loop().exec(d::settleFinished);
    workerGo.countDown();
    join(get(worker));
    assertThat(workerReleased).isTrue();
    CompletableFuture<Void> request = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(request, false))).isFalse();
    loop().exec(() -> d.dispatch(state("a", "a2"), FlushReason.COUNT));
    sink.awaitStarted("a2");
  }

  @Test
  void startWorkerOutsideAFlushGivesTheWorkerTheStartersBuffer() throws Exception {
    Dispatcher<String> d = start(1, false);
    List<Object> seen = new CopyOnWriteArrayList<>();
    loop().exec(() -> join(Dispatcher.startWorker("w1", () -> {
      seen.add(d.isOwnThread());
      seen.add(Dispatcher.flushingTelemetry() == null);
    })));
    join(Dispatcher.startWorker("w2", () -> seen.add(d.isOwnThread())));
    assertThat(seen).containsExactly(true, true, false);
  }

  @Test
  void threadsTheDispatcherStartsAreItsOwnAndNamedAfterIt() throws Exception {
    Dispatcher<String> d = start(1, false);
    Dispatcher<String> other = new Dispatcher<>("other", time, problems, telemetry, sink, null, false,
        onReject,
        onFlushError, null, 1, false);
    List<Object> seen = new CopyOnWriteArrayList<>();
    Thread t = d.newThread("-tick", () -> {
      seen.add(Thread.currentThread().getName());
      seen.add(d.isOwnThread());
      seen.add(other.isOwnThread());
    });
    assertThat(t.isAlive()).as("created, not started").isFalse();
    t.start();
    join(t);
    assertThat(seen).containsExactly(name + "-tick", true, false);
    assertThat(d.isOwnThread()).isFalse();
  }

  // ---- stopping -------------------------------------------------------------------------------

  @Test
  void stopWithInterruptInterruptsRunningFlushesAndTheLoopAndHandsTheirItemsBack() throws Exception {
    Dispatcher<String> d = start(2, false);
    sink.hold("a");
    loop().exec(() -> d.dispatch(state(null, "a", "aa"), FlushReason.COUNT));
    sink.awaitStarted("a");
    CountDownLatch go = new CountDownLatch(1);
    CompletableFuture<String> loopSaw = loop().submitCall(() -> waitFor(go));
    assertThat(d.aborting()).isFalse();
    d.stop(true);
    assertThat(d.aborting()).isTrue();
    go.countDown();
    assertThat(get(loopSaw)).isEqualTo("interrupted");
    sink.join("a");
    loop().exec(d::awaitAll);
    DeliveryException e = failure("a");
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(e).hasMessage("close(timeout) interrupted the item's flush and gave it up")
        .hasCauseInstanceOf(InterruptedException.class);
    assertThat(failure("aa")).hasMessage(e.getMessage());
    assertThat(flushErrors).isEmpty();
    assertThat(stats().undelivered()).isEqualTo(2);
    assertThat(stats().flushed()).isZero();
    assertThat(heard).singleElement().satisfies(i -> assertThat(i.failed()).isEqualTo(2));
    assertThat(heardErrors).singleElement().isInstanceOf(InterruptedException.class);
    assertThat(memory.used()).isZero();
    assertThat(seal(d)).containsExactly("a", "aa");
    assertThat(seal(d)).as("handed out once").isEmpty();
    CompletableFuture<Void> request = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(request, false))).isTrue();
    DeliveryException r = requestFailure(request);
    assertThat(r.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(r).hasMessage("2 items were given up undelivered since the previous flush()")
        .hasNoCause();
  }

  @Test
  void stopWithoutInterruptLetsTheRunningFlushFinishAndGivesUpTheQueuedOnes() throws Exception {
    Dispatcher<String> d = start(3, true);
    sink.hold("a1");
    loop().exec(() -> d.dispatch(state("a", "a1"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("a", "a2", "a22"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("a", "a3"), FlushReason.COUNT));
    sink.awaitStarted("a1");
    CountDownLatch go = new CountDownLatch(1);
    CompletableFuture<String> loopSaw = loop().submitCall(() -> waitFor(go));
    d.stop(false);
    go.countDown();
    assertThat(get(loopSaw)).isEqualTo("not interrupted");
    assertThat(stats().itemsFlushing()).isEqualTo(4);
    CompletableFuture<Void> all = loop().submit(d::awaitAll);
    awaitParked(d, all);
    for (String item : List.of("a2", "a22", "a3")) {
      DeliveryException e = failure(item);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
      assertThat(e).hasMessage("close(timeout) gave up before the item was delivered").hasNoCause();
    }
    assertThat(stats().itemsFlushing()).as("only a1 still flushes").isEqualTo(1);
    assertThat(stats().bytesFlushing()).isEqualTo(10);
    assertThat(stats().flushesInFlight()).isEqualTo(1);
    assertThat(stats().undelivered()).isEqualTo(3);
    sink.release("a1");
    get(all);
    assertThat(futures.get("a1")).isCompleted();
    assertThat(sink.calls).containsExactly("a=[a1]");
    assertThat(loop().call(d::busy)).isFalse();
    loop().exec(() -> d.giveUp(List.of("z"), null, 0));
    assertThat(seal(d)).containsExactly("a2", "a22", "a3", "z");
    assertThat(memory.used()).isZero();
  }

  @Test
  void theUndeliveredListIsInAcceptanceOrderWhateverOrderItemsWereGivenUpIn() {
    Dispatcher<String> d = start(3, true);
    sink.hold("a1");
    sink.hold("b1");
    loop().exec(() -> d.dispatch(state("a", "a1"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("b", "b1"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("a", "a2"), FlushReason.COUNT));
    sink.awaitStarted("a1");
    sink.awaitStarted("b1");
    d.stop(true);
    loop().exec(d::awaitAll); // gives up a2 at once, then settles a1 and b1 as they end
    loop().exec(() -> d.giveUp(List.of("c"), null, 0));
    assertThat(seal(d)).containsExactly("a1", "b1", "a2", "c");
  }

  @Test
  void aQueuedFlushIsGivenUpInsteadOfStartedWhenItsKeyFreesAfterAStop() {
    Dispatcher<String> d = start(2, true);
    sink.hold("a1");
    loop().exec(() -> d.dispatch(state("a", "a1"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("a", "a2"), FlushReason.COUNT));
    sink.awaitStarted("a1");
    d.stop(false);
    sink.release("a1");
    sink.join("a1");
    loop().exec(d::settleFinished);
    assertThat(loop().call(d::busy)).isFalse();
    assertThat(futures.get("a1")).isCompleted();
    assertThat(failure("a2")).hasMessage("close(timeout) gave up before the item was delivered");
    assertThat(sink.calls).containsExactly("a=[a1]");
    assertThat(seal(d)).containsExactly("a2");
  }

  @Test
  void aFatalErrorFromAFlushGivesUpTheNextQueuedFlushOfItsKey() {
    Dispatcher<String> d = start(2, true);
    OutOfMemoryError fatal = new OutOfMemoryError("test: fatal error from the flush");
    sink.hold("a1");
    sink.failWith("a1", fatal);
    loop().exec(() -> d.dispatch(state("a", "a1"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state("a", "a2"), FlushReason.COUNT));
    sink.release("a1");
    sink.join("a1");
    loop().exec(d::settleFinished);
    assertThat(problems.fatal()).isSameAs(fatal);
    assertThat(loop().call(d::busy)).isFalse();
    DeliveryException e = failure("a2");
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(e).hasMessage("the buffer stopped before the item was delivered").hasCause(fatal);
    assertThat(sink.calls).containsExactly("a=[a1]");
  }

  @Test
  void aFlushStartedAfterAStopItCouldNotInterruptInterruptsItself() {
    Dispatcher<String> d = start(2, true);
    List<Boolean> interrupted = new CopyOnWriteArrayList<>();
    sink.during("a1", () -> interrupted.add(Thread.currentThread().isInterrupted()));
    sink.failWhenInterrupted = true;
    // The key's hashCode runs between dispatch's last look at the flag and the flush thread's start.
    AtomicBoolean once = new AtomicBoolean();
    Object key = new Object() {
      @Override
      public int hashCode() {
        if (once.compareAndSet(false, true)) {
          d.stop(true);
        }
        return 1;
      }

      @Override
      public String toString() {
        return "k";
      }
    };
    loop().exec(() -> d.dispatch(state(key, "a1"), FlushReason.COUNT));
    sink.join("a1");
    loop().exec(d::awaitAll);
    assertThat(interrupted).containsExactly(true);
    assertThat(failure("a1")).hasMessage("close(timeout) interrupted the item's flush and gave it up");
    assertThat(seal(d)).containsExactly("a1");
  }

  @Test
  void aBatchWaitingForASlotIsGivenUpWhenTheBufferStops() {
    Dispatcher<String> d = start(2, false);
    sink.hold("a");
    sink.hold("b");
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state(null, "b"), FlushReason.COUNT));
    CompletableFuture<Void> third = loop().submit(() -> d.dispatch(state(null, "c"), FlushReason.COUNT));
    awaitParked(d, third);
    d.stop(true);
    get(third);
    assertThat(failure("c")).hasMessage("close(timeout) gave up before the item was delivered");
    loop().exec(d::awaitAll);
    assertThat(sink.calls).containsExactlyInAnyOrder("null=[a]", "null=[b]");
    assertThat(seal(d)).containsExactly("a", "b", "c");
    assertThat(memory.used()).isZero();
  }

  @Test
  void aFatalErrorWhileTheLoopWaitsForASlotGivesUpTheWaitingBatchAndEveryLaterOne() {
    Dispatcher<String> d = start(2, false);
    OutOfMemoryError fatal = new OutOfMemoryError("test: fatal error from the flush");
    sink.hold("a");
    sink.failWith("a", fatal);
    sink.hold("b");
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(state(null, "b"), FlushReason.COUNT));
    CompletableFuture<Void> third = loop().submit(() -> d.dispatch(state(null, "c"), FlushReason.COUNT));
    awaitParked(d, third);
    sink.release("a");
    get(third);
    assertThat(problems.fatal()).isSameAs(fatal);
    DeliveryException a = failure("a");
    assertThat(a.reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(a.getCause()).isInstanceOf(ExecutionException.class).hasCause(fatal);
    assertThat(flushErrors).singleElement().satisfies(f -> {
      assertThat(f.error()).isInstanceOf(ExecutionException.class).hasCause(fatal);
      assertThat(f.items()).containsExactly("a");
    });
    DeliveryException c = failure("c");
    assertThat(c.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(c).hasMessage("the buffer stopped before the item was delivered").hasCause(fatal);
    sink.release("b");
    loop().exec(d::awaitAll);
    assertThat(futures.get("b")).as("a running flush finishes after a fatal error").isCompleted();
    loop().exec(() -> d.dispatch(state(null, "d"), FlushReason.COUNT));
    assertThat(failure("d")).hasMessage("the buffer stopped before the item was delivered");
    assertThat(sink.calls).containsExactlyInAnyOrder("null=[a]", "null=[b]");
    assertThat(seal(d)).containsExactly("c", "d");
    assertThat(memory.used()).isZero();
  }

  @Test
  void afterAStopAnInlineDispatchGivesTheBatchUpWithoutFlushingIt() {
    Dispatcher<String> d = start(1, false);
    d.stop(false);
    loop().exec(() -> d.dispatch(state(null, "a", "b"), FlushReason.CLOSE));
    assertThat(sink.calls).isEmpty();
    assertThat(failure("a")).hasMessage("close(timeout) gave up before the item was delivered");
    assertThat(stats().undelivered()).isEqualTo(2);
    assertThat(stats().flushesByReason()).containsEntry(FlushReason.CLOSE, 0L);
    assertThat(seal(d)).containsExactly("a", "b");
    assertThat(memory.used()).isZero();
  }

  @Test
  void aStrayInterruptOnTheLoopIsClearedAndReported() {
    Dispatcher<String> d = start(1, false);
    assertThat(loop().call(() -> {
      Thread.currentThread().interrupt();
      d.clearStrayInterrupt();
      return Thread.interrupted();
    })).isFalse();
    assertThat(logged()).containsExactly("a callback interrupted its thread; the interrupt was cleared");
  }

  @Test
  void afterAStopAnInterruptOnTheLoopIsKept() {
    Dispatcher<String> d = start(1, false);
    d.stop(false);
    assertThat(loop().call(() -> {
      Thread.currentThread().interrupt();
      d.clearStrayInterrupt();
      return Thread.interrupted();
    })).isTrue();
    assertThat(loop().call(() -> {
      d.clearStrayInterrupt();
      return Thread.interrupted();
    })).as("no interrupt, none made").isFalse();
    assertThat(logged()).isEmpty();
  }

  // ---- giving up ------------------------------------------------------------------------------

  @Test
  void itemsGivenUpBeforeTheListIsTakenAreHandedBackUndelivered() {
    Dispatcher<String> d = start(1, false);
    BatchState<String> s = state(null, "x", "yy");
    loop().exec(() -> d.giveUp(List.of("x", "yy"), s.futures, s.held));
    DeliveryException e = failure("x");
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(e).hasMessage("close(timeout) gave up before the item was delivered").hasNoCause();
    assertThat(failure("yy")).hasMessage(e.getMessage());
    assertThat(stats().undelivered()).isEqualTo(2);
    assertThat(stats().failed()).isZero();
    assertThat(memory.used()).isZero();
    assertThat(flushErrors).isEmpty();
    assertThat(seal(d)).containsExactly("x", "yy");
  }

  @Test
  void itemsGivenUpAfterTheListWasTakenGoToOnFlushErrorAsFailed() {
    Dispatcher<String> d = start(1, false);
    assertThat(d.seal()).isEmpty(); // on the test thread: the loop must find the lock free
    BatchState<String> s = state(null, "x", "yy");
    loop().exec(() -> d.giveUp(List.of("x", "yy"), s.futures, s.held));
    assertThat(flushErrors).singleElement().satisfies(f -> {
      assertThat(f.items()).containsExactly("x", "yy");
      assertThat(f.error()).isInstanceOf(DeliveryException.class)
          .hasMessage("close(timeout) had returned before these 2 items were settled").hasNoCause();
      assertThat(((DeliveryException) f.error()).reason())
          .isEqualTo(DeliveryException.Reason.UNDELIVERED);
    });
    Exception told = flushErrors.get(0).error();
    DeliveryException e = failure("x");
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(e).hasMessage("close(timeout) had returned before these 2 items were settled")
        .hasCause(told);
    assertThat(failure("yy").reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(stats().failed()).isEqualTo(2);
    assertThat(stats().undelivered()).isZero();
    assertThat(memory.used()).isZero();
    assertThat(seal(d)).isEmpty();
    CompletableFuture<Void> request = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(request, false))).isTrue();
    DeliveryException r = requestFailure(request);
    assertThat(r.reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(r).hasMessage("2 items failed since the previous flush() (handed to onFlushError)")
        .hasCause(told);
  }

  @Test
  void givingUpNoItemsStillGivesBackTheirBytes() {
    Dispatcher<String> d = start(1, false);
    assertThat(memory.tryAcquire(5)).isTrue();
    loop().exec(() -> d.giveUp(List.of(), null, 5));
    assertThat(memory.used()).isZero();
    assertThat(stats().undelivered()).isZero();
    assertThat(seal(d)).isEmpty();
  }

  // ---- failed flushes -------------------------------------------------------------------------

  @Test
  void aPartialFailureFailsOnlyTheNamedItemsAndHandsOnFlushErrorJustThose() throws Exception {
    Dispatcher<String> d = start(1, false);
    IOException cause = new IOException("two throttled");
    PartialFlushException partial = new PartialFlushException(List.of(2, 0), cause);
    sink.failWith("i0", partial);
    BatchState<String> s = state(null, "i0", "i1", "i2", "i3");
    Objects.requireNonNull(s.futures)[1] = null; // i1 untracked
    loop().exec(() -> d.dispatch(s, FlushReason.BYTES));
    for (String item : List.of("i0", "i2")) {
      DeliveryException e = failure(item);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(e).hasMessage("the item's batch failed").hasCause(partial);
    }
    assertThat(futures.get("i1")).isNotDone();
    assertThat(futures.get("i3")).isCompleted();
    assertThat(flushErrors).singleElement().satisfies(f -> {
      assertThat(f.items()).containsExactly("i0", "i2");
      assertThat(f.error()).isInstanceOf(PartialFlushException.class).hasCause(cause);
      assertThat(((PartialFlushException) f.error()).failedIndexes()).containsExactly(0, 1);
      assertThat(f.error().getSuppressed()).containsExactly(partial);
    });
    assertThat(stats().flushed()).isEqualTo(2);
    assertThat(stats().failed()).isEqualTo(2);
    assertThat(heard).singleElement().satisfies(i -> assertThat(i.failed()).isEqualTo(2));
    assertThat(heardErrors).containsExactly(partial);
    assertThat(memory.used()).isZero();
    CompletableFuture<Void> request = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(request, false))).isTrue();
    DeliveryException r = requestFailure(request);
    assertThat(r.reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(r).hasMessage("2 items failed since the previous flush() (handed to onFlushError)")
        .hasCause(partial);
    CompletableFuture<Void> next = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(next, false))).as("counted once").isFalse();
    assertThat(next).isCompleted();
  }

  @Test
  void aPartialFailureNamingTheFirstAndLastItemsFailsThoseTwo() {
    Dispatcher<String> d = start(1, false);
    sink.failWith("i0", new PartialFlushException(List.of(0, 3), null));
    loop().exec(() -> d.dispatch(state(null, "i0", "i1", "i2", "i3"), FlushReason.COUNT));
    assertThat(flushErrors).singleElement()
        .satisfies(f -> assertThat(f.items()).containsExactly("i0", "i3"));
    assertThat(futures.get("i1")).isCompleted();
    assertThat(futures.get("i2")).isCompleted();
    assertThat(failure("i3").reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(logged()).isEmpty();
  }

  @Test
  void aBatchThatFillsItsArrayToTheLastSlotIsSettledWithinIt() {
    Dispatcher<String> d = start(1, false);
    sink.failWith("f1", new PartialFlushException(List.of(0), null));
    loop().exec(() -> d.dispatch(fullState(null, "a", "b"), FlushReason.COUNT));
    loop().exec(() -> d.dispatch(fullState(null, "f1", "f2"), FlushReason.COUNT));
    assertThat(futures.get("a")).isCompleted();
    assertThat(futures.get("b")).isCompleted();
    assertThat(failure("f1").reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(futures.get("f2")).isCompleted();
    assertThat(stats().flushed()).isEqualTo(3);
  }

  @Test
  void aPartialFailureNamingNoItemSettlesTheBatchAsDelivered() {
    Dispatcher<String> d = start(1, false);
    sink.failWith("a", new PartialFlushException(List.of(), new IOException("nothing")));
    loop().exec(() -> d.dispatch(state(null, "a", "b"), FlushReason.COUNT));
    assertThat(futures.values()).hasSize(2).allSatisfy(f -> assertThat(f).isCompleted());
    assertThat(flushErrors).isEmpty();
    assertThat(stats().flushed()).isEqualTo(2);
    assertThat(stats().failed()).isZero();
    assertThat(heardErrors).isEmpty();
    assertThat(heard).singleElement().satisfies(i -> assertThat(i.failed()).isZero());
    assertThat(memory.used()).isZero();
  }

  @Test
  void aPartialFailureNamingAnIndexPastTheBatchFailsTheWholeBatchAndIsReported() {
    Dispatcher<String> d = start(1, false);
    PartialFlushException lying = new ClaimedIndexes(List.of(1, 4));
    sink.failWith("i0", lying);
    loop().exec(() -> d.dispatch(state(null, "i0", "i1", "i2", "i3"), FlushReason.COUNT));
    assertThat(flushErrors).singleElement().satisfies(f -> {
      assertThat(f.items()).containsExactly("i0", "i1", "i2", "i3");
      assertThat(f.error()).isSameAs(lying);
    });
    assertThat(futures.values()).allSatisfy(
        f -> assertThat(f.exceptionNow()).hasMessage("the item's batch failed").hasCause(lying));
    assertThat(stats().failed()).isEqualTo(4);
    assertThat(logged()).containsExactly("a PartialFlushException named index 4, outside its batch"
        + " of 4; the whole batch counts as failed");
  }

  @Test
  void aPartialFailureNamingANegativeIndexFailsTheWholeBatchAndIsReported() {
    Dispatcher<String> d = start(1, false);
    sink.failWith("i0", new ClaimedIndexes(List.of(-1, 1)));
    loop().exec(() -> d.dispatch(state(null, "i0", "i1"), FlushReason.COUNT));
    assertThat(flushErrors).singleElement()
        .satisfies(f -> assertThat(f.items()).containsExactly("i0", "i1"));
    assertThat(logged()).containsExactly("a PartialFlushException named index -1, outside its batch"
        + " of 2; the whole batch counts as failed");
  }

  @Test
  void aFlushThatThrowsANonFatalErrorFailsItsBatchWithTheErrorWrapped() {
    Dispatcher<String> d = start(1, false);
    LinkageError error = new LinkageError("test: not fatal");
    sink.failWith("a", error);
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    assertThat(flushErrors).singleElement().satisfies(
        f -> assertThat(f.error()).isInstanceOf(ExecutionException.class).hasCause(error));
    assertThat(failure("a").getCause()).isInstanceOf(ExecutionException.class).hasCause(error);
    assertThat(problems.fatal()).isNull();
    loop().exec(() -> d.dispatch(state(null, "b"), FlushReason.COUNT));
    assertThat(futures.get("b")).isCompleted();
  }

  @Test
  void aFailedFlushInterruptedByCloseAfterTheListWasTakenGoesToOnFlushError() {
    Dispatcher<String> d = start(2, false);
    sink.hold("a");
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    sink.awaitStarted("a");
    d.stop(true);
    sink.join("a");
    assertThat(seal(d)).isEmpty();
    loop().exec(d::awaitAll);
    assertThat(flushErrors).singleElement().satisfies(f -> {
      assertThat(f.items()).containsExactly("a");
      assertThat(f.error()).isInstanceOf(InterruptedException.class);
    });
    assertThat(failure("a").reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(stats().failed()).isEqualTo(1);
    assertThat(stats().undelivered()).isZero();
  }

  @Test
  void aFailureWithTheDefaultHandlerIsLoggedUnderTheBuffersName() {
    onFlushError = Defaults.logAndDrop();
    Dispatcher<String> d = start(1, false);
    IOException down = new IOException("down");
    sink.failWith("a", down);
    loop().exec(() -> d.dispatch(state(null, "a", "b"), FlushReason.COUNT));
    assertThat(logged()).containsExactly(
        "flush of 2 items failed; batch dropped (set onFlushError to handle it)");
    assertThat(RecordingLoggerFinder.linesContaining(name + ": flush of 2 items failed"))
        .singleElement().satisfies(l -> assertThat(l.error()).isSameAs(down));
    assertThat(failure("a").reason()).isEqualTo(DeliveryException.Reason.FAILED);
  }

  @Test
  void anOnFlushErrorThatThrowsIsLoggedAndItsItemsAreDropped() {
    IllegalStateException thrown = new IllegalStateException("handler broke");
    onFlushError = (e, items) -> {
      throw thrown;
    };
    Dispatcher<String> d = start(1, false);
    sink.failWith("a", new IOException("down"));
    loop().exec(() -> d.dispatch(state(null, "a", "b"), FlushReason.COUNT));
    assertThat(logged()).containsExactly(
        "onFlushError threw while handling a failed flush of 2 items; they are dropped");
    assertThat(problems.fatal()).isNull();
    assertThat(stats().failed()).isEqualTo(2);
  }

  @Test
  void anOnFlushErrorThatThrowsAFatalErrorStopsTheBuffer() {
    OutOfMemoryError fatal = new OutOfMemoryError("test: fatal error from onFlushError");
    onFlushError = (e, items) -> {
      throw fatal;
    };
    Dispatcher<String> d = start(1, false);
    sink.failWith("a", new IOException("down"));
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    assertThat(problems.fatal()).isSameAs(fatal);
  }

  // ---- rejecting ------------------------------------------------------------------------------

  @Test
  void aRejectedItemFailsItsFutureAndReachesOnRejectAfterItsBytesAreBack() {
    Dispatcher<String> d = start(1, false);
    assertThat(memory.tryAcquire(3)).isTrue();
    CompletableFuture<Void> future = new CompletableFuture<>();
    IOException cause = new IOException("policy");
    d.reject("abc", 3, future, "too heavy", cause);
    DeliveryException e = (DeliveryException) future.exceptionNow();
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
    assertThat(e).hasMessage("too heavy").hasCause(cause);
    assertThat(rejected).containsExactly("abc");
    assertThat(heldAtReject).containsExactly(0L);
    assertThat(heardRejected).containsExactly("abc");
    assertThat(stats().rejected()).isEqualTo(1);
    d.reject("untracked", 0, null, "full", null);
    assertThat(rejected).containsExactly("abc", "untracked");
    assertThat(logged()).isEmpty();
  }

  @Test
  void anOnRejectThatThrowsIsLoggedWithTheItem() {
    onReject = item -> {
      throw new IllegalStateException("handler broke");
    };
    Dispatcher<String> d = start(1, false);
    d.reject("abc", 0, null, "full", null);
    assertThat(logged()).containsExactly("onReject threw; the rejected item is dropped: abc");
    assertThat(problems.fatal()).isNull();
    assertThat(stats().rejected()).isEqualTo(1);
  }

  @Test
  void anOnRejectThatThrowsAFatalErrorStopsTheBuffer() {
    OutOfMemoryError fatal = new OutOfMemoryError("test: fatal error from onReject");
    onReject = item -> {
      throw fatal;
    };
    Dispatcher<String> d = start(1, false);
    d.reject("abc", 0, null, "full", null);
    assertThat(problems.fatal()).isSameAs(fatal);
  }

  // ---- flush() requests -----------------------------------------------------------------------

  @Test
  void aFlushRequestWithNothingLostSinceThePreviousOneSucceeds() {
    Dispatcher<String> d = start(1, false);
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.EXPLICIT));
    CompletableFuture<Void> request = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(request, false))).isFalse();
    assertThat(request).isCompleted();
  }

  @Test
  void aLossyFlushRequestFailsEvenWithNothingCountedSinceThePreviousOne() {
    Dispatcher<String> d = start(1, false);
    CompletableFuture<Void> request = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(request, true))).isTrue();
    DeliveryException r = requestFailure(request);
    assertThat(r.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(r).hasMessage("the buffer gave up on items accepted before this flush()").hasNoCause();
  }

  @Test
  void aFlushRequestAfterFailuresAndGiveUpsNamesBothCountsAndTheLastFailure() {
    Dispatcher<String> d = start(1, false);
    IOException down = new IOException("down");
    sink.failWith("a", down);
    loop().exec(() -> d.dispatch(state(null, "a", "b", "c"), FlushReason.COUNT));
    loop().exec(() -> d.giveUp(List.of("x", "y"), null, 0));
    CompletableFuture<Void> request = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(request, false))).isTrue();
    DeliveryException r = requestFailure(request);
    assertThat(r.reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(r).hasMessage("3 items failed (handed to onFlushError) and 2 were given up"
        + " undelivered since the previous flush()").hasCause(down);
    CompletableFuture<Void> next = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(next, false))).isFalse();
    assertThat(next).isCompleted();
  }

  @Test
  void aFlushRequestAfterAFatalErrorCarriesIt() {
    Dispatcher<String> d = start(1, false);
    OutOfMemoryError fatal = new OutOfMemoryError("test: fatal");
    problems.fail(fatal);
    loop().exec(() -> d.giveUp(List.of("x"), null, 0));
    CompletableFuture<Void> request = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(request, false))).isTrue();
    assertThat(requestFailure(request))
        .hasMessage("1 items were given up undelivered since the previous flush()").hasCause(fatal);
    CompletableFuture<Void> lossy = new CompletableFuture<>();
    assertThat(loop().call(() -> d.complete(lossy, true))).isTrue();
    assertThat(requestFailure(lossy)).hasCause(fatal);
  }

  @Test
  void aFlushRequestWaitsForTheRunningFlushesAndCountsTheirFailures() {
    Dispatcher<String> d = start(2, false);
    sink.hold("a");
    sink.failWith("a", new IOException("down"));
    loop().exec(() -> d.dispatch(state(null, "a"), FlushReason.COUNT));
    CompletableFuture<Void> request = new CompletableFuture<>();
    CompletableFuture<Boolean> answered = loop().submitCall(() -> d.complete(request, false));
    awaitParked(d, answered);
    assertThat(request).isNotDone();
    sink.release("a");
    assertThat(get(answered)).isTrue();
    assertThat(requestFailure(request).reason()).isEqualTo(DeliveryException.Reason.FAILED);
  }

  // ---- JFR and describe -----------------------------------------------------------------------

  @Test
  void eachFlushIsRecordedAsAJfrEventWithItsKeyAndOutcome() throws Exception {
    Dispatcher<String> d = start(1, true);
    sink.failWith("f", new IOException("down"));
    sink.failWith("p", new PartialFlushException(List.of(0), null));
    Path file = Files.createTempFile("dispatcher-test", ".jfr");
    List<RecordedEvent> events;
    try (Recording recording = new Recording()) {
      recording.enable("dev.batchbuffer.Flush").withoutThreshold();
      recording.start();
      loop().exec(() -> d.dispatch(state(null, "ok", "ok2"), FlushReason.COUNT));
      loop().exec(() -> d.dispatch(state("k", "f"), FlushReason.TIME));
      loop().exec(() -> d.dispatch(state("k", "p"), FlushReason.CLOSE));
      recording.stop();
      recording.dump(file);
      events = RecordingFile.readAllEvents(file);
    } finally {
      Files.deleteIfExists(file);
    }
    List<String> mine = events.stream().filter(e -> name.equals(e.getString("buffer")))
        .map(e -> e.getString("key") + "|" + e.getInt("items") + "|" + e.getLong("bytes") + "|"
            + e.getString("reason") + "|" + e.getString("outcome"))
        .toList();
    assertThat(mine).containsExactly("|2|20|COUNT|ok", "k|1|10|TIME|failed", "k|1|10|CLOSE|partial");
    assertThat(logged()).isEmpty();
  }

  /** An object whose toString throws. */
  static final class Unprintable {
    @Override
    public String toString() {
      throw new IllegalStateException("no toString");
    }
  }

  @Test
  void describeRendersAnItemBrieflyAndSafely() {
    assertThat(Dispatcher.describe("abc")).isEqualTo("abc");
    String exactly = "x".repeat(200);
    assertThat(Dispatcher.describe(exactly)).isEqualTo(exactly);
    assertThat(Dispatcher.describe("y".repeat(201))).isEqualTo("y".repeat(200) + "...");
    assertThat(Dispatcher.describe(new Unprintable()))
        .isEqualTo(Unprintable.class.getName() + " (toString threw)");
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** A PartialFlushException whose getter names other indexes than its constructor validated. */
  static final class ClaimedIndexes extends PartialFlushException {
    private static final long serialVersionUID = 1L;
    private final int[] claimed;

    ClaimedIndexes(List<Integer> claimed) {
      super(List.of(), null);
      this.claimed = claimed.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public List<Integer> failedIndexes() {
      return Arrays.stream(claimed).boxed().toList();
    }
  }

  /**
   * The flush function: records each call (key and items, and its thread) and, per batch named by
   * its first item, runs a hook, waits until the test releases it (an interrupt ends the wait with
   * InterruptedException), and throws a scripted failure. Tracks flushes of one key that overlap.
   */
  static final class TestSink implements Dispatcher.Sink<String> {
    final List<String> calls = new CopyOnWriteArrayList<>();
    final Map<String, Thread> threads = new ConcurrentHashMap<>();
    final List<String> overlaps = new CopyOnWriteArrayList<>();
    private final Map<String, Async.Action> hooks = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> holds = new ConcurrentHashMap<>();
    private final Map<String, Throwable> failures = new ConcurrentHashMap<>();
    private final Map<Object, AtomicInteger> running = new ConcurrentHashMap<>();
    volatile boolean failWhenInterrupted;

    void during(String first, Async.Action hook) {
      hooks.put(first, hook);
    }

    void hold(String first) {
      holds.put(first, new CountDownLatch(1));
    }

    void release(String first) {
      Objects.requireNonNull(holds.get(first), first).countDown();
    }

    void releaseAll() {
      holds.values().forEach(CountDownLatch::countDown);
    }

    void failWith(String first, Throwable failure) {
      failures.put(first, failure);
    }

    void awaitStarted(String first) {
      await(first + " started").atMost(WAIT).pollDelay(Duration.ZERO)
          .pollInterval(Duration.ofMillis(1)).until(() -> threads.containsKey(first));
    }

    /** The thread the flush of {@code first} ran on, once it started. */
    Thread thread(String first) {
      awaitStarted(first);
      return Objects.requireNonNull(threads.get(first), first);
    }

    /** Waits until the flush of {@code first} has ended and been handed back to the loop. */
    void join(String first) {
      DispatcherTest.join(thread(first));
    }

    @Override
    public void flush(@Nullable Object key, List<String> batch) throws Exception {
      String first = batch.get(0);
      calls.add(key + "=" + batch);
      AtomicInteger mine = running.computeIfAbsent(String.valueOf(key), k -> new AtomicInteger());
      if (mine.incrementAndGet() > 1 && key != null) {
        overlaps.add(key + "=" + batch);
      }
      try {
        Async.Action hook = hooks.get(first);
        if (hook != null) {
          hook.run();
        }
        if (failWhenInterrupted && Thread.currentThread().isInterrupted()) {
          throw new InterruptedException("interrupted before the flush began");
        }
        threads.put(first, Thread.currentThread());
        CountDownLatch hold = holds.get(first);
        if (hold != null && !hold.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
          throw new TimeoutException(first + " was never released");
        }
        Throwable failure = failures.get(first);
        if (failure instanceof Exception e) {
          throw e;
        }
        if (failure instanceof Error e) {
          throw e;
        }
      } finally {
        threads.putIfAbsent(first, Thread.currentThread());
        mine.decrementAndGet();
      }
    }
  }

  /**
   * The stand-in for the buffer's loop: a thread of the dispatcher, bound as its loop, that runs
   * what the test hands it one at a time. Every call the test makes through it is bounded by
   * {@link dev.batchbuffer.TestConstants#WAIT}, so a dispatcher that never returns fails the test.
   */
  static final class LoopThread implements AutoCloseable {
    final Thread thread;
    private final BlockingQueue<Runnable> tasks = new LinkedBlockingQueue<>();
    private volatile boolean closed;

    LoopThread(Dispatcher<?> dispatcher) {
      thread = dispatcher.newThread("-loop", this::serve);
      dispatcher.bindLoop(thread);
      thread.start();
    }

    private void serve() {
      while (!closed) {
        Runnable task;
        try {
          task = tasks.take();
        } catch (InterruptedException e) {
          continue; // stop(true) interrupted the idle loop; closing ends it
        }
        task.run();
      }
    }

    <V> CompletableFuture<V> submitCall(Async.Work<V> work) {
      CompletableFuture<V> result = new CompletableFuture<>();
      tasks.add(() -> {
        try {
          result.complete(work.call());
        } catch (Throwable t) {
          result.completeExceptionally(t);
        }
      });
      return result;
    }

    CompletableFuture<Void> submit(Async.Action action) {
      CompletableFuture<Void> result = new CompletableFuture<>();
      tasks.add(() -> {
        try {
          action.run();
          result.complete(null);
        } catch (Throwable t) {
          result.completeExceptionally(t);
        }
      });
      return result;
    }

    <V> V call(Async.Work<V> work) {
      return get(submitCall(work));
    }

    void exec(Async.Action action) {
      get(submit(action));
    }

    @Override
    public void close() {
      closed = true;
      thread.interrupt();
    }
  }

  Dispatcher<String> start(int maxInFlight, boolean keyed) {
    Dispatcher<String> d = new Dispatcher<>(name, time, problems, telemetry, sink, null, false, onReject,
        onFlushError, memory, maxInFlight, keyed);
    dispatcher = d;
    loop = new LoopThread(d);
    return d;
  }

  LoopThread loop() {
    return Objects.requireNonNull(loop, "no dispatcher started");
  }

  static Limits<String> limits() {
    return Limits.of(FlushPolicy.<String>count(100), HOURS);
  }

  /**
   * A batch about to be handed over: its array longer than its items, each item tracked (its future
   * in {@link #futures}), weighing 10 per item by the policy and its length under the memory bound
   * (taken from the gate).
   */
  BatchState<String> state(@Nullable Object key, String... items) {
    return state(3, key, items);
  }

  /** As {@link #state(Object, String...)}, its arrays exactly as long as its items. */
  BatchState<String> fullState(@Nullable Object key, String... items) {
    return state(0, key, items);
  }

  /** As {@link #state(Object, String...)}, with {@code spare} unused slots after the items. */
  BatchState<String> state(int spare, @Nullable Object key, String... items) {
    BatchState<String> s = new BatchState<>(limits(), key);
    s.items = Arrays.copyOf(items, items.length + spare, Object[].class);
    Object[] tracked = new Object[s.items.length];
    long held = 0;
    for (int i = 0; i < items.length; i++) {
      CompletableFuture<Void> f = new CompletableFuture<>();
      futures.put(items[i], f);
      tracked[i] = f;
      held += items[i].length();
    }
    s.futures = tracked;
    s.size = items.length;
    s.bytes = 10L * items.length;
    s.held = held;
    assertThat(memory.tryAcquire(held)).isTrue();
    return s;
  }

  /** Takes the undelivered list on a thread of its own, bounded: a lock left held fails the test. */
  static List<Object> seal(Dispatcher<String> d) {
    return get(Async.call(d::seal));
  }

  BufferStats stats() {
    return telemetry.snapshot(BufferStats.State.RUNNING, () -> 0, 0, 0);
  }

  /** The messages this dispatcher's Problems logged, without the name prefix. */
  List<String> logged() {
    String prefix = name + ": ";
    List<String> out = new ArrayList<>();
    for (RecordingLoggerFinder.Line l : RecordingLoggerFinder.linesContaining(prefix)) {
      if (l.message().startsWith(prefix)) {
        out.add(l.message().substring(prefix.length()));
      }
    }
    return out;
  }

  /** The DeliveryException an item's future failed with; the future must be done already. */
  DeliveryException failure(String item) {
    CompletableFuture<Void> f = Objects.requireNonNull(futures.get(item), item);
    assertThat(f).as("future of " + item).isCompletedExceptionally();
    return (DeliveryException) f.exceptionNow();
  }

  static DeliveryException requestFailure(CompletableFuture<Void> request) {
    assertThat(request).isCompletedExceptionally();
    return (DeliveryException) request.exceptionNow();
  }

  /**
   * Waits until the loop parks inside the dispatcher (waiting for a flush to finish) or the call
   * it makes returns, and asserts the former: a call that returns without waiting fails at once.
   */
  void awaitParked(Dispatcher<String> d, CompletableFuture<?> call) {
    Thread t = loop().thread;
    await("the loop parks in the dispatcher").atMost(WAIT).pollDelay(Duration.ZERO)
        .pollInterval(Duration.ofMillis(1))
        .until(() -> call.isDone() || LockSupport.getBlocker(t) == d);
    assertThat(call).as("returned instead of waiting").isNotDone();
  }

  /** Runs on the loop: waits for {@code go} and tells whether an interrupt came meanwhile. */
  static String waitFor(CountDownLatch go) {
    try {
      if (!go.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
        return "timed out";
      }
      return Thread.interrupted() ? "interrupted" : "not interrupted";
    } catch (InterruptedException e) {
      return "interrupted";
    }
  }

  static <V> V get(CompletableFuture<V> f) {
    try {
      return f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof AssertionError a) {
        throw a;
      }
      throw new AssertionError("the call failed: " + cause, cause);
    } catch (TimeoutException e) {
      throw new AssertionError("the call did not return within " + WAIT, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  static void join(Thread t) {
    try {
      if (!t.join(WAIT)) {
        throw new AssertionError(t.getName() + " did not end within " + WAIT);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
