package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Scenarios from an adversarial review of the delivery layer: settings combined, callbacks that
 * throw or leave their thread interrupted, close from the buffer's own threads. Each reproduced a
 * defect of the first dispatcher (its comment says what went wrong) and guards the fix, unless its
 * comment says it covers something no other test does.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class AdversarialTest {

  /** Waits on a latch, ignoring interrupts: a flush stuck in I/O that does not answer them. */
  static void awaitUninterruptibly(CountDownLatch latch) {
    boolean interrupted = false;
    for (; ; ) {
      try {
        latch.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  static <T> BufferListener<T> onClosed(CountDownLatch closed) {
    return new BufferListener<>() {
      @Override
      public void closed(BufferStats stats) {
        closed.countDown();
      }
    };
  }

  // ---- close(timeout) and periodic tasks ---------------------------------------------------------

  /**
   * README (Periodic tasks): "close() waits for a running one ... a close(timeout) that gives up
   * interrupts running tasks instead of waiting". When the loop already reached Hooks.finish(true)
   * and joins the task (uninterruptibly), close(timeout)'s give-up never reaches the task: it runs
   * on, the loop never ends, the listener never hears closed.
   */
  @Test
  void closeWithTimeoutInterruptsAnAsyncPeriodicTaskTheLoopIsJoining() throws Exception {
    CountDownLatch taskRunning = new CountDownLatch(1);
    CountDownLatch never = new CountDownLatch(1);
    AtomicBoolean taskInterrupted = new AtomicBoolean();
    CountDownLatch closed = new CountDownLatch(1);
    RecordingFlush<String> flush = new RecordingFlush<>();
    // On the manual clock: the task runs when the test moves time, close(timeout) gives up when the
    // test says so, and the grace after it never passes on its own.
    ManualTimeSource time = new ManualTimeSource();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).flushInterval(HOURS).build(),
        Options.<String>builder().timeSource(time)
            .periodicAsync(Duration.ofMillis(20), () -> {
              taskRunning.countDown();
              try {
                never.await();
              } catch (InterruptedException e) {
                taskInterrupted.set(true);
              }
            })
            .listener(onClosed(closed))
            .build());
    try {
      time.awaitTimedWaiters(1, WAIT); // the loop waits for the first period
      time.advance(Duration.ofMillis(20));
      assertThat(taskRunning.await(10, TimeUnit.SECONDS)).isTrue();
      buffer.add("a");
      CompletableFuture<CloseResult<String>> closing =
          Async.call(() -> buffer.close(Duration.ofMillis(300)));
      // The loop drained and flushed "a", then joins the task; move the clock until close gives up
      // (its timeout and grace are on this clock) and its give-up reaches the task.
      assertThat(flush.awaitItems(1, WAIT)).containsExactly("a");
      await("close(300 ms) interrupts the task as the buffer's clock moves").atMost(WAIT).until(() -> {
        time.advance(Duration.ofMillis(100));
        return taskInterrupted.get();
      });
      assertThat(closing).succeedsWithin(WAIT);
      assertThat(closing.join().drained()).isFalse();
      assertThat(closed.await(10, TimeUnit.SECONDS)).as("listener hears closed").isTrue();
    } finally {
      never.countDown();
    }
  }

  /**
   * A second close(timeout) after the first one gave up reports drained = true although items
   * were given up (to onFlushError) in between: drained is computed as undelivered().isEmpty()
   * (Engine.close(Duration)), ignoring that the buffer gave up.
   */
  @Test
  void closeAgainAfterGivingUpDoesNotReportDrained() throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    List<String> deadLetters = new CopyOnWriteArrayList<>();
    FlushFunc<String> flush = batch -> {
      if (batch.contains("a")) {
        inFlush.countDown();
        awaitUninterruptibly(release);
      }
    };
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(4)
        .flushInterval(HOURS).onFlushError((e, batch) -> deadLetters.addAll(batch)).build());
    CompletableFuture<Void> a = buffer.submit("a");
    assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> b = buffer.submit("b");
    CloseResult<String> first = buffer.close(Duration.ZERO);
    assertThat(first.drained()).isFalse();
    assertThat(first.stillFlushing()).isTrue();
    release.countDown();
    CloseResult<String> second = buffer.close(WAIT);
    a.get(5, TimeUnit.SECONDS);
    assertThat(b).isCompletedExceptionally();
    assertThat(deadLetters).containsExactly("b");
    assertThat(buffer.stats().flushed() + buffer.stats().failed()).isEqualTo(2);
    // "b" was never delivered: the buffer did not drain.
    assertThat(second.drained()).as("second close: drained").isFalse();
  }

  // ---- fatal errors ------------------------------------------------------------------------------

  /**
   * README: a VirtualMachineError from a callback stops the buffer: "everything not yet flushed is
   * given up (futures fail UNDELIVERED ...)". The loop checks for it only between bursts
   * (Loop.runUntilClosed), so the rest of the burst is still batched and flushed after the OOM.
   */
  @Test
  void afterAFatalErrorInAFlushNothingMoreIsFlushed() throws Exception {
    CountDownLatch inFirst = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    List<String> called = new CopyOnWriteArrayList<>();
    FlushFunc<String> flush = batch -> {
      called.addAll(batch);
      if (batch.contains("a")) {
        inFirst.countDown();
        release.await();
        throw new OutOfMemoryError("test");
      }
    };
    Buffer<String> buffer = Buffer.start(
        Config.builder(flush).capacity(1).chanSize(10).flushInterval(HOURS).build());
    CompletableFuture<Void> a = buffer.submit("a");
    assertThat(inFirst.await(10, TimeUnit.SECONDS)).isTrue();
    List<CompletableFuture<Void>> rest = new ArrayList<>();
    for (String s : List.of("b", "c", "d", "e")) {
      rest.add(buffer.submit(s));
    }
    release.countDown();
    CloseResult<String> result = buffer.close(WAIT);
    assertThat(a).isCompletedExceptionally();
    assertThat(called).as("batches the flush function received after the OOM").containsExactly("a");
    assertThat(result.undelivered()).containsExactly("b", "c", "d", "e");
    assertThat(rest).allSatisfy(f -> assertThat(f).isCompletedExceptionally());
  }

  /**
   * A VirtualMachineError thrown off the loop (an asynchronous periodic task; the same holds for
   * producerBlocked on a producer thread) is only recorded (Problems.caught): nobody wakes the
   * loop, so the buffer reports FAILED but keeps accepting items, and never hears closed until
   * something else wakes the loop. README: "the buffer stops ... the listener hears closed ...
   * producers get IllegalStateException with the error as cause".
   */
  @Test
  void fatalErrorInAnAsyncPeriodicTaskStopsTheBuffer() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch closed = new CountDownLatch(1);
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).flushInterval(HOURS).build(),
        Options.<String>builder().timeSource(time)
            .periodicAsync(Duration.ofSeconds(1), () -> {
              throw new OutOfMemoryError("test");
            })
            .listener(onClosed(closed))
            .build());
    try {
      await().until(() -> time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(1));
      await().until(() -> buffer.stats().hookErrors() == 1);
      assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.FAILED);
      assertThat(closed.await(3, TimeUnit.SECONDS)).as("listener hears closed").isTrue();
      assertThatThrownBy(() -> buffer.add("x")).isInstanceOf(IllegalStateException.class)
          .hasCauseInstanceOf(OutOfMemoryError.class);
    } finally {
      buffer.close();
    }
  }

  // ---- interrupts left by callbacks --------------------------------------------------------------

  /**
   * README: "a callback leaves the loop thread interrupted: the interrupt is cleared (no busy
   * loop)". It is cleared only before the loop parks (Loop.clearStrayInterrupt), so the next
   * callback in the same burst, here the flush of another batch, starts with the interrupt set and
   * its first blocking call fails: a healthy batch is reported FAILED.
   */
  @Test
  void anInterruptLeftByOneFlushDoesNotFailTheNext() throws Exception {
    CountDownLatch inGate = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    FlushFunc<String> flush = batch -> {
      switch (batch.get(0)) {
        case "gate" -> {
          inGate.countDown();
          release.await();
        }
        case "a" -> Thread.currentThread().interrupt(); // e.g. a client that restores an interrupt
        default -> {
          if (Thread.interrupted()) { // any interruptible I/O call would throw here
            throw new InterruptedException("interrupt leaked from an earlier callback");
          }
        }
      }
    };
    Buffer<String> buffer = Buffer.start(
        Config.builder(flush).capacity(1).chanSize(10).flushInterval(HOURS)
            .onFlushError((e, batch) -> {}).build());
    CompletableFuture<Void> gate = buffer.submit("gate");
    assertThat(inGate.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> a = buffer.submit("a");
    CompletableFuture<Void> b = buffer.submit("b");
    release.countDown();
    CompletableFuture.allOf(gate, a).get(5, TimeUnit.SECONDS);
    await().until(b::isDone);
    buffer.close();
    assertThat(b).as("b's flush").isCompletedWithValue(null);
  }

  // ---- memory bound ------------------------------------------------------------------------------

  /**
   * README: "re-add failed items with offer(item) and dead-letter what does not fit". The failed
   * batch's bytes are released only after onFlushError returns (Dispatcher.settle, release in the
   * finally), so a re-offer from onFlushError competes with the very items it re-adds: with a
   * bound the size of one batch, every re-add fails, forever.
   */
  @Test
  void reofferFromOnFlushErrorIsNotRefusedByTheFailedItemsOwnBytes() throws Exception {
    ScriptedFlush<String> backend = ScriptedFlush.<String>builder()
        .fail(new IOException("503")).build();
    AtomicReference<Buffer<String>> self = new AtomicReference<>();
    List<Boolean> reoffered = new CopyOnWriteArrayList<>();
    Buffer<String> buffer = Buffer.start(
        Config.builder(backend).capacity(2).flushInterval(HOURS)
            .onFlushError((e, batch) -> batch.forEach(x -> reoffered.add(self.get().offer(x))))
            .build(),
        Options.<String>builder().maxBufferedBytes(s -> 1, 2).build());
    self.set(buffer);
    buffer.add("a");
    buffer.add("b");
    backend.awaitCalls(1, WAIT);
    await().until(() -> reoffered.size() == 2);
    buffer.close();
    assertThat(reoffered).as("re-offers from onFlushError").containsExactly(true, true);
    assertThat(backend.delivered()).containsExactly("a", "b");
  }

  // ---- keyed buffers -----------------------------------------------------------------------------

  /**
   * README (Oversize): FAIL_FAST means "add/offer throw IllegalArgumentException on the producer's
   * thread; nothing is enqueued", and a KeyedBuffer's admission is "that of Buffer". KeyedBuffer
   * never passes a fail-fast weigher to the Engine (KeyedBuffer constructor: null, Long.MAX_VALUE),
   * so the item is accepted and later silently rejected as if the rule were REJECT.
   */
  @Test
  void keyedBufferFailsFastOnTheProducersThread() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    List<String> rejected = new CopyOnWriteArrayList<>();
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(s -> "k",
            (key, batch) -> flush.flush(batch))
        .policy(FlushPolicy.bytes(String::length, 100, 3, Oversize.FAIL_FAST))
        .onReject(rejected::add)
        .flushInterval(HOURS)
        .start();
    try {
      assertThatThrownBy(() -> buffer.add("too long")).isInstanceOf(IllegalArgumentException.class);
      assertThat(buffer.stats().accepted()).isZero();
    } finally {
      buffer.close();
    }
  }

  /**
   * README (Keyed buffers): "flushes of one key never overlap and start in the order their batches
   * were formed, also with maxInFlight(n)". With FlushMiddleware.timeout in the chain, a flush that
   * ignores its interrupt is abandoned after limit + grace; the key's next batch used to start while
   * the abandoned call still ran. Now the key stays busy until that call returns; other keys go on.
   */
  @Test
  void timeoutAbandonedCallKeepsItsKeyBusyUntilItReturns() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch releaseA = new CountDownLatch(1);
    java.util.concurrent.atomic.AtomicInteger active = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicInteger maxActive = new java.util.concurrent.atomic.AtomicInteger();
    List<String> started = new CopyOnWriteArrayList<>();
    FlushFunc<String> inner = batch -> {
      started.add(batch.get(0));
      if (batch.contains("x")) {
        return; // the other key
      }
      maxActive.accumulateAndGet(active.incrementAndGet(), Math::max);
      try {
        if (batch.contains("a")) {
          awaitUninterruptibly(releaseA);
        }
      } finally {
        active.decrementAndGet();
      }
    };
    FlushFunc<String> chain = FlushMiddleware.chain(inner,
        FlushMiddleware.timeout(Duration.ofSeconds(1), time));
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            s -> s.equals("x") ? "other" : "k", (key, batch) -> chain.flush(batch))
        .policy(FlushPolicy.count(1)).maxInFlight(2).timeSource(time).flushInterval(HOURS)
        .onFlushError((e, batch) -> {})
        .start();
    try {
      CompletableFuture<Void> a = buffer.submit("a");
      await().until(() -> started.contains("a"));
      CompletableFuture<Void> b = buffer.submit("b");
      await().until(() -> buffer.stats().itemsFlushing() == 2); // b queued behind a
      time.advance(Duration.ofSeconds(1));
      await().until(() -> time.timedWaiters() >= 1);
      time.advance(FlushMiddleware.TIMEOUT_GRACE);
      await().until(a::isDone); // a: FlushTimeoutException, yet its call still runs
      // b's flush waits for a's abandoned call: prove the loop had its chance (a was settled and
      // a later key's item flushed), then check that b has not started.
      CompletableFuture<Void> other = buffer.submit("x");
      await().until(other::isDone);
      assertThat(started).as("b waits for a's abandoned call").containsExactly("a", "x");
      releaseA.countDown();
      await().until(b::isDone);
      assertThat(b).isCompleted();
      assertThat(started).containsExactly("a", "x", "b");
      assertThat(maxActive.get()).as("concurrent flush calls of key k").isEqualTo(1);
    } finally {
      releaseA.countDown();
      buffer.close();
    }
  }

  /**
   * Holds up (kept: no other test combines all of these with a one-item memory bound): keyed,
   * maxInFlight 3, maxKeys 2, maxBufferedItems 2, SEND_ALONE oversize, canAdd refusals, partial and
   * whole failures, retry. A leak of even one item's bytes makes the next offer fail forever; the
   * identity must hold in stats() and per future.
   */
  @Test
  void oneItemMemoryBoundSurvivesEveryOutcomeWithoutLeaking() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    List<String> failed = new CopyOnWriteArrayList<>();
    List<String> rejected = new CopyOnWriteArrayList<>();
    List<String> delivered = new CopyOnWriteArrayList<>();
    FlushFunc<String> inner = batch -> {
      List<Integer> bad = new ArrayList<>();
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i).contains("p")) {
          bad.add(i);
        }
      }
      if (batch.stream().anyMatch(x -> x.contains("f"))) {
        throw new IOException("whole batch");
      }
      for (int i = 0; i < batch.size(); i++) {
        if (!bad.contains(i)) {
          delivered.add(batch.get(i));
        }
      }
      if (!bad.isEmpty()) {
        throw new PartialFlushException(bad, new IOException("some"));
      }
    };
    FlushFunc<String> chain = FlushMiddleware.chain(inner,
        FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(2)
            .backoff(Duration.ofNanos(1), Duration.ofNanos(1)).build(), time));
    FlushPolicy<String> policy = FlushPolicy.<String>bytes(String::length, 8, 6, Oversize.SEND_ALONE)
        .or(FlushPolicy.custom((b, x) -> false, (b, x) -> !x.startsWith("r"), b -> false));
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            s -> s.substring(s.length() - 1), (key, batch) -> chain.flush(batch))
        .policy(policy).maxInFlight(3).maxKeys(2).maxBufferedItems(2)
        .maxBufferedBytes(s -> 1, 1).timeSource(time).flushInterval(HOURS)
        .onReject(rejected::add).onFlushError((e, batch) -> failed.addAll(batch))
        .start();
    String[] kinds = {"ok", "p", "f", "r", "oversized-ok"};
    for (int i = 0; i < 60; i++) {
      String item = kinds[i % kinds.length] + (i % 4);
      // one item at a time: each waits until the previous one's bytes came back
      await().atMost(WAIT).until(() -> {
        if (buffer.offer(item)) {
          return true;
        }
        time.advance(Duration.ofSeconds(1)); // retries' backoff on the manual clock
        return false;
      });
      CompletableFuture<Void> flushed = buffer.flush();
      while (!flushed.isDone()) {
        time.advance(Duration.ofSeconds(1));
        Thread.onSpinWait();
      }
    }
    CloseResult<String> result = buffer.close(WAIT);
    BufferStats stats = buffer.stats();
    assertThat(result.drained()).isTrue();
    assertThat(stats.accepted()).isEqualTo(60);
    assertThat(stats.flushed() + stats.failed() + stats.rejected() + stats.undelivered())
        .isEqualTo(stats.accepted());
    assertThat(delivered.size() + failed.size() + rejected.size()).isEqualTo(60);
    assertThat(rejected).allSatisfy(x -> assertThat(x).startsWith("r"));
  }
}
