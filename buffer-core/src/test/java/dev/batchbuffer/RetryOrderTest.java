package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Retry order, on the manual clock: items a {@link FlushMiddleware#retry} sends again go out
 * before newer items of the same key, with one flush in flight (inline on the loop) and with
 * several (a keyed buffer serializes a key's flushes), for whole and partial failures, blocking
 * and asynchronous flush functions, and a timeout inside or outside the retry; a retry inside a
 * timeout that gave up on it sends nothing more. Only a plain buffer with several flushes in
 * flight may reorder, as documented.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RetryOrderTest {
  static final Duration WAIT = Duration.ofSeconds(10);
  static final Duration SECOND = Duration.ofSeconds(1);

  final ManualTimeSource time = new ManualTimeSource();
  /** Every call of the backend, in order. */
  final List<List<String>> calls = new CopyOnWriteArrayList<>();
  /** Items whose first call fails (once each). */
  final Set<String> failOnce = ConcurrentHashMap.newKeySet();

  /**
   * A backend that records each call; an item in {@link #failOnce} fails its first call: the
   * whole call if every item of it does, else just those items (a partial failure).
   */
  final FlushFunc<String> backend = batch -> {
    calls.add(batch);
    List<Integer> failed = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      if (failOnce.remove(batch.get(i))) {
        failed.add(i);
      }
    }
    if (failed.size() == batch.size()) {
      throw new IOException("throttled");
    }
    if (!failed.isEmpty()) {
      throw new PartialFlushException(failed, new IOException("some throttled"));
    }
  };

  final FlushMiddleware<String> retryAfterASecond = FlushMiddleware.retry(RetryPolicy.builder()
      .maxAttempts(5).backoff(SECOND, SECOND).jitter(0).build(), time);

  /**
   * Advances the clock by {@code step} whenever a thread is parked on it, until {@code done}: for
   * a series of timed waits (a timeout's limit, its grace, a backoff) whose hand-offs the test
   * cannot see one by one. Advancing further than needed does no harm in the tests using it.
   */
  void advanceUntil(Duration step, java.util.concurrent.Callable<Boolean> done) {
    await().atMost(WAIT).until(() -> {
      if (time.timedWaiters() > 0) {
        time.advance(step);
      }
      return done.call();
    });
  }

  /** The items of {@code key} in the order the backend received them, retries included. */
  List<String> sentOf(String key) {
    List<String> out = new ArrayList<>();
    for (List<String> call : calls) {
      for (String item : call) {
        if (item.startsWith(key)) {
          out.add(item);
        }
      }
    }
    return out;
  }

  @Test
  void aRetryGoesOutBeforeNewerItemsWithOneFlushInFlight() throws Exception {
    failOnce.add("a1");
    Buffer<String> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(backend,
            retryAfterASecond)).capacity(2).flushInterval(Duration.ofHours(1)).build(),
        Options.builder().timeSource(time).build());
    buffer.add("a1");
    buffer.add("a2"); // flushed inline; a1 fails, the retry waits a second
    buffer.add("a3");
    buffer.add("a4"); // newer: in the channel while the loop is in the flush
    await().atMost(WAIT).until(() -> calls.size() == 1);
    time.awaitTimedWaiters(1, WAIT); // the retry's backoff (the loop is in the flush)
    time.advance(SECOND);
    buffer.close();
    assertThat(calls).containsExactly(List.of("a1", "a2"), List.of("a1"), List.of("a3", "a4"));
  }

  @Test
  void aKeysRetryGoesOutBeforeItsNewerBatchWhileOtherKeysFlush() throws Exception {
    failOnce.add("k1");
    KeyedBuffer<String, String> buffer = keyed(FlushMiddleware.chain(backend, retryAfterASecond),
        3);
    buffer.add("k1"); // fails; its retry waits a second on its flush thread
    await().atMost(WAIT).until(() -> calls.size() == 1);
    buffer.add("k2"); // queued behind k1's flush
    buffer.add("j1"); // another key: not held up
    await().atMost(WAIT).until(() -> calls.size() == 2);
    assertThat(calls.get(1)).containsExactly("j1");
    time.awaitTimedWaiters(1, WAIT);
    time.advance(SECOND);
    buffer.close();
    assertThat(sentOf("k")).containsExactly("k1", "k1", "k2");
  }

  @Test
  void aPartialFailureRetriesOnlyItsFailedItemsBeforeTheKeysNextBatch() throws Exception {
    failOnce.add("k2");
    KeyedBuffer<String, String> buffer = keyed(FlushMiddleware.chain(backend, retryAfterASecond),
        2, 3);
    buffer.add("k1");
    buffer.add("k2");
    buffer.add("k3"); // one batch: k2 fails alone
    await().atMost(WAIT).until(() -> calls.size() == 1);
    buffer.add("k4");
    buffer.add("k5");
    buffer.add("k6"); // the key's next batch: queued
    await().atMost(WAIT).until(() -> buffer.stats().itemsFlushing() == 6);
    time.awaitTimedWaiters(1, WAIT); // the retry's backoff (no batch lingers)
    time.advance(SECOND);
    buffer.close();
    assertThat(calls).containsExactly(List.of("k1", "k2", "k3"), List.of("k2"),
        List.of("k4", "k5", "k6"));
  }

  @Test
  void anAsyncFlushFunctionRetriedThroughAwaitingKeepsItsKeysOrder() throws Exception {
    failOnce.add("k1");
    AsyncFlushFunc<String> async = batch -> {
      CompletableFuture<Void> done = new CompletableFuture<>();
      try {
        backend.flush(batch);
        done.complete(null);
      } catch (Exception e) {
        done.completeExceptionally(e);
      }
      return done;
    };
    KeyedBuffer<String, String> buffer = keyed(FlushMiddleware.chain(async.awaiting(),
        retryAfterASecond), 2);
    buffer.add("k1");
    await().atMost(WAIT).until(() -> calls.size() == 1);
    buffer.add("k2");
    time.awaitTimedWaiters(1, WAIT);
    time.advance(SECOND);
    buffer.close();
    assertThat(sentOf("k")).containsExactly("k1", "k1", "k2");
  }

  @Test
  void aRetryOfAttemptsEachUnderATimeoutKeepsTheKeyUntilItsSeriesEnds() throws Exception {
    CountDownLatch never = new CountDownLatch(1);
    FlushFunc<String> hangsOnce = batch -> {
      calls.add(batch);
      if (calls.size() == 1) {
        never.await(); // the timeout interrupts it
      }
    };
    KeyedBuffer<String, String> buffer = keyed(FlushMiddleware.chain(hangsOnce, retryAfterASecond,
        FlushMiddleware.timeout(Duration.ofSeconds(5), time)), 2);
    buffer.add("k1");
    await().atMost(WAIT).until(() -> calls.size() == 1);
    buffer.add("k2"); // queued behind k1's series
    // The first attempt times out at 5 s; the retry waits 1 s and sends k1 again; then k2 goes.
    advanceUntil(SECOND, () -> calls.size() == 3);
    buffer.close();
    assertThat(sentOf("k")).containsExactly("k1", "k1", "k2");
  }

  @Test
  void aRetryATimeoutGaveUpOnSendsNothingAfterTheBufferMovedOn() throws Exception {
    CountDownLatch releaseFirst = new CountDownLatch(1);
    CountDownLatch firstSeriesEnded = new CountDownLatch(1);
    FlushFunc<String> stubbornOnce = batch -> {
      calls.add(batch);
      if (calls.size() == 1) {
        while (true) { // ignores the timeout's interrupt until released, then fails
          try {
            releaseFirst.await();
            break;
          } catch (InterruptedException ignored) {
            // a backend that does not answer interrupts
          }
        }
        throw new IOException("the hung call failed at last");
      }
    };
    FlushMiddleware<String> watchSeries = next -> batch -> {
      try {
        next.flush(batch);
      } finally {
        if (batch.contains("a")) {
          firstSeriesEnded.countDown();
        }
      }
    };
    List<String> failed = new CopyOnWriteArrayList<>();
    FlushFunc<String> flush = FlushMiddleware.chain(stubbornOnce,
        FlushMiddleware.timeout(Duration.ofSeconds(5), time), watchSeries,
        FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(5)
            .backoff(Duration.ZERO, Duration.ZERO).build(), time));
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1)
            .flushInterval(Duration.ofHours(1)).onFlushError((e, batch) -> failed.addAll(batch))
            .build(),
        Options.builder().timeSource(time).build());
    try {
      buffer.add("a"); // inline: the timeout's worker runs the retry, which runs the hung call
      // At the limit (5 s) the call is interrupted and ignores it; after the grace "a" fails.
      advanceUntil(SECOND, () -> failed.contains("a"));
      buffer.add("b"); // the buffer moved on: b is sent
      await().atMost(WAIT).until(() -> calls.size() == 2);
      releaseFirst.countDown(); // the abandoned call fails; its retry must not send "a" again
      assertThat(firstSeriesEnded.await(10, TimeUnit.SECONDS)).isTrue();
    } finally {
      releaseFirst.countDown();
      buffer.close();
    }
    assertThat(calls).containsExactly(List.of("a"), List.of("b"));
    assertThat(failed).containsExactly("a");
  }

  @Test
  void aPlainBufferWithSeveralFlushesInFlightMayLetANewerBatchPassARetry() throws Exception {
    failOnce.add("a");
    Buffer<String> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(backend,
            retryAfterASecond)).capacity(1).flushInterval(Duration.ofHours(1)).build(),
        Options.builder().timeSource(time).maxInFlight(2).build());
    buffer.add("a"); // fails; its retry waits a second on its own flush thread
    await().atMost(WAIT).until(() -> calls.size() == 1);
    buffer.add("b"); // the second slot: goes out at once
    await().atMost(WAIT).until(() -> calls.size() == 2);
    time.awaitTimedWaiters(1, WAIT);
    time.advance(SECOND);
    buffer.close();
    assertThat(calls).as("documented: order across batches is not kept here")
        .containsExactly(List.of("a"), List.of("b"), List.of("a"));
  }

  KeyedBuffer<String, String> keyed(FlushFunc<String> flush, int maxInFlight) {
    return keyed(flush, maxInFlight, 1);
  }

  /** A keyed buffer by first letter, batches of {@code count}, on the manual clock. */
  KeyedBuffer<String, String> keyed(FlushFunc<String> flush, int maxInFlight, int count) {
    return KeyedBuffer.<String, String>builder(s -> s.substring(0, 1),
            (key, batch) -> flush.flush(batch))
        .policy(FlushPolicy.count(count)).flushInterval(Duration.ofHours(1)).timeSource(time)
        .maxInFlight(maxInFlight).start();
  }
}
