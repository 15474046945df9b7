package dev.batchbuffer;

import static dev.batchbuffer.ResultChecks.answer;
import static dev.batchbuffer.ResultChecks.assertIdentity;
import static dev.batchbuffer.ResultChecks.failure;
import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link ResultBuffer} under hostile use: flush calls abandoned by a timeout that answer late,
 * stages that report twice or cannot be turned into a {@link CompletableFuture}, answers raced
 * from many threads, null answers, equal-but-not-identical items, throwing callbacks, and
 * close/flush/submit from inside the buffer's own callbacks. Each item's future completes exactly
 * once with its own answer or a {@link DeliveryException}, and the accounting identity holds.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ResultBufferAdversarialTest {

  // ---- a timed-out call that answers late ---------------------------------------------------

  @Test
  void aLateCallAbandonedByATimeoutCannotAnswerTheNextFlushOfTheSameObject() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    Integer same = 7; // a boxed small int: the same object in every batch that holds it
    CountDownLatch staleGo = new CountDownLatch(1);
    CountDownLatch staleDone = new CountDownLatch(1);
    CountDownLatch freshStarted = new CountDownLatch(1);
    CountDownLatch freshGo = new CountDownLatch(1);
    AtomicInteger gateCalls = new AtomicInteger();
    AtomicInteger calls = new AtomicInteger();
    ResultBuffer<Integer, String> buffer = ResultBuffer.<Integer, String>builder((batch, r) -> {
      if (calls.incrementAndGet() == 1) { // the second flush's own call, which answers last
        freshStarted.countDown();
        AdversarialTest.awaitUninterruptibly(freshGo);
        r.succeedAll(List.of("fresh"));
      } else { // the first flush's call, long after that flush timed out
        r.succeedAll(List.of("stale"));
      }
    }).config(c -> c.capacity(1).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build())
        .middleware(FlushMiddleware.timeout(Duration.ofSeconds(1), clock), next -> batch -> {
          if (gateCalls.incrementAndGet() == 1) { // the first flush is stuck before it answers
            try {
              AdversarialTest.awaitUninterruptibly(staleGo);
              next.flush(batch);
            } finally {
              staleDone.countDown();
            }
          } else {
            next.flush(batch);
          }
        }).start();
    CompletableFuture<String> first = buffer.submit(same);
    clock.awaitTimedWaiters(1, WAIT); // the timeout's wait for its worker
    clock.advance(Duration.ofSeconds(1));
    clock.awaitTimedWaiters(1, WAIT); // its grace after the interrupt
    clock.advance(FlushMiddleware.TIMEOUT_GRACE);
    assertThat(failure(first).getCause()).isInstanceOf(FlushTimeoutException.class);

    CompletableFuture<String> second = buffer.submit(same);
    assertThat(freshStarted.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    staleGo.countDown(); // the first flush's call now reaches the flush function
    assertThat(staleDone.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    freshGo.countDown();
    assertThat(answer(second)).as("the second flush's item gets its own call's answer")
        .isEqualTo("fresh");
    buffer.close();
    assertIdentity(buffer.stats());
  }

  // ---- stages that misbehave ----------------------------------------------------------------

  /**
   * A stage that reports to each callback twice: first a failure, then a success (a broken SDK
   * future, or one completed from two places).
   */
  private static final class TwiceReportingStage extends CompletableFuture<@Nullable Object> {
    @Override
    public CompletableFuture<@Nullable Object> whenComplete(
        BiConsumer<? super @Nullable Object, ? super @Nullable Throwable> action) {
      action.accept(null, new IOException("the write failed"));
      action.accept("late success", null);
      return this;
    }
  }

  @Test
  void aStageThatReportsFailureAndThenSuccessStillFailsEveryItem() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync((batch, r) -> {
      r.succeedAll(List.of("a!", "b!"));
      return new TwiceReportingStage();
    }).config(c -> c.capacity(2).flushInterval(HOURS)).start();
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    buffer.close();
    for (CompletableFuture<String> f : List.of(a, b)) {
      assertThat(failure(f).getCause()).as("answers discarded by the failure stay discarded")
          .isInstanceOf(IOException.class).hasMessage("the write failed");
    }
    assertThat(buffer.stats().failed()).isEqualTo(2);
    assertIdentity(buffer.stats());
  }

  /** A stage with no CompletableFuture form, as CompletionStage allows. */
  private static final class OpaqueStage extends CompletableFuture<@Nullable Object> {
    @Override
    public CompletableFuture<@Nullable Object> toCompletableFuture() {
      throw new UnsupportedOperationException("no CompletableFuture form");
    }
  }

  @Test
  void theAwaitingFormWaitsForAStageWithNoCompletableFutureForm() throws Exception {
    AsyncResultFlushFunc<String, String> async = (batch, r) -> {
      OpaqueStage stage = new OpaqueStage();
      Thread.ofVirtual().start(() -> {
        r.succeedAll(List.of("id-" + batch.get(0)));
        stage.complete(null);
      });
      return stage;
    };
    ResultBuffer<String, String> buffer = ResultBuffer.builder(async.awaiting())
        .config(c -> c.capacity(1).flushInterval(HOURS)).start();
    CompletableFuture<String> f = buffer.submit("x");
    assertThat(answer(f)).isEqualTo("id-x");
    buffer.close();
    assertIdentity(buffer.stats());
  }

  @Test
  void closeWithATimeoutHandsBackAWriteWhoseStageCannotBeCancelled() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    List<Results<String>> kept = new CopyOnWriteArrayList<>();
    OpaqueStage never = new OpaqueStage();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync((batch, r) -> {
      kept.add(r);
      return never;
    }).config(c -> c.capacity(2).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build()).start();
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    await().atMost(WAIT).until(() -> buffer.stats().itemsFlushing() == 2);
    CompletableFuture<CloseResult<String>> closing =
        Async.call(() -> buffer.close(Duration.ofSeconds(1)));
    clock.awaitTimedWaiters(1, WAIT);
    clock.advance(Duration.ofSeconds(1));
    assertThat(Objects.requireNonNull(answer(closing)).undelivered()).containsExactly("a", "b");
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    never.complete(null); // the write ends after all; its answers are refused
    assertThat(Async.outcome(() -> kept.get(0).succeed(0, "late")).get(WAIT.toMillis(),
        TimeUnit.MILLISECONDS)).isInstanceOf(IllegalStateException.class);
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertIdentity(buffer.stats());
  }

  // ---- close, flush and submit from the buffer's own callbacks ------------------------------

  @Test
  void closeFlushAndSubmitFromInsideTheResultFlushFunctionNeitherHangNorLoseAnAnswer()
      throws Exception {
    for (int maxInFlight : new int[] {1, 2}) {
      AtomicReference<@Nullable ResultBuffer<String, String>> self = new AtomicReference<>();
      List<CompletableFuture<?>> inner = new CopyOnWriteArrayList<>();
      List<Throwable> afterClose = new CopyOnWriteArrayList<>();
      ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
        ResultBuffer<String, String> b = Objects.requireNonNull(self.get());
        if (batch.contains("outer")) {
          inner.add(b.submit("inner"));
          inner.add(b.flush());
          b.close(); // returns at once on the buffer's own thread
          try {
            var unused = b.submit("late");
            afterClose.add(new AssertionError("accepted after close()"));
          } catch (IllegalStateException e) {
            afterClose.add(e);
          }
        }
        List<String> out = new ArrayList<>();
        for (String s : batch) {
          out.add("answer-" + s);
        }
        r.succeedAll(out);
      }).config(c -> c.capacity(1).flushInterval(HOURS))
          .options(Options.builder().maxInFlight(maxInFlight).build()).start();
      self.set(buffer);
      CompletableFuture<String> outer = buffer.submit("outer");
      assertThat(answer(outer)).isEqualTo("answer-outer");
      buffer.close();
      assertThat(inner).hasSize(2);
      assertThat(answer(inner.get(0))).as("maxInFlight %d", maxInFlight).isEqualTo("answer-inner");
      assertThat(answer(inner.get(1))).isNull();
      assertThat(afterClose).singleElement().isInstanceOf(IllegalStateException.class);
      assertThat(buffer.stats().flushed()).isEqualTo(2);
      assertIdentity(buffer.stats());
    }
  }

  @Test
  void onFlushErrorAndTheListenerMayResubmitFlushAndCloseWithEveryFutureAnswered()
      throws Exception {
    AtomicReference<@Nullable ResultBuffer<String, String>> self = new AtomicReference<>();
    List<CompletableFuture<?>> fromCallbacks = new CopyOnWriteArrayList<>();
    CountDownLatch errorHandled = new CountDownLatch(1);
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i).startsWith("bad")) {
          r.fail(i, new IllegalArgumentException(batch.get(i)));
        } else {
          r.succeed(i, "ok-" + batch.get(i));
        }
      }
    }).config(c -> c.capacity(2).flushInterval(HOURS).onFlushError((e, items) -> {
      ResultBuffer<String, String> b = Objects.requireNonNull(self.get());
      try {
        for (String item : items) {
          fromCallbacks.add(b.submit("retried-" + item.substring(3)));
        }
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
      b.close(); // on the loop: returns at once, the resubmitted items still drain
      errorHandled.countDown();
    })).options(Options.<String>builder().listener(new BufferListener<String>() {
      @Override
      public void flushed(FlushInfo info) {
        try {
          fromCallbacks.add(Objects.requireNonNull(self.get()).flush());
        } catch (InterruptedException | IllegalStateException e) {
          fromCallbacks.add(CompletableFuture.failedFuture(e));
        }
      }
    }).build()).start();
    self.set(buffer);
    CompletableFuture<String> good = buffer.submit("good");
    CompletableFuture<String> bad = buffer.submit("bad1");
    assertThat(answer(good)).isEqualTo("ok-good");
    assertThat(failure(bad).getCause()).hasMessage("bad1");
    // futures complete before onFlushError runs: wait for it, or close() here would refuse its add
    assertThat(errorHandled.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    buffer.close();
    assertThat(buffer.isClosed()).isTrue();
    CompletableFuture<?> resubmitted = fromCallbacks.stream()
        .filter(f -> f.isDone() && !f.isCompletedExceptionally() && "ok-retried-1".equals(f.join()))
        .findFirst().orElseThrow(() -> new AssertionError(fromCallbacks.stream()
            .map(f -> f.handle((v, t) -> v + "/" + t).join()).toList()));
    assertThat(resubmitted.join()).isEqualTo("ok-retried-1");
    for (CompletableFuture<?> f : fromCallbacks) {
      assertThat(f).as("every future from a callback is settled").isDone();
    }
    assertIdentity(buffer.stats());
  }

  @Test
  void anAsyncWriteCompleteWhenReturnedMayCloseTheBufferFromItsCallbackOnTheLoop()
      throws Exception {
    AtomicReference<@Nullable ResultBuffer<String, String>> self = new AtomicReference<>();
    List<String> callbackThreads = new CopyOnWriteArrayList<>();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync(
        (batch, r) -> CompletableFuture.completedFuture(null).thenRun(() -> {
          callbackThreads.add(Thread.currentThread().getName());
          r.succeedAll(batch);
          Objects.requireNonNull(self.get()).close(); // on the loop thread: returns at once
        })).config(c -> c.capacity(2).flushInterval(HOURS))
        .options(Options.builder().name("sync-stage").build()).start();
    self.set(buffer);
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    assertThat(answer(a)).isEqualTo("a");
    assertThat(answer(b)).isEqualTo("b");
    buffer.close();
    assertThat(callbackThreads).containsExactly("sync-stage");
    assertIdentity(buffer.stats());
  }

  @Test
  void alreadyCompletedStagesSettleEveryBatchOfEveryKey() throws Exception {
    for (int maxInFlight : new int[] {1, 3}) {
      ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync(
          (batch, r) -> {
            List<String> out = new ArrayList<>();
            for (String s : batch) {
              out.add(s.toUpperCase(java.util.Locale.ROOT));
            }
            r.succeedAll(out);
            return CompletableFuture.completedFuture(null);
          }).<Character>keyed(s -> s.charAt(0), k -> k.policy(FlushPolicy.count(2))
          .flushInterval(HOURS).maxInFlight(maxInFlight)).start();
      List<CompletableFuture<String>> futures = new ArrayList<>();
      for (int i = 0; i < 60; i++) {
        futures.add(buffer.submit((char) ('a' + i % 4) + "x" + i));
      }
      buffer.flush().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
      for (int i = 0; i < 60; i++) {
        assertThat(answer(futures.get(i))).as("maxInFlight %d", maxInFlight)
            .isEqualTo((char) ('A' + i % 4) + "X" + i);
      }
      buffer.close();
      assertThat(buffer.stats().flushed()).isEqualTo(60);
      assertIdentity(buffer.stats());
    }
  }

  @Test
  void closeWithATimeoutFromTheCallbackOfTheBuffersOwnWriteReturnsAndHandsTheWriteBack()
      throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    AtomicReference<@Nullable ResultBuffer<String, String>> self = new AtomicReference<>();
    CompletableFuture<@Nullable Void> sdk = new CompletableFuture<>();
    CompletableFuture<CloseResult<String>> closedInCallback = new CompletableFuture<>();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync(
        (batch, r) -> sdk.thenRun(() -> closedInCallback.complete(
            Objects.requireNonNull(self.get()).close(Duration.ofSeconds(1)))))
        .config(c -> c.capacity(1).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build()).start();
    self.set(buffer);
    CompletableFuture<String> a = buffer.submit("a");
    await().atMost(WAIT).until(() -> buffer.stats().itemsFlushing() == 1);
    CompletableFuture<Void> sdkThread = Async.run(() -> sdk.complete(null));
    clock.awaitTimedWaiters(1, WAIT); // the callback's close waits for its own write
    clock.advance(Duration.ofSeconds(1));
    CloseResult<String> result = Objects.requireNonNull(answer(closedInCallback));
    assertThat(result.undelivered()).containsExactly("a");
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    answer(sdkThread);
    assertIdentity(buffer.stats());
  }

  // ---- answers raced, kept, null ------------------------------------------------------------

  @Test
  void answersRacedFromManyThreadsLetExactlyOneWinPerItem() throws Exception {
    int items = 40;
    int racers = 4;
    List<Throwable> unexpected = new CopyOnWriteArrayList<>();
    String[] winners = new String[items];
    ResultBuffer<Integer, String> buffer = ResultBuffer.<Integer, String>builderAsync(
        (batch, r) -> CompletableFuture.runAsync(() -> {
          CountDownLatch go = new CountDownLatch(1);
          List<Thread> threads = new ArrayList<>();
          for (int t = 0; t < racers; t++) {
            int racer = t;
            threads.add(Thread.ofVirtual().start(() -> {
              try {
                go.await();
                for (int i = 0; i < batch.size(); i++) {
                  try {
                    if (racer % 2 == 0) {
                      r.succeed(i, "racer" + racer);
                    } else {
                      r.fail(i, new IllegalStateException("racer" + racer));
                    }
                    synchronized (winners) {
                      int item = batch.get(i);
                      if (winners[item] != null) {
                        unexpected.add(new AssertionError("two winners for item " + item));
                      }
                      winners[item] = "racer" + racer;
                    }
                  } catch (IllegalStateException refused) {
                    if (!String.valueOf(refused.getMessage()).contains("already answered")) {
                      unexpected.add(refused);
                    }
                  }
                }
              } catch (Throwable e) {
                unexpected.add(e);
              }
            }));
          }
          go.countDown();
          for (Thread thread : threads) {
            try {
              thread.join();
            } catch (InterruptedException e) {
              unexpected.add(e);
            }
          }
        }, Async.VIRTUAL)).config(c -> c.capacity(8).flushInterval(HOURS))
        .options(Options.builder().maxInFlight(2).build()).start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (int i = 0; i < items; i++) {
      futures.add(buffer.submit(i));
    }
    buffer.close();
    assertThat(unexpected).isEmpty();
    for (int i = 0; i < items; i++) {
      String winner = Objects.requireNonNull(winners[i], "no winner for item " + i);
      CompletableFuture<String> f = futures.get(i);
      if (Integer.parseInt(winner.substring(5)) % 2 == 0) {
        assertThat(answer(f)).isEqualTo(winner);
      } else {
        assertThat(failure(f).getCause()).hasMessage(winner);
      }
    }
    assertIdentity(buffer.stats());
  }

  @Test
  void anAnswerRacingItsStagesCompletionEitherCountsOrIsRefused() throws Exception {
    int items = 200;
    boolean[] accepted = new boolean[items];
    List<Throwable> unexpected = new CopyOnWriteArrayList<>();
    ResultBuffer<Integer, String> buffer = ResultBuffer.<Integer, String>builderAsync(
        (batch, r) -> {
          int item = batch.get(0);
          CompletableFuture<@Nullable Void> stage = new CompletableFuture<>();
          CountDownLatch go = new CountDownLatch(1);
          Thread.ofVirtual().start(() -> {
            try {
              go.await();
              r.succeed(0, "v" + item);
              synchronized (accepted) {
                accepted[item] = true;
              }
            } catch (IllegalStateException refused) {
              if (!String.valueOf(refused.getMessage()).contains("has ended")) {
                unexpected.add(refused);
              }
            } catch (Throwable e) {
              unexpected.add(e);
            }
          });
          Thread.ofVirtual().start(() -> {
            go.countDown();
            stage.complete(null);
          });
          return stage;
        }).config(c -> c.capacity(1).flushInterval(HOURS))
        .options(Options.builder().maxInFlight(4).build()).start();
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (int i = 0; i < items; i++) {
      futures.add(buffer.submit(i));
    }
    buffer.close();
    await().atMost(WAIT).until(() -> futures.stream().allMatch(CompletableFuture::isDone));
    assertThat(unexpected).isEmpty();
    for (int i = 0; i < items; i++) {
      boolean counted;
      synchronized (accepted) {
        counted = accepted[i];
      }
      if (counted) {
        assertThat(answer(futures.get(i))).isEqualTo("v" + i);
      } else {
        assertThat(failure(futures.get(i)).getCause()).isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("without answering item 0");
      }
    }
    assertIdentity(buffer.stats());
  }

  @Test
  @SuppressWarnings("NullAway") // R has no @Nullable bound; a caller without NullAway answers null
  void nullAnswersCompleteTheirFuturesWithNull() throws Exception {
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      if (batch.size() == 1) {
        r.succeed(0, null);
      } else {
        r.succeedAll(java.util.Arrays.asList(null, "b!"));
      }
    }).config(c -> c.capacity(2).flushInterval(HOURS)).start();
    CompletableFuture<String> a = buffer.submit("a");
    CompletableFuture<String> b = buffer.submit("b");
    CompletableFuture<String> c = buffer.submit("c");
    buffer.close();
    assertThat(answer(a)).isNull();
    assertThat(a.isCompletedExceptionally()).isFalse();
    assertThat(answer(b)).isEqualTo("b!");
    assertThat(answer(c)).isNull();
    assertThat(c.isCompletedExceptionally()).isFalse();
    assertThat(buffer.stats().flushed()).isEqualTo(3);
  }

  // ---- every setting at once; callbacks that throw ------------------------------------------

  /**
   * Answers "ok-" + item, except: an item whose number is a multiple of 5 fails on its first
   * attempt, one that is a multiple of 11 always fails, and a call holding a multiple of 23 on its
   * first attempt throws as a whole.
   */
  private static ResultFlushFunc<String, String> flaky(Map<String, AtomicInteger> attempts) {
    return (batch, r) -> {
      boolean wholeCallFails = false;
      int[] attempt = new int[batch.size()];
      for (int i = 0; i < batch.size(); i++) {
        attempt[i] = attempts.computeIfAbsent(batch.get(i), x -> new AtomicInteger())
            .incrementAndGet();
        wholeCallFails |= number(batch.get(i)) % 23 == 0 && attempt[i] == 1;
      }
      if (wholeCallFails) {
        throw new IOException("connection reset");
      }
      for (int i = 0; i < batch.size(); i++) {
        int n = number(batch.get(i));
        if (n % 11 == 0 || (n % 5 == 0 && attempt[i] == 1)) {
          r.fail(i, new IllegalStateException("entry " + batch.get(i) + " refused"));
        } else {
          r.succeed(i, "ok-" + batch.get(i));
        }
      }
    };
  }

  private static int number(String item) {
    return Integer.parseInt(item.substring(item.indexOf('-') + 1));
  }

  @SuppressWarnings("unchecked")
  private static FlushMiddleware<String>[] resilience() {
    TimeSource system = TimeSource.system();
    return (FlushMiddleware<String>[]) new FlushMiddleware<?>[] {
        FlushMiddleware.<String>retry(RetryPolicy.builder().maxAttempts(3)
            .backoff(Duration.ofMillis(1), Duration.ofMillis(1)).jitter(0).build(), system),
        FlushMiddleware.<String>circuitBreaker(1000, Duration.ofMillis(1), false, system),
        FlushMiddleware.<String>timeout(Duration.ofMinutes(1), system)};
  }

  @Test
  void everySettingAtOnceSettlesEachItemOnceWithItsOwnAnswerOrFailure() throws Exception {
    for (boolean keyed : new boolean[] {false, true}) {
      Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
      List<String> dead = new CopyOnWriteArrayList<>();
      List<String> refused = new CopyOnWriteArrayList<>();
      // 200 bytes: more than the partial batches of three keys can hold (3 x 9 items of at most 5
      // bytes), or producers would wait for the hour-long linger; less than they hold together
      // with three flushes in flight, so producers do wait for flushes to settle.
      Weigher<String> bytes = String::length;
      ResultBuffer.Builder<String, String> b = ResultBuffer.builder(flaky(attempts))
          .middleware(resilience());
      if (keyed) {
        b.<Character>keyed(s -> s.charAt(0), k -> k
            .policy(Presets.sqsSendMessageBatch(bytes)).flushInterval(HOURS).maxInFlight(3)
            .maxBufferedBytes(bytes, 200).onReject(refused::add)
            .onFlushError((e, items) -> dead.addAll(items)));
      } else {
        b.config(c -> c.policy(Presets.sqsSendMessageBatch(bytes)).flushInterval(HOURS)
            .canAdd((batch, item) -> !item.startsWith("n")).onReject(refused::add)
            .onFlushError((e, items) -> dead.addAll(items)))
            .options(Options.<String>builder().maxInFlight(3).maxBufferedBytes(bytes, 200)
                .build());
      }
      ResultBuffer<String, String> buffer = b.start();
      List<String> items = new ArrayList<>();
      List<CompletableFuture<String>> futures = new ArrayList<>();
      for (int i = 1; i <= 300; i++) {
        String item = (char) ('a' + i % 3) + "-" + i;
        if (!keyed && i % 17 == 0) {
          item = "n-" + i; // refused by canAdd
        }
        items.add(item);
        futures.add(buffer.submit(item));
      }
      buffer.close();
      int failed = 0;
      int rejected = 0;
      for (int i = 0; i < items.size(); i++) {
        String item = items.get(i);
        CompletableFuture<String> f = futures.get(i);
        int n = number(item);
        if (item.startsWith("n")) {
          assertThat(failure(f).reason()).isEqualTo(DeliveryException.Reason.REJECTED);
          rejected++;
        } else if (n % 11 == 0) {
          DeliveryException e = failure(f);
          assertThat(e.reason()).as("keyed %s, %s", keyed, item)
              .isEqualTo(DeliveryException.Reason.FAILED);
          assertThat(e.getCause()).hasMessage("entry " + item + " refused");
          failed++;
        } else {
          assertThat(answer(f)).as("keyed %s", keyed).isEqualTo("ok-" + item);
        }
      }
      assertThat(dead).as("onFlushError gets exactly the failed items").hasSize(failed);
      assertThat(refused).hasSize(rejected);
      BufferStats stats = buffer.stats();
      assertThat(stats.failed()).isEqualTo(failed);
      assertThat(stats.rejected()).isEqualTo(rejected);
      assertThat(stats.flushed()).isEqualTo(items.size() - failed - rejected);
      assertIdentity(stats);
    }
  }

  @Test
  void callbacksThatThrowLeaveNoFutureUnsettled() throws Exception {
    ManualTimeSource clock = new ManualTimeSource();
    AtomicInteger periodicRuns = new AtomicInteger();
    BufferListener<String> throwing = new BufferListener<>() {
      @Override
      public void flushed(FlushInfo info) {
        throw new IllegalStateException("listener: flushed");
      }

      @Override
      public void flushFailed(FlushInfo info, Throwable error) {
        throw new IllegalStateException("listener: flushFailed");
      }

      @Override
      public void rejected(String buffer, String item) {
        throw new IllegalStateException("listener: rejected");
      }
    };
    Weigher<String> policyWeigher = item -> {
      if (item.equals("boom-policy-weight")) {
        throw new IllegalStateException("policy weigher");
      }
      return item.length();
    };
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, r) -> {
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i).startsWith("bad")) {
          r.fail(i, new IllegalArgumentException(batch.get(i)));
        } else {
          r.succeed(i, "ok-" + batch.get(i));
        }
      }
    }).config(c -> c.policy(FlushPolicy.<String>bytes(policyWeigher, 1000))
        .flushInterval(HOURS).canAdd((batch, item) -> {
          if (item.equals("boom-canAdd")) {
            throw new IllegalStateException("canAdd");
          }
          return !item.equals("no");
        }).onReject(item -> {
          throw new IllegalStateException("onReject");
        }).onFlushError((e, items) -> {
          throw new IllegalStateException("onFlushError");
        })).options(Options.<String>builder().timeSource(clock).listener(throwing)
        .maxBufferedBytes(item -> {
          if (item.equals("boom-memory-weight")) {
            throw new IllegalStateException("memory weigher");
          }
          return 1;
        }, 1000)
        .periodic(Duration.ofSeconds(1), () -> {
          periodicRuns.incrementAndGet();
          throw new IllegalStateException("periodic");
        }).build()).start();
    List<String> items = List.of("a", "no", "bad1", "boom-canAdd", "boom-policy-weight", "b");
    List<CompletableFuture<String>> futures = new ArrayList<>();
    for (String item : items) {
      futures.add(buffer.submit(item));
    }
    assertThat(Async.outcome(() -> {
      var unused = buffer.submit("boom-memory-weight");
    }).get(WAIT.toMillis(), TimeUnit.MILLISECONDS))
        .as("the memory weigher runs on the producer: its failure goes to the caller")
        .isInstanceOf(IllegalStateException.class).hasMessage("memory weigher");
    clock.awaitTimedWaiters(1, WAIT);
    clock.advance(Duration.ofSeconds(1));
    await().atMost(WAIT).until(() -> periodicRuns.get() >= 1);
    CompletableFuture<Void> flushed = buffer.flush();
    assertThat(failure(flushed).reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(answer(futures.get(0))).isEqualTo("ok-a");
    assertThat(failure(futures.get(1)).reason()).isEqualTo(DeliveryException.Reason.REJECTED);
    assertThat(failure(futures.get(2)).getCause()).hasMessage("bad1");
    assertThat(failure(futures.get(3)).reason()).isEqualTo(DeliveryException.Reason.REJECTED);
    assertThat(failure(futures.get(4)).reason()).isEqualTo(DeliveryException.Reason.REJECTED);
    assertThat(answer(futures.get(5))).isEqualTo("ok-b");
    buffer.close();
    BufferStats stats = buffer.stats();
    assertThat(stats.accepted()).isEqualTo(items.size());
    assertThat(stats.rejected()).isEqualTo(3);
    assertThat(stats.failed()).isEqualTo(1);
    assertIdentity(stats);
  }
}
