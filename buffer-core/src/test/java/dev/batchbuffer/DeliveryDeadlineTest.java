package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The delivery timeout ({@link Options.Builder#deliveryTimeout},
 * {@link KeyedBuffer.Builder#deliveryTimeout}), all on the manual clock: an item past it is not
 * sent again by a retry, nor at all if its batch waited past it for a flush slot, its key's
 * previous flush, a rate limit or the loop; it fails with {@link DeliveryException.Reason#EXPIRED},
 * reaches onFlushError with a {@link DeliveryTimeoutException} that says the timeout and the wait,
 * and is counted (expired and failed), so the accounting identity holds; the setting is validated
 * against the linger; and at close the rule is the same (close(timeout)'s give-up wins).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DeliveryDeadlineTest {
  static final Duration WAIT = Duration.ofSeconds(10);
  static final Duration HOURS = Duration.ofHours(1);

  final ManualTimeSource time = new ManualTimeSource();
  /** Every call of the backend, in order. */
  final List<List<String>> calls = new CopyOnWriteArrayList<>();
  /** What onFlushError received, in order. */
  final List<Exception> errors = new CopyOnWriteArrayList<>();
  /** The items onFlushError received. */
  final List<String> failedItems = new CopyOnWriteArrayList<>();

  void onFlushError(Exception e, List<String> batch) {
    errors.add(e);
    failedItems.addAll(batch);
  }

  /** A backend that records each call and always fails. */
  final FlushFunc<String> down = batch -> {
    calls.add(batch);
    throw new IOException("backend down");
  };

  /** A retry with a fixed backoff and attempts enough to outlive any deadline here. */
  FlushMiddleware<String> retryEvery(Duration backoff) {
    return FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(100).backoff(backoff, backoff)
        .jitter(0).maxElapsed(Duration.ofDays(1)).build(), time);
  }

  Options<Object> options(Duration deliveryTimeout, int maxInFlight) {
    return Options.builder().timeSource(time).deliveryTimeout(deliveryTimeout)
        .maxInFlight(maxInFlight).build();
  }

  CompletableFuture<Void> submit(Buffer<String> buffer, String item) throws InterruptedException {
    return buffer.submit(item);
  }

  /**
   * The accounting identity after close: accepted = flushed + failed (expired included) +
   * rejected + undelivered, and onFlushError received exactly the failed items.
   */
  void assertBalanced(BufferStats stats) {
    assertThat(stats.accepted()).as("%s", stats).isEqualTo(stats.flushed() + stats.failed()
        + stats.rejected() + stats.undelivered());
    assertThat((long) failedItems.size()).isEqualTo(stats.failed());
    assertThat(stats.expired()).isLessThanOrEqualTo(stats.failed());
  }

  static DeliveryException failure(CompletableFuture<?> future) {
    assertThat(future).failsWithin(WAIT);
    try {
      future.get();
      throw new AssertionError("the future succeeded");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      assertThat(cause).isInstanceOf(DeliveryException.class);
      return (DeliveryException) java.util.Objects.requireNonNull(cause);
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  /** Advances the clock by {@code step} once {@code waiters} threads are parked on it. */
  void step(int waiters, Duration step) throws Exception {
    time.awaitTimedWaiters(waiters, WAIT);
    time.advance(step);
  }

  @Test
  void aRetryStopsBeforeAnAttemptThatWouldStartPastTheDeadlineAndTheItemsExpire()
      throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(down,
        retryEvery(Duration.ofSeconds(1)))).capacity(2).flushInterval(Duration.ofSeconds(1))
        .onFlushError(this::onFlushError).build(), options(Duration.ofSeconds(3), 1));
    CompletableFuture<Void> a = submit(buffer, "a");
    CompletableFuture<Void> b = submit(buffer, "b"); // full: flushed at t0, inline
    await().atMost(WAIT).until(() -> calls.size() == 1);
    step(1, Duration.ofSeconds(1)); // attempt 1 at t0 failed; attempt 2 at t1
    step(1, Duration.ofSeconds(1)); // attempt 2 failed; attempt 3 at t2 fails, t3 is the deadline
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(calls).as("no attempt starts at or after the deadline").hasSize(3);
    buffer.close();
    assertThat(errors).singleElement().isInstanceOfSatisfying(DeliveryTimeoutException.class,
        e -> {
          assertThat(e.timeout()).isEqualTo(Duration.ofSeconds(3));
          assertThat(e.waited()).isEqualTo(Duration.ofSeconds(2));
          assertThat(e).hasMessageContaining("PT3S").hasMessageContaining("PT2S")
              .hasCauseInstanceOf(IOException.class);
        });
    BufferStats stats = buffer.stats();
    assertThat(stats.expired()).isEqualTo(2);
    assertThat(stats.failed()).as("expired items count as failed too").isEqualTo(2);
    assertThat(stats.flushed()).isZero();
    assertBalanced(buffer.stats());
  }

  @Test
  void withoutADeadlineTheRetryGoesOnAsItsPolicySays() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(down,
            FlushMiddleware.<String>retry(RetryPolicy.builder().maxAttempts(5)
                .backoff(Duration.ofSeconds(1), Duration.ofSeconds(1)).jitter(0).build(), time)))
        .capacity(1).flushInterval(Duration.ofSeconds(1)).onFlushError(this::onFlushError).build(),
        Options.builder().timeSource(time).build());
    CompletableFuture<Void> a = submit(buffer, "a");
    for (int i = 0; i < 4; i++) {
      step(1, Duration.ofSeconds(1));
    }
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(calls).hasSize(5);
    buffer.close();
    assertThat(errors).singleElement().isInstanceOf(IOException.class);
    assertThat(buffer.stats().expired()).isZero();
    assertBalanced(buffer.stats());
  }

  @Test
  void onlyTheItemsARetryStillOwedExpireTheDeliveredOnesSucceed() throws Exception {
    AtomicInteger call = new AtomicInteger();
    FlushFunc<String> partly = batch -> {
      calls.add(batch);
      if (call.incrementAndGet() == 1) {
        throw new PartialFlushException(List.of(1), new IOException("b throttled"));
      }
      throw new IOException("still throttled");
    };
    Buffer<String> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(partly,
        retryEvery(Duration.ofSeconds(1)))).capacity(3).flushInterval(Duration.ofSeconds(1))
        .onFlushError(this::onFlushError).build(), options(Duration.ofSeconds(2), 1));
    CompletableFuture<Void> a = submit(buffer, "a");
    CompletableFuture<Void> b = submit(buffer, "b");
    CompletableFuture<Void> c = submit(buffer, "c");
    await().atMost(WAIT).until(() -> calls.size() == 1);
    step(1, Duration.ofSeconds(1)); // attempt 2 (just b) at t1 fails; t2 is the deadline
    assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(a).succeedsWithin(WAIT);
    assertThat(c).succeedsWithin(WAIT);
    buffer.close();
    assertThat(calls).containsExactly(List.of("a", "b", "c"), List.of("b"));
    assertThat(failedItems).containsExactly("b");
    assertThat(errors).singleElement().isInstanceOfSatisfying(PartialFlushException.class,
        e -> assertThat(e).hasCauseInstanceOf(DeliveryTimeoutException.class));
    assertThat(buffer.stats().expired()).isEqualTo(1);
    assertThat(buffer.stats().flushed()).isEqualTo(2);
  }

  /** Holds flushes until released. */
  final CountDownLatch release = new CountDownLatch(1);
  /** Every batch but c's waits for {@link #release}. */
  final FlushFunc<String> slow = batch -> {
    calls.add(batch);
    if (!batch.equals(List.of("c"))) {
      release.await();
    }
  };

  /** A buffer with two flush slots, batches of 2, a linger of 1 s and a deadline of 3 s. */
  Buffer<String> twoSlots(BiConsumerOfFailures onFlushError) {
    return Buffer.start(Config.builder(slow).capacity(2).flushInterval(Duration.ofSeconds(1))
        .onFlushError(onFlushError::accept).build(), options(Duration.ofSeconds(3), 2));
  }

  /** onFlushError's shape. */
  @FunctionalInterface
  interface BiConsumerOfFailures {
    void accept(Exception e, List<String> batch);
  }

  /**
   * Fills both slots of {@link #twoSlots} with two held batches (returned), then submits c, which
   * lingers from t0, is flushed by its linger at t1 and waits for a slot while the clock goes to
   * t4, past its deadline (t3); c's future is the last of the list.
   */
  List<CompletableFuture<Void>> cWaitsPastItsDeadlineForASlot(Buffer<String> buffer)
      throws Exception {
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (String item : List.of("a", "a2", "b", "b2")) {
      futures.add(submit(buffer, item));
    }
    await().atMost(WAIT).until(() -> calls.size() == 2); // both slots taken
    futures.add(submit(buffer, "c")); // armed at t0
    step(1, Duration.ofSeconds(1)); // its linger: flushed at t1, waits for a slot
    time.advance(Duration.ofSeconds(3));
    return futures;
  }

  @Test
  void aBatchThatWaitedPastTheDeadlineForAFlushSlotIsNotSentAtAll() throws Exception {
    Buffer<String> buffer = twoSlots(this::onFlushError);
    try {
      List<CompletableFuture<Void>> futures = cWaitsPastItsDeadlineForASlot(buffer);
      release.countDown();
      assertThat(failure(futures.get(4)).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
      assertThat(futures.subList(0, 4)).allSatisfy(f -> assertThat(f).succeedsWithin(WAIT));
      assertThat(calls).as("c was never sent").hasSize(2);
    } finally {
      release.countDown();
      buffer.close();
    }
    // After close: the futures fail before onFlushError hears of the items.
    assertThat(errors).singleElement().isInstanceOfSatisfying(DeliveryTimeoutException.class,
        e -> assertThat(e.waited()).isEqualTo(Duration.ofSeconds(4)));
    assertThat(buffer.stats().expired()).isEqualTo(1);
    assertThat(buffer.stats().failed()).isEqualTo(1);
    assertBalanced(buffer.stats());
  }

  @Test
  void aBatchQueuedBehindItsKeysFlushPastTheDeadlineExpiresUnsentAndTheNextOneGoes()
      throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(s -> "k",
            (key, batch) -> {
              calls.add(batch);
              if (batch.equals(List.of("a"))) {
                release.await();
              }
            })
        .policy(FlushPolicy.count(1)).flushInterval(Duration.ofSeconds(1)).timeSource(time)
        .maxInFlight(4).deliveryTimeout(Duration.ofSeconds(3)).onFlushError(this::onFlushError)
        .start();
    try {
      CompletableFuture<Void> a = buffer.submit("a");
      CompletableFuture<Void> b = buffer.submit("b");
      await().atMost(WAIT).until(() -> buffer.stats().itemsFlushing() == 2); // b queued behind a
      time.advance(Duration.ofSeconds(4));
      CompletableFuture<Void> c = buffer.submit("c"); // queued at t4: still has time
      await().atMost(WAIT).until(() -> buffer.stats().itemsFlushing() == 3);
      release.countDown();
      assertThat(a).succeedsWithin(WAIT);
      assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
      assertThat(c).succeedsWithin(WAIT);
      assertThat(calls).containsExactly(List.of("a"), List.of("c"));
    } finally {
      release.countDown();
      buffer.close();
    }
    BufferStats stats = buffer.stats();
    assertThat(stats.expired()).isEqualTo(1);
    assertThat(stats.accepted()).isEqualTo(stats.flushed() + stats.failed() + stats.rejected());
  }

  @Test
  void aBatchThatWaitedPastTheDeadlineForTheRateLimitIsNotSent() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(
            (FlushFunc<String>) calls::add,
            FlushMiddleware.rateLimit(0.25, Double.POSITIVE_INFINITY, time)))
        .capacity(2).flushInterval(Duration.ofSeconds(1)).onFlushError(this::onFlushError).build(),
        options(Duration.ofSeconds(3), 1));
    CompletableFuture<Void> a = submit(buffer, "a");
    CompletableFuture<Void> b = submit(buffer, "b"); // the bucket's one token: sent at t0
    CompletableFuture<Void> c = submit(buffer, "c");
    CompletableFuture<Void> d = submit(buffer, "d"); // the next token comes at t4
    await().atMost(WAIT).until(() -> calls.size() == 1 && buffer.stats().itemsFlushing() == 2);
    step(1, Duration.ofSeconds(4));
    assertThat(failure(c).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(failure(d).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(a).succeedsWithin(WAIT);
    assertThat(b).succeedsWithin(WAIT);
    buffer.close();
    assertThat(calls).containsExactly(List.of("a", "b"));
    assertThat(errors).singleElement().isInstanceOfSatisfying(DeliveryTimeoutException.class,
        e -> assertThat(e.waited()).isEqualTo(Duration.ofSeconds(4)));
    assertBalanced(buffer.stats());
  }

  @Test
  void aBatchThatWaitedPastTheDeadlineForTheFlowControlsRateIsNotSent() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder((FlushFunc<String>) calls::add)
        .capacity(2).flushInterval(Duration.ofSeconds(1)).onFlushError(this::onFlushError).build(),
        Options.builder().timeSource(time).deliveryTimeout(Duration.ofSeconds(3))
            .flowControl(FlowControl.aimd().initialLimit(1).maxLimit(1)
                .itemsPerSecond(0.5, 0.5, 1, 0.1).build()).build());
    CompletableFuture<Void> a = submit(buffer, "a");
    CompletableFuture<Void> b = submit(buffer, "b"); // paced from here: the next 2 items at t4
    CompletableFuture<Void> c = submit(buffer, "c");
    CompletableFuture<Void> d = submit(buffer, "d"); // full at t0, held back by the rate to t4
    await().atMost(WAIT).until(() -> calls.size() == 1);
    step(1, Duration.ofSeconds(4));
    assertThat(failure(c).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(failure(d).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(a).succeedsWithin(WAIT);
    assertThat(b).succeedsWithin(WAIT);
    buffer.close();
    assertThat(calls).as("c and d were never sent").containsExactly(List.of("a", "b"));
    assertThat(errors).singleElement().isInstanceOfSatisfying(DeliveryTimeoutException.class,
        e -> assertThat(e.waited()).isEqualTo(Duration.ofSeconds(4)));
    assertThat(buffer.stats().expired()).isEqualTo(2);
    assertBalanced(buffer.stats());
  }

  @Test
  void aBatchThatWaitedPastTheDeadlineForTheFlowControlsLimitIsNotSent() throws Exception {
    CountDownLatch held = new CountDownLatch(1);
    Buffer<String> buffer = Buffer.start(Config.<String>builder(batch -> {
          calls.add(batch);
          if (batch.contains("a")) {
            held.await();
          }
        }).capacity(2).flushInterval(Duration.ofSeconds(1)).onFlushError(this::onFlushError)
        .build(),
        Options.builder().timeSource(time).deliveryTimeout(Duration.ofSeconds(3))
            .flowControl(FlowControl.aimd().initialLimit(1).maxLimit(1).build()).build());
    try {
      CompletableFuture<Void> a = submit(buffer, "a");
      CompletableFuture<Void> b = submit(buffer, "b"); // takes the one flush the limit allows
      await().atMost(WAIT).until(() -> calls.size() == 1);
      CompletableFuture<Void> c = submit(buffer, "c"); // armed at t0
      step(1, Duration.ofSeconds(1)); // its linger: flushed at t1, waits for the limit
      time.advance(Duration.ofSeconds(3));
      held.countDown();
      assertThat(a).succeedsWithin(WAIT);
      assertThat(b).succeedsWithin(WAIT);
      assertThat(failure(c).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    } finally {
      held.countDown();
      buffer.close();
    }
    assertThat(calls).as("c was never sent").containsExactly(List.of("a", "b"));
    assertThat(errors).singleElement().isInstanceOfSatisfying(DeliveryTimeoutException.class,
        e -> assertThat(e.waited()).isEqualTo(Duration.ofSeconds(4)));
    assertThat(buffer.stats().expired()).isEqualTo(1);
    assertBalanced(buffer.stats());
  }

  /**
   * A keyed buffer of one key "k", batches of 4, a per-key rate of 1 item a second (so a batch of
   * 4 leaves the key 3 s in debt) and a deadline of 3 s, with {@code maxInFlight} and
   * {@code pause} as given.
   */
  KeyedBuffer<String, String> rateLimitedKey(int maxInFlight, @Nullable PauseMode pause) {
    KeyedBuffer.Builder<String, String> builder = KeyedBuffer.<String, String>builder(s -> "k",
            (key, batch) -> calls.add(batch))
        .policy(FlushPolicy.count(4)).flushInterval(Duration.ofSeconds(1)).timeSource(time)
        .maxInFlight(maxInFlight).keyRateLimit(1).deliveryTimeout(Duration.ofSeconds(3))
        .onFlushError(this::onFlushError);
    if (pause != null) {
      builder.pauseKeyOnFailure(pause);
    }
    return builder.start();
  }

  List<CompletableFuture<Void>> submitAll(KeyedBuffer<String, String> buffer, String... items)
      throws InterruptedException {
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (String item : items) {
      futures.add(buffer.submit(item));
    }
    return futures;
  }

  @ParameterizedTest(name = "maxInFlight {0}")
  @ValueSource(ints = {1, 4})
  void aBatchHeldByItsKeysRateLimitPastTheDeadlineExpiresUnsentAndTheKeySendsAgain(
      int maxInFlight) throws Exception {
    KeyedBuffer<String, String> buffer = rateLimitedKey(maxInFlight, null);
    try {
      List<CompletableFuture<Void>> first = submitAll(buffer, "a", "b", "c", "d"); // sent at t0
      await().atMost(WAIT).until(() -> calls.size() == 1);
      List<CompletableFuture<Void>> held = submitAll(buffer, "e", "f", "g", "h"); // held to t4
      await().atMost(WAIT).until(() -> buffer.stats().batchesRateLimited() == 1);
      step(1, Duration.ofSeconds(4));
      assertThat(held).allSatisfy(
          f -> assertThat(failure(f).reason()).isEqualTo(DeliveryException.Reason.EXPIRED));
      // The expired batch took no tokens: at t4 the bucket holds its burst again.
      List<CompletableFuture<Void>> later = submitAll(buffer, "i", "j", "k", "l");
      assertThat(later).as("the key was freed by the expiry").allSatisfy(
          f -> assertThat(f).succeedsWithin(WAIT));
      assertThat(first).allSatisfy(f -> assertThat(f).succeedsWithin(WAIT));
    } finally {
      buffer.close();
    }
    assertThat(calls).containsExactly(List.of("a", "b", "c", "d"), List.of("i", "j", "k", "l"));
    assertThat(buffer.stats().expired()).isEqualTo(4);
    assertBalanced(buffer.stats());
  }

  @Test
  void aBatchThatExpiresUnsentPausesItsKeyWhenKeysPause() throws Exception {
    KeyedBuffer<String, String> buffer = rateLimitedKey(1, PauseMode.FAIL_FAST);
    try {
      submitAll(buffer, "a", "b", "c", "d");
      await().atMost(WAIT).until(() -> calls.size() == 1);
      List<CompletableFuture<Void>> held = submitAll(buffer, "e", "f", "g", "h");
      await().atMost(WAIT).until(() -> buffer.stats().batchesRateLimited() == 1);
      step(1, Duration.ofSeconds(4));
      assertThat(failure(held.get(0)).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
      assertThat(buffer.pausedKeys()).as("a gap in the key's order pauses it").containsExactly("k");
      List<CompletableFuture<Void>> later = submitAll(buffer, "i", "j", "k", "l");
      assertThat(later).allSatisfy(
          f -> assertThat(failure(f).reason()).isEqualTo(DeliveryException.Reason.KEY_PAUSED));
    } finally {
      buffer.close();
    }
    assertThat(calls).containsExactly(List.of("a", "b", "c", "d"));
    assertThat(buffer.stats().expired()).isEqualTo(4);
    assertBalanced(buffer.stats());
  }

  @Test
  void aBatchWaitingForAnOpenCircuitExpiresAtItsDeadlineNotAfterTheCoolDown() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(down,
            FlushMiddleware.<String>circuitBreaker(1, HOURS, true, time)))
        .capacity(1).flushInterval(Duration.ofSeconds(1)).onFlushError(this::onFlushError).build(),
        options(Duration.ofSeconds(3), 1));
    CompletableFuture<Void> a = submit(buffer, "a"); // fails at t0: the circuit opens for an hour
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.FAILED);
    CompletableFuture<Void> b = submit(buffer, "b"); // waits for the circuit from t0
    step(1, Duration.ofSeconds(3));
    assertThat(failure(b).reason()).as("b gave up at its deadline, not after the hour")
        .isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(time.nanoTime()).isEqualTo(Duration.ofSeconds(3).toNanos());
    buffer.close();
    assertThat(calls).as("b was never sent").containsExactly(List.of("a"));
    assertThat(errors).hasSize(2).last().isInstanceOf(DeliveryTimeoutException.class);
    assertThat(buffer.stats().expired()).isEqualTo(1);
    assertBalanced(buffer.stats());
  }

  @Test
  void aKeysBatchThatWaitedPastTheDeadlineWhileAnotherKeyFlushedInlineExpiresAtClose()
      throws Exception {
    FlushFunc<String> retried = FlushMiddleware.chain(down, retryEvery(Duration.ofMillis(1500)));
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            s -> s.substring(0, 1), (key, batch) -> retried.flush(batch))
        .policy(FlushPolicy.count(2)).flushInterval(Duration.ofSeconds(3)).timeSource(time)
        .deliveryTimeout(Duration.ofSeconds(4)).onFlushError(this::onFlushError).start();
    CompletableFuture<Void> b = buffer.submit("b1"); // B's batch armed at t0, lingers to t3
    step(1, Duration.ofSeconds(2));
    CompletableFuture<Void> a1 = buffer.submit("a1");
    CompletableFuture<Void> a2 = buffer.submit("a2"); // A full at t2: flushed inline, fails
    await().atMost(WAIT).until(() -> calls.size() == 1);
    CompletableFuture<Void> closing = Async.run(buffer::close);
    step(1, Duration.ofSeconds(3)); // A's retry wakes at t5, fails, and expires (deadline t6)
    assertThat(closing).succeedsWithin(WAIT);
    assertThat(failure(a1).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(failure(a2).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(failure(b).reason()).as("B waited 5 s for the loop").isEqualTo(
        DeliveryException.Reason.EXPIRED);
    assertThat(calls).as("B's batch was never sent")
        .containsExactly(List.of("a1", "a2"), List.of("a1", "a2"));
    assertThat(buffer.stats().expired()).isEqualTo(3);
    assertThat(buffer.stats().failed()).isEqualTo(3);
    assertThat(errors).hasSize(2).allSatisfy(
        e -> assertThat(e).isInstanceOf(DeliveryTimeoutException.class));
  }

  @Test
  void closeWithTimeoutExpiresABatchWhoseDeadlinePassedBeforeItWasSent() throws Exception {
    Buffer<String> buffer = twoSlots(this::onFlushError);
    List<CompletableFuture<Void>> futures;
    try {
      futures = cWaitsPastItsDeadlineForASlot(buffer);
      CompletableFuture<CloseResult<String>> closing = Async.call(() -> buffer.close(HOURS));
      release.countDown();
      assertThat(closing).succeedsWithin(WAIT);
      assertThat(closing.join().drained()).isTrue();
      assertThat(closing.join().undelivered()).isEmpty();
    } finally {
      release.countDown();
    }
    assertThat(futures.subList(0, 4)).allSatisfy(f -> assertThat(f).succeedsWithin(WAIT));
    assertThat(failure(futures.get(4)).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    assertThat(calls).hasSize(2);
    assertBalanced(buffer.stats());
  }

  @Test
  void closeWithTimeoutThatGivesUpHandsBackAWaitingBatchAsUndeliveredEvenPastItsDeadline()
      throws Exception {
    CountDownLatch inFlush = new CountDownLatch(1);
    FlushFunc<String> hung = batch -> {
      calls.add(batch);
      inFlush.countDown();
      new CountDownLatch(1).await(); // until close(timeout) interrupts it
    };
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(s -> "k",
            (key, batch) -> hung.flush(batch))
        .policy(FlushPolicy.count(1)).flushInterval(Duration.ofSeconds(1)).timeSource(time)
        .maxInFlight(2).deliveryTimeout(Duration.ofSeconds(3)).onFlushError(this::onFlushError)
        .start();
    CompletableFuture<Void> a = buffer.submit("a");
    assertThat(inFlush.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> b = buffer.submit("b"); // queued behind a
    await().atMost(WAIT).until(() -> buffer.stats().itemsFlushing() == 2);
    time.advance(Duration.ofSeconds(4)); // b is past its deadline, still queued
    CompletableFuture<CloseResult<String>> closing =
        Async.call(() -> buffer.close(Duration.ofSeconds(1)));
    // close gives up after 1 s: interrupts a, gives up b; then waits its grace, on the clock too
    await().atMost(WAIT).until(() -> {
      if (time.timedWaiters() > 0) {
        time.advance(Duration.ofSeconds(1));
      }
      return closing.isDone();
    });
    assertThat(closing.join().undelivered()).containsExactly("a", "b");
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(errors).isEmpty();
    assertThat(buffer.stats().expired()).isZero();
    assertThat(buffer.stats().undelivered()).isEqualTo(2);
  }

  @Test
  void aResultBuffersItemPastItsDeadlineFailsWithExpiredAndTheOthersKeepTheirAnswers()
      throws Exception {
    AtomicInteger call = new AtomicInteger();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builder((batch, results) -> {
          calls.add(batch);
          boolean first = call.incrementAndGet() == 1;
          for (int i = 0; i < batch.size(); i++) {
            if (first && batch.get(i).equals("x")) {
              results.fail(i, new IOException("x throttled"));
            } else if (!batch.get(i).equals("x")) {
              results.succeed(i, "ok-" + batch.get(i));
            } else {
              results.fail(i, new IOException("x still throttled"));
            }
          }
        })
        .config(c -> c.capacity(2).flushInterval(Duration.ofSeconds(1))
            .onFlushError(this::onFlushError))
        .options(options(Duration.ofSeconds(2), 1))
        .middleware(retryEvery(Duration.ofSeconds(1)))
        .start();
    CompletableFuture<String> x = buffer.submit("x");
    CompletableFuture<String> y = buffer.submit("y");
    await().atMost(WAIT).until(() -> calls.size() == 1);
    step(1, Duration.ofSeconds(1));
    assertThat(y).succeedsWithin(WAIT).isEqualTo("ok-y");
    assertThat(failure(x).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    buffer.close();
    assertThat(calls).containsExactly(List.of("x", "y"), List.of("x"));
    assertThat(buffer.stats().expired()).isEqualTo(1);
    assertThat(buffer.stats().flushed()).isEqualTo(1);
  }

  @Test
  void anAsyncWriteWaitingForASlotPastTheDeadlineIsNotStarted() throws Exception {
    Map<String, CompletableFuture<Void>> writes = new ConcurrentHashMap<>();
    ResultBuffer<String, String> buffer = ResultBuffer.<String, String>builderAsync(
            (batch, results) -> {
              calls.add(batch);
              CompletableFuture<Void> write = new CompletableFuture<>();
              writes.put(batch.get(0), write);
              return write.thenRun(() -> {
                for (int i = 0; i < batch.size(); i++) {
                  results.succeed(i, "ok");
                }
              });
            })
        .config(c -> c.capacity(2).flushInterval(Duration.ofSeconds(1))
            .onFlushError(this::onFlushError))
        .options(options(Duration.ofSeconds(3), 1))
        .start();
    try {
      CompletableFuture<String> a = buffer.submit("a");
      CompletableFuture<String> a2 = buffer.submit("a2");
      await().atMost(WAIT).until(() -> writes.containsKey("a")); // the one slot is taken
      CompletableFuture<String> b = buffer.submit("b"); // armed at t0
      step(1, Duration.ofSeconds(1)); // flushed by its linger at t1: waits for the slot
      time.advance(Duration.ofSeconds(3));
      java.util.Objects.requireNonNull(writes.get("a")).complete(null);
      assertThat(a).succeedsWithin(WAIT).isEqualTo("ok");
      assertThat(a2).succeedsWithin(WAIT).isEqualTo("ok");
      assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
    } finally {
      writes.values().forEach(w -> w.complete(null));
      buffer.close();
    }
    assertThat(calls).containsExactly(List.of("a", "a2"));
    assertThat(buffer.stats().expired()).isEqualTo(1);
    assertBalanced(buffer.stats());
  }

  @Test
  void anOnFlushErrorThatThrowsForExpiredItemsDoesNotStopTheBuffer() throws Exception {
    Buffer<String> buffer = twoSlots((e, batch) -> {
      throw new IllegalStateException("dead letters down");
    });
    try {
      List<CompletableFuture<Void>> futures = cWaitsPastItsDeadlineForASlot(buffer);
      release.countDown();
      assertThat(failure(futures.get(4)).reason()).isEqualTo(DeliveryException.Reason.EXPIRED);
      CompletableFuture<Void> c = submit(buffer, "c");
      step(1, Duration.ofSeconds(1));
      assertThat(c).as("the buffer goes on after onFlushError threw").succeedsWithin(WAIT);
    } finally {
      release.countDown();
      buffer.close();
    }
    assertThat(buffer.stats().expired()).isEqualTo(1);
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
  }

  @Test
  void aDeadlineNotLongerThanTheLingerIsRejectedNamingBothValues() {
    Config<String> config = Config.builder((FlushFunc<String>) calls::add)
        .flushInterval(Duration.ofSeconds(5)).build();
    assertThatThrownBy(() -> Buffer.start(config, options(Duration.ofSeconds(5), 1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("deliveryTimeout (PT5S)").hasMessageContaining("flushInterval PT5S");
    Config<String> aged = Config.builder((FlushFunc<String>) calls::add)
        .policy(FlushPolicy.anyOf(FlushPolicy.count(10), FlushPolicy.age(Duration.ofMillis(100))))
        .flushInterval(Duration.ofSeconds(5)).build();
    assertThatThrownBy(() -> Buffer.start(aged, options(Duration.ofMillis(50), 1)))
        .hasMessageContaining("deliveryTimeout (PT0.05S)")
        .hasMessageContaining("PT0.1S"); // Config.Builder makes the shorter age its flushInterval
    Buffer.start(aged, options(Duration.ofMillis(200), 1)).close(); // longer than the age: fine
    assertThatThrownBy(() -> KeyedBuffer.<String, String>builder(s -> s, (k, b) -> {})
        .flushInterval(Duration.ofSeconds(2)).deliveryTimeout(Duration.ofSeconds(1)).start())
        .hasMessageContaining("deliveryTimeout (PT1S)").hasMessageContaining("flushInterval PT2S");
    // A policy per key is not known before its key is seen: flushInterval bounds its age.
    assertThatThrownBy(() -> KeyedBuffer.<String, String>builder(s -> s, (k, b) -> {})
        .policy(k -> FlushPolicy.<String>age(Duration.ofMillis(10)))
        .flushInterval(Duration.ofSeconds(2)).deliveryTimeout(Duration.ofSeconds(1)).start())
        .hasMessageContaining("flushInterval PT2S");
    KeyedBuffer.<String, String>builder(s -> s, (k, b) -> {})
        .policy(FlushPolicy.<String>age(Duration.ofMillis(10)))
        .flushInterval(Duration.ofSeconds(2)).deliveryTimeout(Duration.ofSeconds(1)).start()
        .close(); // the same age for every key: checked against it
  }

  @Test
  void aDeliveryTimeoutOutOfRangeIsRejectedNamingTheFieldAndTheValue() {
    assertThatThrownBy(() -> Options.builder().deliveryTimeout(Duration.ZERO))
        .hasMessage("deliveryTimeout must be in (0, PT8760H] (was PT0S)");
    assertThatThrownBy(() -> Options.builder().deliveryTimeout(Duration.ofSeconds(-1)))
        .hasMessageContaining("(was PT-1S)");
    assertThatThrownBy(() -> KeyedBuffer.<String, String>builder(s -> s, (k, b) -> {})
        .deliveryTimeout(Duration.ofDays(366))).hasMessageContaining("deliveryTimeout must be in");
    assertThatThrownBy(() -> Options.builder().deliveryTimeout(nullDuration()))
        .isInstanceOf(NullPointerException.class).hasMessageContaining("deliveryTimeout");
    assertThat(Options.builder().deliveryTimeout(Duration.ofSeconds(2)).build().deliveryTimeout())
        .isEqualTo(Duration.ofSeconds(2));
    assertThat(Options.defaults().deliveryTimeout()).isNull();
  }

  @SuppressWarnings("NullAway") // a caller that passes null anyway
  static Duration nullDuration() {
    @Nullable Duration none = null;
    return none;
  }
}
