package dev.batchbuffer;

/*
 * Regression tests for the dispatcher rewrite: close from the buffer's own threads, admission from
 * its own threads, close(Duration) on the buffer's clock and what it hands back, flush()'s truth at
 * a bounded close, and fatal errors. Helpers live in DispatcherContractTest.
 *
 * Status against the code before the rewrite (branch point 748d163). "assertion" = an AssertJ or
 * Awaitility failure; "after 10 s" = it waits its bounded WAIT first; none needs the 30 s timeout.
 * Where the old code deadlocks, the test leaves parked virtual threads behind (harmless daemons).
 *   closeFromInsideAFlushDoesNotDeadlockWithMaxInFlightAboveOne: FAILS, assertion after 10 s - a flush
 *     thread is not "own": its close() joins the loop, which waits for that flush: deadlock.
 *   addFromAFlushThreadIntoAFullChannelFailsFast: FAILS, assertion after 10 s - only the loop thread
 *     fails fast; the flush thread's add blocks on the full channel.
 *   addFromTheLoopThreadIntoAFullChannelFailsFast: PASSED before too (a guard for maxInFlight 1).
 *   addFromAnAsyncPeriodicTaskIntoAFullChannelFailsFast: FAILS, assertion after 10 s - the task's add
 *     blocks on the full channel.
 *   addFromATimeoutWorkerIntoAFullChannelFailsFast: FAILS, assertion after 10 s - the worker's add
 *     blocks while the loop waits for the worker.
 *   flushFailsWhenCloseWithTimeoutGivesUpItsItems: FAILS, assertion at once - the flush() marker is
 *     completed normally after its items were given up (only FAILED items count against it).
 *   closeWithTimeoutInterruptsFlushesBlockedOnTheirOwnThreads: FAILS, assertion after 10 s - close
 *     waits on System.nanoTime, and then interrupts only the loop: the three flush threads stay
 *     blocked, close says stillFlushing and hands nothing back.
 *   closeFromATimeoutWorkerReturnsAtOnceAndTheBatchIsDelivered: FAILS, assertion after 10 s - the
 *     timeout worker is not "own": its close() joins the loop, which waits for the worker.
 *   closeWithTimeoutMeasuresItsTimeoutOnTheBuffersClock: FAILS, assertion after 10 s - close joins the
 *     loop on System.nanoTime and never parks on the manual clock (it returns after 10 s of real time).
 *   closeWithTimeoutGraceIsAlsoOnTheBuffersClock: FAILS, assertion after 10 s - same cause.
 *   closeWithTimeoutHandsBackTheInterruptedBatchInAcceptanceOrder: FAILS, assertion at once - the
 *     interrupted batch 0..499 goes to onFlushError as FAILED instead of being handed back (and
 *     1000..1023, still in the loop's batch at the abort, come after 1024..1199).
 *   fatalErrorInFlushCompletesEveryFutureAndIsReportedByClose: FAILS, assertion after 10 s - the loop
 *     dies without telling the listener, pending futures never complete, close says drained.
 *   fatalErrorInOnRejectCompletesEveryFutureAndIsReportedByClose: FAILS, assertion after 10 s - same.
 */

import static dev.batchbuffer.DispatcherContractTest.deliveryFailure;
import static dev.batchbuffer.DispatcherContractTest.failureOf;
import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(RecordingLoggerFinder.Reset.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CloseContractTest {

  /** What {@code add} did on a buffer-owned thread: the throwable, or a marker that it returned. */
  static Throwable addOutcome(Buffer<Integer> buffer, int item) {
    try {
      buffer.add(item);
      return new AssertionError("add(" + item + ") returned normally");
    } catch (Throwable t) {
      return t;
    }
  }

  static Buffer<Integer> required(AtomicReference<Buffer<Integer>> self) {
    Buffer<Integer> b = self.get();
    if (b == null) {
      throw new AssertionError("the buffer is not set yet");
    }
    return b;
  }

  // ---- 1. close() from a flush thread ----

  @Test
  void closeFromInsideAFlushDoesNotDeadlockWithMaxInFlightAboveOne() throws Exception {
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    CountDownLatch allAdded = new CountDownLatch(1);
    CountDownLatch innerCloseReturned = new CountDownLatch(1);
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      recorder.flush(batch);
      if (batch.contains(0)) {
        allAdded.await();
        required(self).close(); // on a flush thread of its own: must not wait for itself
        innerCloseReturned.countDown();
      }
    };
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(100)
        .flushInterval(HOURS).build(), Options.builder().maxInFlight(3).build());
    self.set(buffer);
    for (int i = 0; i < 10; i++) {
      buffer.add(i);
    }
    allAdded.countDown();
    assertThat(innerCloseReturned.await(10, TimeUnit.SECONDS)).as("close() inside the flush returned").isTrue();
    CompletableFuture<Void> outerClose = Async.run(buffer::close);
    assertThat(outerClose).succeedsWithin(WAIT);
    assertThat(recorder.items()).containsExactlyInAnyOrderElementsOf(DispatcherContractTest.range(0, 10));
  }

  // ---- 2. add() from the buffer's own threads into a full channel ----

  @Test
  void addFromAFlushThreadIntoAFullChannelFailsFast() throws Exception {
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    CountDownLatch started0 = new CountDownLatch(1);
    CountDownLatch started1 = new CountDownLatch(1);
    CountDownLatch release0 = new CountDownLatch(1);
    CountDownLatch release1 = new CountDownLatch(1);
    CompletableFuture<Throwable> outcome = new CompletableFuture<>();
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      if (batch.contains(0)) {
        started0.countDown();
        release0.await();
      } else if (batch.contains(1)) {
        started1.countDown();
        release1.await();
        outcome.complete(addOutcome(required(self), 100));
      }
      recorder.flush(batch);
    };
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(1)
        .flushInterval(HOURS).build(), Options.builder().maxInFlight(2).build());
    self.set(buffer);
    try {
      buffer.add(0);
      buffer.add(1);
      assertThat(started0.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(started1.await(10, TimeUnit.SECONDS)).isTrue(); // both in-flight slots busy
      buffer.add(2);   // the loop takes it and waits for a slot
      buffer.add(3);   // fills the channel of 1
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 1);
      release1.countDown();
      assertThat(outcome).as("what add() on the flush thread did").succeedsWithin(WAIT);
      assertThat(outcome.join()).isInstanceOf(IllegalStateException.class);
    } finally {
      release0.countDown();
      release1.countDown();
    }
    assertThat(Async.run(buffer::close)).succeedsWithin(WAIT);
    assertThat(recorder.items()).containsExactlyInAnyOrder(0, 1, 2, 3);
  }

  @Test
  void addFromTheLoopThreadIntoAFullChannelFailsFast() throws Exception {
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Throwable> outcome = new CompletableFuture<>();
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      if (batch.contains(0)) {
        inFlush.countDown();
        release.await();
        outcome.complete(addOutcome(required(self), 100));
      }
      recorder.flush(batch);
    };
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(1)
        .flushInterval(HOURS).build());
    self.set(buffer);
    try {
      buffer.add(0);
      assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
      buffer.add(1); // the loop is in the flush: the channel of 1 is full
      release.countDown();
      assertThat(outcome).succeedsWithin(WAIT);
      assertThat(outcome.join()).isInstanceOf(IllegalStateException.class);
    } finally {
      release.countDown();
    }
    assertThat(Async.run(buffer::close)).succeedsWithin(WAIT);
    assertThat(recorder.items()).containsExactly(0, 1);
  }

  @Test
  void addFromAnAsyncPeriodicTaskIntoAFullChannelFailsFast() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    CountDownLatch taskStarted = new CountDownLatch(1);
    CountDownLatch taskGo = new CountDownLatch(1);
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch releaseFlush = new CountDownLatch(1);
    CompletableFuture<Throwable> outcome = new CompletableFuture<>();
    AtomicInteger runs = new AtomicInteger();
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      if (batch.contains(0)) {
        inFlush.countDown();
        releaseFlush.await();
      }
      recorder.flush(batch);
    };
    PeriodicTask task = () -> {
      if (runs.incrementAndGet() == 1) {
        taskStarted.countDown();
        taskGo.await();
        outcome.complete(addOutcome(required(self), 100));
      }
    };
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(1).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).periodicAsync(Duration.ofSeconds(1), task).build());
    self.set(buffer);
    try {
      await().atMost(WAIT).until(() -> time.timedWaiters() == 1); // the loop waits for the period
      time.advance(Duration.ofSeconds(1));
      assertThat(taskStarted.await(10, TimeUnit.SECONDS)).isTrue();
      buffer.add(0);
      assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
      buffer.add(1); // the loop is in the flush: the channel of 1 is full
      taskGo.countDown();
      assertThat(outcome).as("what add() on the periodic task's thread did").succeedsWithin(WAIT);
      assertThat(outcome.join()).isInstanceOf(IllegalStateException.class);
    } finally {
      taskGo.countDown();
      releaseFlush.countDown();
    }
    assertThat(Async.run(buffer::close)).succeedsWithin(WAIT);
    assertThat(recorder.items()).containsExactly(0, 1);
  }

  @Test
  void addFromATimeoutWorkerIntoAFullChannelFailsFast() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Throwable> outcome = new CompletableFuture<>();
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    FlushFunc<Integer> inner = batch -> {
      if (batch.contains(0)) {
        inFlush.countDown();
        release.await();
        outcome.complete(addOutcome(required(self), 100));
      }
      recorder.flush(batch);
    };
    FlushFunc<Integer> flush = FlushMiddleware.chain(inner, FlushMiddleware.<Integer>timeout(HOURS, time));
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(1).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).build());
    self.set(buffer);
    try {
      buffer.add(0);
      assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
      buffer.add(1); // the loop waits for the worker: the channel of 1 is full
      release.countDown();
      assertThat(outcome).as("what add() on the timeout worker did").succeedsWithin(WAIT);
      assertThat(outcome.join()).isInstanceOf(IllegalStateException.class);
    } finally {
      release.countDown();
      if (!outcome.isDone()) {
        time.advance(Duration.ofHours(2)); // old code: the timeout unblocks the loop
      }
    }
    assertThat(Async.run(buffer::close)).succeedsWithin(WAIT);
    assertThat(recorder.items()).containsExactly(0, 1);
  }

  // ---- 5. flush() is truthful at close(timeout) ----

  @Test
  void flushFailsWhenCloseWithTimeoutGivesUpItsItems() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    RecordingFlush<String> recorder = new RecordingFlush<>();
    FlushFunc<String> flush = batch -> {
      if (batch.contains("a")) {
        inFlush.countDown();
        try {
          new CountDownLatch(1).await();
        } catch (InterruptedException e) {
          // the backend finished the write anyway: this batch is delivered
        }
      }
      recorder.flush(batch);
    };
    // On the manual clock: the timeout passes when the test says so, and the grace after it never
    // does, so the loop's answer to the interrupt is waited for however loaded the machine is.
    ManualTimeSource time = new ManualTimeSource();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(10)
        .flushInterval(HOURS).onFlushError((e, batch) -> {}).build(),
        Options.builder().timeSource(time).build());
    buffer.add("a");
    assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
    buffer.add("b");
    buffer.add("c");
    CompletableFuture<Void> flushed = buffer.flush(); // covers b and c
    CompletableFuture<CloseResult<String>> closing = Async.call(() -> buffer.close(Duration.ofMillis(100)));
    time.awaitTimedWaiters(1, WAIT); // close waits for its timeout (the loop is in the flush)
    time.advance(Duration.ofMillis(100));
    assertThat(closing).succeedsWithin(WAIT);
    CloseResult<String> result = closing.join();
    assertThat(result.drained()).isFalse();
    assertThat(result.undelivered()).contains("b", "c"); // and "a" too, if a core hands it back
    DeliveryException e = deliveryFailure(flushed);
    assertThat(e.reason()).isIn(DeliveryException.Reason.UNDELIVERED, DeliveryException.Reason.FAILED);
  }

  // ---- 6. close(timeout) interrupts flushes on their own threads ----

  @Test
  void closeWithTimeoutInterruptsFlushesBlockedOnTheirOwnThreads() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    AtomicInteger running = new AtomicInteger();
    Set<Integer> interrupted = ConcurrentHashMap.newKeySet();
    FlushFunc<Integer> flush = batch -> {
      running.incrementAndGet();
      try {
        new CountDownLatch(1).await();
      } catch (InterruptedException e) {
        interrupted.addAll(batch);
        throw e;
      }
    };
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(10).flushInterval(HOURS)
        .onFlushError((e, batch) -> {}).build(),
        Options.builder().timeSource(time).maxInFlight(3).build());
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      futures.add(buffer.submit(i)); // 0, 1, 2 in flight; 3 and 4 wait for a slot
    }
    await().atMost(WAIT).until(() -> running.get() == 3);
    CompletableFuture<CloseResult<Integer>> closing = Async.call(() -> buffer.close(Duration.ofSeconds(10)));
    // Move the buffer's clock until close gives up (its timeout, then any grace, are on this clock).
    await("close(10 s) returns as the buffer's clock moves").atMost(WAIT).until(() -> {
      time.advance(Duration.ofSeconds(1));
      return closing.isDone();
    });
    CloseResult<Integer> result = closing.join();
    assertThat(interrupted).as("flushes that saw the interrupt").containsExactlyInAnyOrder(0, 1, 2);
    assertThat(result.drained()).isFalse();
    assertThat(result.stillFlushing()).isFalse();
    assertThat(result.undelivered()).containsExactly(0, 1, 2, 3, 4);
    assertThat(futures).allSatisfy(f ->
        assertThat(deliveryFailure(f).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED));
  }

  // ---- 10. close() from a timeout worker ----

  @Test
  void closeFromATimeoutWorkerReturnsAtOnceAndTheBatchIsDelivered() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    AtomicReference<Buffer<Integer>> self = new AtomicReference<>();
    CountDownLatch innerCloseReturned = new CountDownLatch(1);
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    FlushFunc<Integer> inner = batch -> {
      recorder.flush(batch);
      required(self).close(); // on the timeout's worker thread
      innerCloseReturned.countDown();
    };
    FlushFunc<Integer> flush = FlushMiddleware.chain(inner, FlushMiddleware.<Integer>timeout(HOURS, time));
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(10).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).build());
    self.set(buffer);
    CompletableFuture<Void> delivered = buffer.submit(1);
    try {
      assertThat(innerCloseReturned.await(10, TimeUnit.SECONDS)).as("close() on the worker returned").isTrue();
      assertThat(delivered).as("the batch whose flush closed the buffer").succeedsWithin(WAIT);
      assertThat(Async.run(buffer::close)).succeedsWithin(WAIT);
    } finally {
      if (innerCloseReturned.getCount() > 0) {
        time.advance(Duration.ofHours(2)); // old code: the timeout breaks the deadlock
      }
    }
    assertThat(recorder.items()).containsExactly(1);
  }

  // ---- 14. close(timeout) runs on the buffer's clock ----

  @Test
  void closeWithTimeoutMeasuresItsTimeoutOnTheBuffersClock() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch inFlush = new CountDownLatch(1);
    FlushFunc<String> flush = batch -> {
      inFlush.countDown();
      new CountDownLatch(1).await(); // blocked until interrupted
    };
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).flushInterval(HOURS)
        .onFlushError((e, batch) -> {}).build(), Options.builder().timeSource(time).build());
    buffer.add("a");
    assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<CloseResult<String>> closing = Async.call(() -> buffer.close(Duration.ofSeconds(10)));
    time.awaitTimedWaiters(1, WAIT); // close waits on the buffer's clock (the loop is in the flush)
    assertThat(closing).isNotDone();
    time.advance(Duration.ofSeconds(10));
    assertThat(closing).as("close(10 s) once the buffer's clock moved 10 s").succeedsWithin(Duration.ofSeconds(5));
    assertThat(closing.join().drained()).isFalse();
  }

  @Test
  void closeWithTimeoutGraceIsAlsoOnTheBuffersClock() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger interrupts = new AtomicInteger();
    FlushFunc<String> stubborn = batch -> {
      inFlush.countDown();
      for (boolean done = false; !done; ) {
        try {
          release.await();
          done = true;
        } catch (InterruptedException e) {
          interrupts.incrementAndGet(); // this backend ignores interrupts
        }
      }
    };
    Buffer<String> buffer = Buffer.start(Config.builder(stubborn).capacity(1).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).build());
    try {
      buffer.add("a");
      assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<CloseResult<String>> closing = Async.call(() -> buffer.close(Duration.ofSeconds(10)));
      time.awaitTimedWaiters(1, WAIT); // close waits on the buffer's clock (the loop is in the flush)
      assertThat(closing).isNotDone();
      time.advance(Duration.ofSeconds(10));
      await("close gave up and interrupted the flush").atMost(WAIT).until(() -> interrupts.get() >= 1);
      // Woken by the advance, close is parked again only for the grace, on the buffer's clock.
      time.awaitTimedWaiters(1, WAIT);
      assertThat(closing).isNotDone();
      time.advance(Duration.ofMillis(200));
      assertThat(closing).as("close after the 200 ms grace on the buffer's clock")
          .succeedsWithin(Duration.ofSeconds(5));
      assertThat(closing.join().drained()).isFalse();
      assertThat(closing.join().stillFlushing()).isTrue();
    } finally {
      release.countDown();
    }
  }

  // ---- 15. close(timeout) hands back what it gave up ----

  @Test
  void closeWithTimeoutHandsBackTheInterruptedBatchInAcceptanceOrder() throws Exception {
    String name = "handback-probe";
    CountDownLatch firstFlush = new CountDownLatch(1);
    AtomicInteger calls = new AtomicInteger();
    RecordingFlush<Integer> delivered = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      if (calls.incrementAndGet() == 1) {
        firstFlush.countDown();
        new CountDownLatch(1).await(); // blocked until interrupted; throws InterruptedException
      }
      delivered.flush(batch);
    };
    List<List<Integer>> onFlushError = new CopyOnWriteArrayList<>();
    ManualTimeSource time = new ManualTimeSource(); // the grace after the timeout never passes
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(500).flushInterval(HOURS)
        .onFlushError((e, batch) -> onFlushError.add(batch)).build(),
        Options.builder().name(name).timeSource(time).build());
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 1200; i++) {
      futures.add(buffer.submit(i));
    }
    assertThat(firstFlush.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<CloseResult<Integer>> closing = Async.call(() -> buffer.close(Duration.ofMillis(200)));
    time.awaitTimedWaiters(1, WAIT); // close waits for its timeout (the loop is in the flush)
    time.advance(Duration.ofMillis(200));
    assertThat(closing).succeedsWithin(WAIT);
    CloseResult<Integer> result = closing.join();
    List<Integer> expected = new ArrayList<>(DispatcherContractTest.range(0, 1200));
    expected.removeAll(delivered.items());
    assertThat(result.drained()).isFalse();
    assertThat(result.stillFlushing()).isFalse();
    assertThat(result.undelivered()).as("handed back, in acceptance order").containsExactlyElementsOf(expected);
    assertThat(result.undelivered()).contains(0, 499);
    for (int item : expected) {
      assertThat(deliveryFailure(futures.get(item)).reason()).as("item %d", item)
          .isEqualTo(DeliveryException.Reason.UNDELIVERED);
    }
    assertThat(onFlushError).as("onFlushError calls for given-up items").isEmpty();
    assertThat(RecordingLoggerFinder.LINES).filteredOn(l -> l.message().startsWith(name + ":")
        && l.level() == Level.WARNING && l.message().toLowerCase(java.util.Locale.ROOT).contains("interrupt"))
        .as("warnings about the interrupt").isEmpty();
  }

  // ---- 18. fatal errors ----

  @Test
  void fatalErrorInFlushCompletesEveryFutureAndIsReportedByClose() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    FlushFunc<String> flush = batch -> {
      Thread.currentThread().setUncaughtExceptionHandler((t, e) -> {}); // the error is expected
      if (batch.contains("boom")) {
        inFlush.countDown();
        release.await();
        throw new OutOfMemoryError("test");
      }
    };
    CompletableFuture<BufferStats> closed = new CompletableFuture<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(10).flushInterval(HOURS).build(),
        Options.<String>builder().name("fatal-flush-probe").listener(new BufferListener<String>() {
          @Override
          public void closed(BufferStats stats) {
            closed.complete(stats);
          }
        }).build());
    CompletableFuture<Void> boom = buffer.submit("boom");
    assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> p1 = buffer.submit("p1");
    CompletableFuture<Void> p2 = buffer.submit("p2");
    CompletableFuture<Void> flushed = buffer.flush();
    release.countDown();
    assertThat(closed).as("BufferListener.closed").succeedsWithin(WAIT);
    assertThat(List.of(boom, p1, p2, flushed)).allSatisfy(f -> assertThat(failureOf(f)).isNotNull());
    CloseResult<String> result = buffer.close(WAIT);
    assertThat(result.drained()).isFalse();
    assertThat(result.undelivered()).contains("p1", "p2");
  }

  @Test
  void fatalErrorInOnRejectCompletesEveryFutureAndIsReportedByClose() throws Exception {
    CountDownLatch inReject = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    RecordingFlush<String> recorder = new RecordingFlush<>();
    CompletableFuture<BufferStats> closed = new CompletableFuture<>();
    Config<String> config = Config.builder(recorder).capacity(100).flushInterval(HOURS)
        .canAdd((batch, item) -> !item.equals("bad"))
        .onReject(item -> {
          Thread.currentThread().setUncaughtExceptionHandler((t, e) -> {}); // the error is expected
          inReject.countDown();
          try {
            release.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          throw new OutOfMemoryError("test");
        }).build();
    Buffer<String> buffer = Buffer.start(config, Options.<String>builder().name("fatal-reject-probe")
        .listener(new BufferListener<String>() {
          @Override
          public void closed(BufferStats stats) {
            closed.complete(stats);
          }
        }).build());
    CompletableFuture<Void> p1 = buffer.submit("p1");     // waits in the batch
    CompletableFuture<Void> bad = buffer.submit("bad");
    assertThat(inReject.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> p2 = buffer.submit("p2");     // waits in the channel
    CompletableFuture<Void> flushed = buffer.flush();
    release.countDown();
    assertThat(closed).as("BufferListener.closed").succeedsWithin(WAIT);
    assertThat(List.of(p1, bad, p2, flushed)).allSatisfy(f -> assertThat(failureOf(f)).isNotNull());
    CloseResult<String> result = buffer.close(WAIT);
    assertThat(result.drained()).isFalse();
    assertThat(result.undelivered()).contains("p1", "p2");
    assertThat(recorder.items()).isEmpty();
  }
}
