package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Retry, timeout, rate limit and circuit breaker, each on a manual clock; and their composition. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FlushMiddlewareTest {
  final ManualTimeSource time = new ManualTimeSource();
  final List<List<String>> calls = new CopyOnWriteArrayList<>();

  /** A backend that fails its first {@code failures} calls, recording every call. */
  FlushFunc<String> failingFirst(int failures) {
    AtomicInteger n = new AtomicInteger();
    return batch -> {
      calls.add(batch);
      if (n.incrementAndGet() <= failures) {
        throw new IOException("call " + n.get() + " failed");
      }
    };
  }

  /** Runs {@code flush} on a virtual thread, so the test can drive the clock meanwhile. */
  static CompletableFuture<Void> async(FlushFunc<String> flush, List<String> batch) {
    return Async.run(() -> flush.flush(batch));
  }

  static final RetryPolicy THREE_TRIES = RetryPolicy.builder().maxAttempts(3)
      .backoff(Duration.ofSeconds(1), Duration.ofSeconds(10)).jitter(0).build();

  @Test
  void retryRetriesWithExponentialBackoffUntilSuccess() throws Exception {
    FlushFunc<String> flush = FlushMiddleware.chain(failingFirst(2), FlushMiddleware.<String>retry(THREE_TRIES, time));
    CompletableFuture<Void> done = async(flush, List.of("a"));
    await().until(() -> calls.size() == 1 && time.timedWaiters() == 1);
    time.advance(Duration.ofMillis(999));
    assertThat(calls).hasSize(1);
    time.advance(Duration.ofMillis(1)); // 1 s after the first failure
    await().until(() -> calls.size() == 2 && time.timedWaiters() == 1);
    time.advance(Duration.ofSeconds(2)); // then 2 s
    assertThat(done).succeedsWithin(Duration.ofSeconds(10));
    assertThat(calls).hasSize(3);
  }

  @Test
  void retryGivesUpAfterMaxAttemptsWithTheLastFailure() throws Exception {
    FlushFunc<String> flush = FlushMiddleware.<String>retry(THREE_TRIES, time).wrap(failingFirst(5));
    CompletableFuture<Void> done = async(flush, List.of("a"));
    for (int i = 1; i <= 2; i++) {
      int expected = i;
      await().until(() -> calls.size() == expected && time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(10));
    }
    assertThat(done).failsWithin(Duration.ofSeconds(10)).withThrowableThat()
        .havingRootCause().isInstanceOf(IOException.class).withMessage("call 3 failed");
    assertThat(calls).hasSize(3);
  }

  @Test
  void retrySkipsFailuresThatAreNotRetryable() throws Exception {
    RetryPolicy policy = RetryPolicy.builder().retryOn(e -> !(e instanceof IOException)).build();
    FlushFunc<String> flush = FlushMiddleware.<String>retry(policy, time).wrap(failingFirst(1));
    assertThatThrownBy(() -> flush.flush(List.of("a"))).isInstanceOf(IOException.class);
    assertThat(calls).hasSize(1);
  }

  @Test
  void retryStopsWhenTheNextDelayWouldPassMaxElapsed() throws Exception {
    RetryPolicy policy = RetryPolicy.builder().maxAttempts(10).jitter(0)
        .backoff(Duration.ofSeconds(4), Duration.ofSeconds(4)).maxElapsed(Duration.ofSeconds(10)).build();
    FlushFunc<String> flush = FlushMiddleware.<String>retry(policy, time).wrap(failingFirst(100));
    CompletableFuture<Void> done = async(flush, List.of("a"));
    for (int i = 1; i <= 2; i++) {
      int expected = i;
      await().until(() -> calls.size() == expected && time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(4));
    }
    // At 8 s a third 4 s delay would end at 12 s > 10 s: no fourth call.
    assertThat(done).failsWithin(Duration.ofSeconds(10));
    assertThat(calls).hasSize(3);
  }

  @Test
  void retryResendsOnlyTheFailedItemsInOrderAndMapsIndexesBack() throws Exception {
    AtomicInteger n = new AtomicInteger();
    FlushFunc<String> backend = batch -> {
      calls.add(batch);
      switch (n.incrementAndGet()) {
        case 1 -> throw new PartialFlushException(List.of(3, 1, 4), new IOException("throttled"));
        case 2 -> throw new PartialFlushException(List.of(2), new IOException("still throttled"));
        default -> throw new PartialFlushException(List.of(0), new IOException("gave up"));
      }
    };
    FlushFunc<String> flush = FlushMiddleware.<String>retry(THREE_TRIES, time).wrap(backend);
    CompletableFuture<Void> done = async(flush, List.of("a", "b", "c", "d", "e"));
    for (int i = 1; i <= 2; i++) {
      int expected = i;
      await().until(() -> calls.size() == expected && time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(10));
    }
    assertThat(done).failsWithin(Duration.ofSeconds(10));
    assertThat(calls).containsExactly(List.of("a", "b", "c", "d", "e"), List.of("b", "d", "e"), List.of("e"));
    Throwable failure = DispatcherContractTest.failureOf(done);
    assertThat(failure).isInstanceOf(PartialFlushException.class);
    assertThat(((PartialFlushException) failure).failedIndexes()).containsExactly(4);
  }

  @Test
  void timeoutTurnsAHungFlushIntoAReportedFailure() throws Exception {
    CountDownLatch interrupted = new CountDownLatch(1);
    FlushFunc<String> hung = batch -> {
      try {
        new CountDownLatch(1).await();
      } catch (InterruptedException e) {
        interrupted.countDown();
        throw e;
      }
    };
    FlushFunc<String> flush = FlushMiddleware.<String>timeout(Duration.ofSeconds(5), time).wrap(hung);
    CompletableFuture<Void> done = async(flush, List.of("a", "b"));
    await().until(() -> time.timedWaiters() == 1);
    time.advance(Duration.ofSeconds(5));
    // The call answered the interrupt within the grace, so what it threw is the timeout's cause.
    assertThat(done).failsWithin(Duration.ofSeconds(10)).withThrowableThat()
        .havingCause().isInstanceOf(FlushTimeoutException.class)
        .withMessage("flush of 2 items did not return within PT5S; interrupted")
        .havingCause().isInstanceOf(InterruptedException.class);
    assertThat(interrupted.await(10, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void timeoutPassesResultsAndFailuresThrough() throws Exception {
    FlushFunc<String> flush = FlushMiddleware.<String>timeout(Duration.ofSeconds(5), time).wrap(failingFirst(1));
    assertThatThrownBy(() -> flush.flush(List.of("a"))).isInstanceOf(IOException.class);
    flush.flush(List.of("b"));
    assertThat(calls).hasSize(2);
  }

  @Test
  void rateLimitPacesBatchesAndItems() throws Exception {
    // 2 batches/s with a burst of 2, 100 items/s with a burst of 100.
    FlushFunc<String> flush = FlushMiddleware.<String>rateLimit(2, 100, time).wrap(failingFirst(0));
    flush.flush(List.of("a"));
    flush.flush(List.of("b"));
    CompletableFuture<Void> third = async(flush, List.of("c"));
    await().until(() -> time.timedWaiters() == 1);
    assertThat(calls).hasSize(2);
    time.advance(Duration.ofMillis(500)); // one batch token refills in 0.5 s
    assertThat(third).succeedsWithin(Duration.ofSeconds(10));
    // At 0.5 s the item bucket is full again (100); 150 items overdraw it by 50: wait 0.5 s.
    CompletableFuture<Void> big = async(flush, java.util.Collections.nCopies(150, "x"));
    await().until(() -> time.timedWaiters() == 1);
    time.advance(Duration.ofMillis(499));
    time.awaitTimedWaiters(1, Duration.ofSeconds(10)); // woken, it re-checked and waits again
    assertThat(big).isNotDone();
    time.advance(Duration.ofMillis(2));
    assertThat(big).succeedsWithin(Duration.ofSeconds(10));
  }

  @Test
  void circuitBreakerOpensFailsFastThenProbes() throws Exception {
    FlushFunc<String> flush = FlushMiddleware.<String>circuitBreaker(2, Duration.ofSeconds(30), false, time)
        .wrap(failingFirst(3));
    assertThatThrownBy(() -> flush.flush(List.of("1"))).isInstanceOf(IOException.class);
    assertThatThrownBy(() -> flush.flush(List.of("2"))).isInstanceOf(IOException.class);
    assertThatThrownBy(() -> flush.flush(List.of("3"))).isInstanceOf(CircuitOpenException.class)
        .hasMessage("circuit open after 2 consecutive failures; next probe in 30000 ms");
    assertThat(calls).hasSize(2);
    time.advance(Duration.ofSeconds(30));
    assertThatThrownBy(() -> flush.flush(List.of("probe-1"))).isInstanceOf(IOException.class);
    assertThatThrownBy(() -> flush.flush(List.of("4"))).isInstanceOf(CircuitOpenException.class);
    time.advance(Duration.ofSeconds(30));
    flush.flush(List.of("probe-2")); // succeeds: closed again
    flush.flush(List.of("5"));
    assertThat(calls).extracting(b -> b.get(0)).containsExactly("1", "2", "probe-1", "probe-2", "5");
  }

  @Test
  void circuitBreakerCanHoldBatchesWhileOpen() throws Exception {
    FlushFunc<String> flush = FlushMiddleware.<String>circuitBreaker(1, Duration.ofSeconds(10), true, time)
        .wrap(failingFirst(1));
    assertThatThrownBy(() -> flush.flush(List.of("1"))).isInstanceOf(IOException.class);
    CompletableFuture<Void> held = async(flush, List.of("2"));
    await().until(() -> time.timedWaiters() == 1);
    assertThat(held).isNotDone();
    time.advance(Duration.ofSeconds(10));
    assertThat(held).succeedsWithin(Duration.ofSeconds(10));
  }

  @Test
  void chainAppliesTheFirstMiddlewareOutermost() throws Exception {
    List<String> order = new CopyOnWriteArrayList<>();
    FlushMiddleware<String> outer = next -> batch -> {
      order.add("outer");
      next.flush(batch);
    };
    FlushMiddleware<String> inner = next -> batch -> {
      order.add("inner");
      next.flush(batch);
    };
    FlushMiddleware.chain(batch -> order.add("flush"), outer, inner).flush(List.of("a"));
    assertThat(order).containsExactly("outer", "inner", "flush");
  }

  @Test
  void retryInsideABufferDeliversAfterTransientFailures() throws Exception {
    RetryPolicy fast = RetryPolicy.builder().backoff(Duration.ZERO, Duration.ZERO).maxAttempts(3).build();
    FlushFunc<String> flush = FlushMiddleware.chain(failingFirst(2), FlushMiddleware.<String>retry(fast, time));
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).build())) {
      CompletableFuture<Void> a = buffer.submit("a");
      buffer.add("b");
      assertThat(a).succeedsWithin(Duration.ofSeconds(10));
    }
    assertThat(calls).hasSize(3);
  }

  @Test
  void retryPolicyRejectsBadSettingsNamingTheField() {
    assertThatThrownBy(() -> RetryPolicy.builder().maxAttempts(0)).hasMessage("maxAttempts must be >= 1 (was 0)");
    assertThatThrownBy(() -> RetryPolicy.builder().jitter(1.5)).hasMessage("jitter must be in [0, 1] (was 1.5)");
    assertThatThrownBy(() -> RetryPolicy.builder().multiplier(0.5)).hasMessage("multiplier must be >= 1 (was 0.5)");
    assertThatThrownBy(() -> RetryPolicy.builder().backoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
        .hasMessage("max must be >= initial=PT2S (was PT1S)");
    assertThatThrownBy(() -> FlushMiddleware.<String>rateLimit(0, 1, time))
        .hasMessage("rates must be > 0 (was batchesPerSecond=0.0, itemsPerSecond=1.0)");
    assertThatThrownBy(() -> new PartialFlushException(List.of(1, 1), null))
        .hasMessage("failedIndexes must be distinct and >= 0 (was [1, 1])");
  }

  @Test
  void backoffGrowsIsCappedAndJittered() {
    RetryPolicy p = RetryPolicy.builder().backoff(Duration.ofMillis(100), Duration.ofMillis(500))
        .jitter(0.5).build();
    SplittableRandom random = new SplittableRandom(1);
    for (int attempt = 1; attempt <= 6; attempt++) {
      double base = Math.min(100 * Math.pow(2, attempt - 1), 500) * 1e6;
      assertThat((double) p.delayNanos(attempt, random)).isBetween(base * 0.5, base * 1.5);
    }
  }

  @Test
  void retryTreatsAPartialFailureNamingNoItemAsSuccess() throws Exception {
    FlushFunc<String> backend = batch -> {
      calls.add(batch);
      throw new PartialFlushException(List.of(), new IOException("nothing failed"));
    };
    FlushMiddleware.<String>retry(THREE_TRIES, time).wrap(backend).flush(List.of("a"));
    assertThat(calls).hasSize(1);
  }
}
