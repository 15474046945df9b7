package dev.batchbuffer;

import static dev.batchbuffer.ResultChecks.answer;
import static dev.batchbuffer.ResultChecks.assertIdentity;
import static dev.batchbuffer.ResultChecks.failure;
import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link ResultBuffer}: each item's future completes with its own answer, a failure of its own, or
 * the failure of its call, across retry, timeout, keyed buffers, several flushes in flight, the
 * asynchronous form and close; and the accounting identity holds.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ResultBufferTest {

  /** Answers each item with "answer-" + item. */
  private static void echo(List<String> batch, Results<String> results) {
    List<String> out = new ArrayList<>();
    for (String s : batch) {
      out.add("answer-" + s);
    }
    results.succeedAll(out);
  }

  private static <R> R value(CompletableFuture<R> f) throws Exception {
    return Objects.requireNonNull(answer(f), "a null answer");
  }

  @Test
  void submitCompletesWithTheItemsOwnAnswerInBatchOrder() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.builder(ResultBufferTest::echo)
        .config(c -> c.capacity(3).flushInterval(HOURS)).start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      futures.add(buffer.submit("i" + i));
    }
    buffer.close();
    for (int i = 0; i < 7; i++) {
      assertThat(value(futures.get(i))).isEqualTo("answer-i" + i);
    }
    assertThat(buffer.stats().flushed()).isEqualTo(7);
    assertIdentity(buffer.stats());
  }

  @Test
  void anItemAnsweredWithFailureFailsAloneWithItsOwnCause() throws Exception {
    List<List<String>> dead = new CopyOnWriteArrayList<>();
    ResultBuffer<String, Integer> buffer = ResultBuffer.<String, Integer>builder((batch, r) -> {
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i).startsWith("bad")) {
          r.fail(i, new IllegalArgumentException("no " + batch.get(i)));
        } else {
          r.succeed(i, i);
        }
      }
    }).config(c -> c.capacity(3).flushInterval(HOURS)
        .onFlushError((e, items) -> dead.add(List.copyOf(items)))).start();
    CompletableFuture<Integer> a = buffer.submit("a");
    CompletableFuture<Integer> bad = buffer.submit("bad1");
    CompletableFuture<Integer> c = buffer.submit("c");
    buffer.close();
    assertThat(value(a)).isZero();
    assertThat(value(c)).isEqualTo(2);
    DeliveryException e = failure(bad);
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(e.getCause()).isInstanceOf(IllegalArgumentException.class).hasMessage("no bad1");
    assertThat(dead).containsExactly(List.of("bad1"));
    assertThat(buffer.stats().failed()).isEqualTo(1);
    assertThat(buffer.stats().flushed()).isEqualTo(2);
    assertIdentity(buffer.stats());
  }

  @Test
  void anAnswerOfTheWrongLengthFailsTheWholeBatchAndShiftsNothing() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder(
        (batch, r) -> r.succeedAll(batch.subList(1, batch.size())))
        .config(c -> c.capacity(3).flushInterval(HOURS)).start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (String s : List.of("x", "y", "z")) {
      futures.add(buffer.submit(s));
    }
    buffer.close();
    for (CompletableFuture<String> f : futures) {
      DeliveryException e = failure(f);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(e.getCause()).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("got 2 for a batch of 3");
    }
    assertThat(buffer.stats().failed()).isEqualTo(3);
    assertIdentity(buffer.stats());
  }

  @Test
  void anUnansweredItemFailsWithAnErrorNamingIt() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder(
        (batch, r) -> r.succeed(0, "first"))
        .config(c -> c.capacity(2).flushInterval(HOURS)).start();
    CompletableFuture<String> first = buffer.submit("a");
    CompletableFuture<String> second = buffer.submit("b");
    buffer.close();
    assertThat(value(first)).isEqualTo("first");
    assertThat(failure(second).getCause()).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("without answering item 1 of its batch of 2");
    assertIdentity(buffer.stats());
  }

  @Test
  void aFlushFunctionThatThrowsFailsEveryItemOfItsCallWhateverItAnswered() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      r.succeed(0, "too early");
      throw new java.io.IOException("connection reset");
    }).config(c -> c.capacity(2).flushInterval(HOURS)).start();
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    buffer.close();
    for (CompletableFuture<String> f : List.of(a, b)) {
      assertThat(failure(f).getCause()).isInstanceOf(java.io.IOException.class)
          .hasMessage("connection reset");
    }
    assertThat(buffer.stats().failed()).isEqualTo(2);
  }

  @Test
  void answeringAnItemTwiceOrAfterTheCallReturnedIsRefused() throws Exception {
    List<Throwable> refusals = new CopyOnWriteArrayList<>();
    List<Results<String>> kept = new CopyOnWriteArrayList<>();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      r.succeed(0, "one");
      try {
        r.fail(0, new RuntimeException("again"));
      } catch (IllegalStateException e) {
        refusals.add(e);
      }
      try {
        r.succeed(5, "outside");
      } catch (IndexOutOfBoundsException e) {
        refusals.add(e);
      }
      kept.add(r);
    }).config(c -> c.capacity(1).flushInterval(HOURS)).start();
    CompletableFuture<String> f = buffer.submit("a");
    assertThat(value(f)).isEqualTo("one");
    buffer.close();
    assertThatThrownBy(() -> kept.get(0).succeed(0, "late"))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("has ended");
    assertThat(refusals).hasSize(2);
    assertThat(refusals.get(0)).hasMessageContaining("already answered");
    assertThat(value(f)).isEqualTo("one");
  }

  @Test
  void retryResendsOnlyTheFailedItemsAndTheirRetryAnswersCompleteTheirFutures() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    List<List<String>> calls = new CopyOnWriteArrayList<>();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      calls.add(List.copyOf(batch));
      int attempt = calls.size();
      for (int i = 0; i < batch.size(); i++) {
        if (attempt == 1 && batch.get(i).startsWith("flaky")) {
          r.fail(i, new IllegalStateException("throttled"));
        } else {
          r.succeed(i, batch.get(i) + "@" + attempt);
        }
      }
    }).config(c -> c.capacity(4).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build())
        .middleware(FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(3)
            .backoff(Duration.ofMillis(10), Duration.ofMillis(10)).jitter(0).build(), clock))
        .start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (String s : List.of("a", "flaky1", "b", "flaky2")) {
      futures.add(buffer.submit(s));
    }
    await().atMost(WAIT).until(() -> calls.size() == 1);
    clock.awaitTimedWaiters(1, WAIT); // the retry's backoff, on the loop (one flush at a time)
    clock.advance(Duration.ofMillis(10));
    assertThat(value(futures.get(0))).isEqualTo("a@1");
    assertThat(value(futures.get(1))).isEqualTo("flaky1@2");
    assertThat(value(futures.get(2))).isEqualTo("b@1");
    assertThat(value(futures.get(3))).isEqualTo("flaky2@2");
    assertThat(calls).containsExactly(List.of("a", "flaky1", "b", "flaky2"),
        List.of("flaky1", "flaky2"));
    buffer.close();
    assertThat(buffer.stats().flushed()).isEqualTo(4);
    assertIdentity(buffer.stats());
  }

  @Test
  void aFailedItemsCauseIsItsLatestFailureEvenWhenALaterCallThrewAsAWhole() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    AtomicInteger attempts = new AtomicInteger();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      if (attempts.incrementAndGet() == 1) {
        r.succeed(0, "a@1");
        r.fail(1, new IllegalStateException("b throttled"));
        return;
      }
      throw new java.io.IOException("connection reset on the retry");
    }).config(c -> c.capacity(2).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build())
        .middleware(FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(2)
            .backoff(Duration.ofMillis(1), Duration.ofMillis(1)).jitter(0).build(), clock))
        .start();
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    await().atMost(WAIT).until(() -> attempts.get() == 1);
    clock.awaitTimedWaiters(1, WAIT); // the retry's backoff
    clock.advance(Duration.ofMillis(1));
    assertThat(value(a)).isEqualTo("a@1");
    assertThat(failure(b).getCause()).isInstanceOf(java.io.IOException.class)
        .hasMessage("connection reset on the retry");
    buffer.close();
    assertIdentity(buffer.stats());
  }

  @Test
  void anObjectSubmittedTwiceGetsAnAnswerPerSubmissionEvenThroughARetry() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    String same = new String("same");
    AtomicInteger attempts = new AtomicInteger();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      int attempt = attempts.incrementAndGet();
      for (int i = 0; i < batch.size(); i++) {
        if (attempt == 1 && i == 2) {
          r.fail(i, new IllegalStateException("second copy failed"));
        } else {
          r.succeed(i, attempt + ":" + i);
        }
      }
    }).config(c -> c.capacity(3).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build())
        .middleware(FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(2)
            .backoff(Duration.ofMillis(1), Duration.ofMillis(1)).jitter(0).build(), clock))
        .start();
    CompletableFuture<String> first = buffer.submit(same);
    CompletableFuture<String> other = buffer.submit("other");
    CompletableFuture<String> second = buffer.submit(same);
    await().atMost(WAIT).until(() -> attempts.get() == 1);
    clock.awaitTimedWaiters(1, WAIT); // the retry's backoff
    
    clock.advance(Duration.ofMillis(1));
    assertThat(value(first)).isEqualTo("1:0");
    assertThat(value(other)).isEqualTo("1:1");
    assertThat(value(second)).isEqualTo("2:0");
    buffer.close();
  }

  @Test
  void aKeyedBufferAnswersTheItemsOfEachKeysBatch() throws Exception {
    List<List<String>> batches = new CopyOnWriteArrayList<>();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      batches.add(List.copyOf(batch));
      for (int i = 0; i < batch.size(); i++) {
        r.succeed(i, batch.get(i).toUpperCase(java.util.Locale.ROOT) + "/" + batch.size());
      }
    }).<Character>keyed(s -> s.charAt(0), k -> k.policy(FlushPolicy.count(2))
        .flushInterval(HOURS).maxInFlight(3)).start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (String s : List.of("a1", "b1", "a2", "b2", "c1")) {
      futures.add(buffer.submit(s));
    }
    buffer.close();
    assertThat(value(futures.get(0))).isEqualTo("A1/2");
    assertThat(value(futures.get(1))).isEqualTo("B1/2");
    assertThat(value(futures.get(2))).isEqualTo("A2/2");
    assertThat(value(futures.get(3))).isEqualTo("B2/2");
    assertThat(value(futures.get(4))).isEqualTo("C1/1");
    assertThat(batches).contains(List.of("a1", "a2"), List.of("b1", "b2"), List.of("c1"));
    assertIdentity(buffer.stats());
  }

  @Test
  void severalFlushesInFlightEachAnswerTheirOwnItems() throws Exception {
    CountDownLatch bothStarted = new CountDownLatch(2);
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      bothStarted.countDown();
      assertThat(bothStarted.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
      echo(batch, r);
    }).config(c -> c.capacity(2).flushInterval(HOURS))
        .options(Options.builder().maxInFlight(2).build()).start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      futures.add(buffer.submit("p" + i));
    }
    for (int i = 0; i < 4; i++) {
      assertThat(value(futures.get(i))).isEqualTo("answer-p" + i);
    }
    buffer.close();
    assertIdentity(buffer.stats());
  }

  @Test
  void aTimedOutCallCannotAnswerItemsAfterTheyWereSettled() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch lateAnswerGiven = new CountDownLatch(1);
    List<Throwable> lateRefusal = new CopyOnWriteArrayList<>();
    CountDownLatch called = new CountDownLatch(1);
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      called.countDown();
      while (release.getCount() > 0) { // deaf to the timeout's interrupt: it answers late
        try {
          release.await();
        } catch (InterruptedException e) {
          // keep waiting
        }
      }
      try {
        echo(batch, r);
      } catch (RuntimeException e) {
        lateRefusal.add(e);
      }
      lateAnswerGiven.countDown();
    }).config(c -> c.capacity(1).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build())
        .middleware(FlushMiddleware.timeout(Duration.ofSeconds(1), clock)).start();
    CompletableFuture<String> f = buffer.submit("slow");
    assertThat(called.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    clock.awaitTimedWaiters(1, WAIT); // the timeout's wait for its worker
    clock.advance(Duration.ofSeconds(1));
    clock.awaitTimedWaiters(1, WAIT); // its grace after interrupting the worker
    clock.advance(FlushMiddleware.TIMEOUT_GRACE);
    DeliveryException e = failure(f);
    assertThat(e.getCause()).isInstanceOf(FlushTimeoutException.class);
    release.countDown();
    assertThat(lateAnswerGiven.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    assertThat(f.isCompletedExceptionally()).isTrue();
    assertThat(lateRefusal).as("a late answer is ignored, not refused").isEmpty();
    buffer.close();
    assertThat(buffer.stats().failed()).isEqualTo(1);
    assertIdentity(buffer.stats());
  }

  @Test
  void flushFailsWhenAnItemFailedSinceThePreviousFlush() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i).equals("bad")) {
          r.fail(i, new IllegalArgumentException("bad"));
        } else {
          r.succeed(i, "ok");
        }
      }
    }).config(c -> c.flushInterval(HOURS)).start();
    CompletableFuture<String> good = buffer.submit("good");
    buffer.flush().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(value(good)).isEqualTo("ok");
    CompletableFuture<String> bad = buffer.submit("bad");
    assertThat(failure(buffer.flush()).reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(failure(bad).getCause()).hasMessage("bad");
    buffer.close();
  }

  @Test
  void aRejectedItemsFutureFailsRejected() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.builder(ResultBufferTest::echo)
        .config(c -> c.flushInterval(HOURS).canAdd((batch, item) -> !item.equals("no")))
        .start();
    CompletableFuture<String> no = buffer.submit("no");
    CompletableFuture<String> yes = buffer.submit("yes");
    buffer.close();
    assertThat(failure(no).reason()).isEqualTo(DeliveryException.Reason.REJECTED);
    assertThat(value(yes)).isEqualTo("answer-yes");
    assertThat(buffer.stats().rejected()).isEqualTo(1);
    assertIdentity(buffer.stats());
  }

  @Test
  void closeWithATimeoutGivesUpAStuckCallsItemsAsUndelivered() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    CountDownLatch started = new CountDownLatch(1);
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      started.countDown();
      new CountDownLatch(1).await(); // stuck until close(timeout) interrupts it
    }).config(c -> c.capacity(2).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build()).start();
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    assertThat(started.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    CompletableFuture<CloseResult<String>> closing =
        Async.call(() -> buffer.close(Duration.ofSeconds(1)));
    clock.awaitTimedWaiters(1, WAIT);
    clock.advance(Duration.ofSeconds(1));
    CloseResult<String> result = value(closing);
    assertThat(result.undelivered()).containsExactly("a", "b");
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertIdentity(buffer.stats());
  }

  // ---- the asynchronous form ------------------------------------------------------------------

  @Test
  void asyncWritesStartOnTheLoopThreadWithNoThreadPerWrite() throws Exception {
    List<String> threads = new CopyOnWriteArrayList<>();
    List<CompletableFuture<Void>> writes = new CopyOnWriteArrayList<>();
    List<Runnable> answers = new CopyOnWriteArrayList<>();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync((batch, r) -> {
      threads.add(Thread.currentThread().getName());
      CompletableFuture<Void> write = new CompletableFuture<>();
      writes.add(write);
      answers.add(() -> echo(batch, r));
      return write;
    }).config(c -> c.capacity(1).flushInterval(HOURS))
        .options(Options.builder().name("async-buf").maxInFlight(3).build()).start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      futures.add(buffer.submit("w" + i));
    }
    await().atMost(WAIT).until(() -> writes.size() == 3); // three outstanding at once
    assertThat(threads).containsOnly("async-buf");
    assertThat(buffer.stats().itemsFlushing()).isEqualTo(3);
    for (int i = 2; i >= 0; i--) { // completed out of order, on this thread
      answers.get(i).run();
      writes.get(i).complete(null);
    }
    for (int i = 0; i < 3; i++) {
      assertThat(value(futures.get(i))).isEqualTo("answer-w" + i);
    }
    buffer.close();
    assertIdentity(buffer.stats());
  }

  @Test
  void anAsyncStageThatFailsFailsEveryItemOfItsBatch() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync((batch, r) -> {
      r.succeed(0, "ignored");
      return CompletableFuture.failedFuture(new java.io.IOException("503"));
    }).config(c -> c.capacity(2).flushInterval(HOURS)).start();
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    buffer.close();
    assertThat(failure(a).getCause()).isInstanceOf(java.io.IOException.class).hasMessage("503");
    assertThat(failure(b).getCause()).isInstanceOf(java.io.IOException.class);
    assertIdentity(buffer.stats());
  }

  @Test
  void anAsyncWriteAnswersItemByItemFromAnotherThread() throws Exception {
    ResultBuffer<String, Integer> buffer = ResultBuffer.<String, Integer>builderAsync(
        (batch, r) -> CompletableFuture.runAsync(() -> {
          for (int i = 0; i < batch.size(); i++) {
            if (batch.get(i).equals("x")) {
              r.fail(i, new IllegalStateException("entry x failed"));
            } else {
              r.succeed(i, batch.get(i).length());
            }
          }
        }, Async.VIRTUAL)).config(c -> c.capacity(3).flushInterval(HOURS)).start();
    CompletableFuture<Integer> a = buffer.submit("aa");
    CompletableFuture<Integer> x = buffer.submit("x");
    CompletableFuture<Integer> b = buffer.submit("bbb");
    buffer.close();
    assertThat(value(a)).isEqualTo(2);
    assertThat(value(b)).isEqualTo(3);
    assertThat(failure(x).getCause()).hasMessage("entry x failed");
    assertThat(buffer.stats().failed()).isEqualTo(1);
    assertIdentity(buffer.stats());
  }

  @Test
  void closeWithATimeoutCancelsAnOutstandingAsyncWrite() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    CompletableFuture<Void> write = new CompletableFuture<>();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync(
        (batch, r) -> write).config(c -> c.capacity(2).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build()).start();
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    await().atMost(WAIT).until(() -> buffer.stats().itemsFlushing() == 2);
    CompletableFuture<CloseResult<String>> closing =
        Async.call(() -> buffer.close(Duration.ofSeconds(1)));
    clock.awaitTimedWaiters(1, WAIT);
    clock.advance(Duration.ofSeconds(1));
    CloseResult<String> result = value(closing);
    assertThat(result.undelivered()).containsExactly("a", "b");
    assertThat(write.isCancelled()).isTrue();
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertIdentity(buffer.stats());
  }

  @Test
  void anAsyncKeyedBufferNeverOverlapsTheWritesOfOneKey() throws Exception {
    Map<Character, AtomicInteger> outstanding = new ConcurrentHashMap<>();
    List<String> overlaps = Collections.synchronizedList(new ArrayList<>());
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync((batch, r) -> {
      AtomicInteger ofKey = outstanding.computeIfAbsent(batch.get(0).charAt(0),
          k -> new AtomicInteger());
      if (ofKey.incrementAndGet() > 1) {
        overlaps.add(batch.toString());
      }
      return CompletableFuture.runAsync(() -> {
        ofKey.decrementAndGet(); // before the answers: the next write of the key may start then
        echo(batch, r);
      }, Async.VIRTUAL);
    }).<Character>keyed(s -> s.charAt(0), k -> k.policy(FlushPolicy.count(1))
        .flushInterval(HOURS).maxInFlight(4)).start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      futures.add(buffer.submit((char) ('a' + i % 3) + "" + i));
    }
    buffer.close();
    for (int i = 0; i < 40; i++) {
      assertThat(value(futures.get(i))).isEqualTo("answer-" + (char) ('a' + i % 3) + i);
    }
    assertThat(overlaps).isEmpty();
    assertIdentity(buffer.stats());
  }

  // ---- the builder ----------------------------------------------------------------------------

  @Test
  void middlewareIsRefusedForTheAsyncForm() {
    assertThatThrownBy(() -> ResultBuffer.<String, String>builderAsync(
        (batch, r) -> CompletableFuture.completedFuture(null))
        .middleware(FlushMiddleware.timeout(Duration.ofSeconds(1), TimeSource.system())))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("awaiting()");
  }

  @Test
  @SuppressWarnings("NullAway") // a null middleware, on purpose
  void plainSettingsAreRefusedForAKeyedBufferAndTheOtherWayRound() {
    assertThatThrownBy(() -> ResultBuffer.builder(ResultBufferTest::echo)
        .config(c -> c.capacity(2)).keyed(s -> s, k -> k))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("config(...)");
    assertThatThrownBy(() -> ResultBuffer.builder(ResultBufferTest::echo)
        .keyed(s -> s, k -> k).options(Options.defaults()))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("options(...)");
    assertThatThrownBy(() -> ResultBuffer.builder(ResultBufferTest::echo).middleware(
        (FlushMiddleware<String>) null)).isInstanceOf(NullPointerException.class)
        .hasMessageContaining("middleware[0]");
  }

  @Test
  void aResultFlushFunctionCalledOutsideItsBufferSaysSo() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      CompletableFuture<Void> elsewhere = CompletableFuture.runAsync(() -> { }, Async.VIRTUAL);
      elsewhere.get();
      r.succeedAll(batch);
    }).config(c -> c.capacity(1).flushInterval(HOURS))
        .middleware(next -> batch -> {
          try {
            CompletableFuture.runAsync(() -> {
              try {
                next.flush(batch);
              } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
              }
            }, Async.VIRTUAL).get();
          } catch (ExecutionException e) {
            Throwable inner = e.getCause();
            throw inner instanceof Exception ex ? ex : e;
          }
        }).start();
    CompletableFuture<String> f = buffer.submit("a");
    buffer.close();
    assertThat(failure(f).getCause()).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("must be called by its buffer");
  }
}
