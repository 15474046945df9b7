package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static dev.batchbuffer.KeyedBufferTest.keyOf;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Proves {@link KeyedBuffer.Builder#pauseKeyOnFailure}, {@link KeyedBuffer#resume} and
 * {@link KeyedBuffer#pausedKeys} on the manual clock: without the option keys never pause; a key
 * pauses only when its batch fails for good (after the middleware's retries); in FAIL_FAST mode
 * what was not yet sent and what comes later fails with KEY_PAUSED through onFlushError, while
 * other keys flow; in WAIT mode it waits and goes, in order, on resume (also resume from
 * onFlushError); flush() fails with KEY_PAUSED while paused items wait; close() and
 * close(Duration) fail them with KEY_PAUSED; a paused key survives idle eviction; a keyed
 * ResultBuffer pauses and resumes; the stats count paused keys and items; and the accounting
 * identity holds with pausing and a rate limit on.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PausedKeysTest {

  /** A backend that fails every batch holding an item that ends with '!'. */
  static final class Backend implements KeyedFlushFunc<String, String> {
    final Queue<String> delivered = new ConcurrentLinkedQueue<>();
    final AtomicInteger calls = new AtomicInteger();

    @Override
    public void flush(String key, List<String> batch) throws IOException {
      calls.incrementAndGet();
      for (String item : batch) {
        if (item.endsWith("!")) {
          throw new IOException("backend refused " + batch);
        }
      }
      delivered.addAll(batch);
    }
  }

  /** What onFlushError received, with the reason of each exception. */
  static final class Errors {
    final Queue<String> items = new ConcurrentLinkedQueue<>();
    final Queue<String> paused = new ConcurrentLinkedQueue<>();

    void accept(Exception e, List<String> batch) {
      items.addAll(batch);
      if (e instanceof DeliveryException d && d.reason() == DeliveryException.Reason.KEY_PAUSED) {
        paused.addAll(batch);
      }
    }
  }

  static DeliveryException.Reason reasonOf(CompletableFuture<?> f) throws Exception {
    try {
      f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
      throw new AssertionError("the future succeeded");
    } catch (ExecutionException e) {
      return ((DeliveryException) java.util.Objects.requireNonNull(e.getCause())).reason();
    }
  }

  static KeyedBuffer.Builder<String, String> builder(Backend backend, Errors errors,
      ManualTimeSource time) {
    return KeyedBuffer.builder(KeyedBufferTest::keyOf, backend).policy(FlushPolicy.count(1))
        .flushInterval(HOURS).onFlushError(errors::accept).timeSource(time);
  }

  @Test
  void withoutTheOptionAKeyNeverPauses() throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    try (KeyedBuffer<String, String> buffer = builder(backend, errors, new ManualTimeSource())
        .start()) {
      assertThat(reasonOf(buffer.submit("a:1!"))).isEqualTo(DeliveryException.Reason.FAILED);
      buffer.submit("a:2").get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(buffer.pausedKeys()).isEmpty();
      assertThat(buffer.stats().pausedKeys()).isZero();
    }
    assertThat(backend.delivered).containsExactly("a:2");
  }

  @ParameterizedTest(name = "maxInFlight {0}")
  @ValueSource(ints = {1, 3})
  void inFailFastModeLaterItemsOfAPausedKeyFailWithKeyPausedAndOtherKeysFlow(int maxInFlight)
      throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    try (KeyedBuffer<String, String> buffer = builder(backend, errors, new ManualTimeSource())
        .maxInFlight(maxInFlight).pauseKeyOnFailure(PauseMode.FAIL_FAST).start()) {
      assertThat(reasonOf(buffer.submit("a:1!"))).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(buffer.pausedKeys()).containsExactly("a");
      assertThat(reasonOf(buffer.submit("a:2"))).isEqualTo(DeliveryException.Reason.KEY_PAUSED);
      buffer.submit("b:1").get(WAIT.toSeconds(), TimeUnit.SECONDS);
      BufferStats s = buffer.stats();
      assertThat(s.pausedKeys()).isEqualTo(1);
      assertThat(s.itemsFailedPaused()).isEqualTo(1);
      assertThat(s.failed()).isEqualTo(2);
    }
    assertThat(backend.delivered).containsExactly("b:1");
    assertThat(errors.items).containsExactly("a:1!", "a:2");
    assertThat(errors.paused).containsExactly("a:2");
  }

  @Test
  void aKeyPausesOnlyWhenItsBatchFailsAfterTheRetries() throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    AtomicInteger attempts = new AtomicInteger();
    // Fails the first attempt of every batch: a retry of 2 attempts makes each succeed.
    KeyedFlushFunc<String, String> flaky = (key, batch) -> {
      if (attempts.incrementAndGet() % 2 == 1) {
        throw new IOException("throttled");
      }
      backend.flush(key, batch);
    };
    ManualTimeSource time = new ManualTimeSource();
    RetryPolicy twice = RetryPolicy.builder().maxAttempts(2).backoff(Duration.ZERO, Duration.ZERO)
        .build();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            KeyedBufferTest::keyOf, (key, batch) -> FlushMiddleware.chain(
                (FlushFunc<String>) b -> flaky.flush(key, b), FlushMiddleware.retry(twice, time))
            .flush(batch))
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).onFlushError(errors::accept)
        .timeSource(time).pauseKeyOnFailure(PauseMode.FAIL_FAST).start()) {
      buffer.submit("a:1").get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(buffer.pausedKeys()).as("the retry succeeded: not paused").isEmpty();
      assertThat(reasonOf(buffer.submit("a:2!"))).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(buffer.pausedKeys()).as("both attempts failed: paused").containsExactly("a");
    }
  }

  @ParameterizedTest(name = "maxInFlight {0}")
  @ValueSource(ints = {1, 3})
  void inWaitModeLaterItemsWaitAndGoInOrderOnResume(int maxInFlight) throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    ManualTimeSource time = new ManualTimeSource();
    try (KeyedBuffer<String, String> buffer = builder(backend, errors, time)
        .maxInFlight(maxInFlight).pauseKeyOnFailure(PauseMode.WAIT).start()) {
      assertThat(reasonOf(buffer.submit("a:1!"))).isEqualTo(DeliveryException.Reason.FAILED);
      List<CompletableFuture<Void>> waiting = new ArrayList<>();
      for (int i = 2; i <= 4; i++) {
        waiting.add(buffer.submit("a:" + i));
      }
      buffer.submit("b:1").get(WAIT.toSeconds(), TimeUnit.SECONDS);
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0);
      time.awaitTimedWaiters(1, WAIT); // the loop has handled a:2..a:4 and parked
      assertThat(waiting).noneMatch(CompletableFuture::isDone);
      assertThat(buffer.stats().itemsWaiting()).isEqualTo(3);
      buffer.resume("a");
      CompletableFuture.allOf(waiting.toArray(new CompletableFuture<?>[0]))
          .get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(buffer.pausedKeys()).isEmpty();
      assertThat(buffer.stats().pausedKeys()).isZero();
    }
    assertThat(backend.delivered).containsExactly("b:1", "a:2", "a:3", "a:4");
  }

  @Test
  void whatWasAlreadyBatchedForAKeyFailsWhenItPausesInFailFastMode() throws Exception {
    Errors errors = new Errors();
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    Queue<String> delivered = new ConcurrentLinkedQueue<>();
    KeyedFlushFunc<String, String> blocking = (key, batch) -> {
      if (batch.get(0).endsWith("!")) {
        started.countDown();
        release.await();
        throw new IOException("failed after a while");
      }
      delivered.addAll(batch);
    };
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, blocking)
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).maxInFlight(2)
        .onFlushError(errors::accept).timeSource(new ManualTimeSource())
        .pauseKeyOnFailure(PauseMode.FAIL_FAST).start()) {
      CompletableFuture<Void> first = buffer.submit("a:1!");
      assertThat(started.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Void> second = buffer.submit("a:2"); // formed while a:1! runs: held
      buffer.submit("b:1").get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(second).isNotDone();
      release.countDown();
      assertThat(reasonOf(first)).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(reasonOf(second)).isEqualTo(DeliveryException.Reason.KEY_PAUSED);
    }
    assertThat(delivered).containsExactly("b:1");
    assertThat(errors.paused).containsExactly("a:2");
  }

  @Test
  void onFlushErrorMayResumeTheKeyItsBatchPaused() throws Exception {
    Backend backend = new Backend();
    List<KeyedBuffer<String, String>> self = new ArrayList<>();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, backend)
        .policy(FlushPolicy.count(1)).flushInterval(HOURS).timeSource(new ManualTimeSource())
        .onFlushError((e, batch) -> self.get(0).resume(keyOf(batch.get(0))))
        .pauseKeyOnFailure(PauseMode.FAIL_FAST).start()) {
      self.add(buffer);
      assertThat(reasonOf(buffer.submit("a:1!"))).isEqualTo(DeliveryException.Reason.FAILED);
      buffer.submit("a:2").get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(buffer.pausedKeys()).isEmpty();
    }
    assertThat(backend.delivered).containsExactly("a:2");
  }

  @Test
  void flushFailsWithKeyPausedWhileItemsOfAPausedKeyWaitAndTheyStay() throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    try (KeyedBuffer<String, String> buffer = builder(backend, errors, new ManualTimeSource())
        .pauseKeyOnFailure(PauseMode.WAIT).start()) {
      buffer.add("a:1!");
      CompletableFuture<Void> waiting = buffer.submit("a:2");
      buffer.add("b:1");
      CompletableFuture<Void> flushed = buffer.flush();
      assertThat(reasonOf(flushed)).isEqualTo(DeliveryException.Reason.KEY_PAUSED);
      assertThat(backend.delivered).containsExactly("b:1");
      assertThat(waiting).isNotDone();
      buffer.resume("a");
      buffer.flush().get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(waiting).isCompleted();
    }
    assertThat(backend.delivered).containsExactly("b:1", "a:2");
  }

  @Test
  void closeFailsTheWaitingItemsOfAPausedKeyWithKeyPaused() throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    KeyedBuffer<String, String> buffer = builder(backend, errors, new ManualTimeSource())
        .pauseKeyOnFailure(PauseMode.WAIT).start();
    buffer.add("a:1!");
    CompletableFuture<Void> waiting = buffer.submit("a:2");
    buffer.add("a:3");
    buffer.add("b:1");
    buffer.close();
    assertThat(reasonOf(waiting)).isEqualTo(DeliveryException.Reason.KEY_PAUSED);
    assertThat(errors.paused).containsExactly("a:2", "a:3");
    assertThat(backend.delivered).containsExactly("b:1");
    BufferStats s = buffer.stats();
    assertThat(s.accepted()).isEqualTo(4);
    assertThat(s.flushed() + s.failed() + s.rejected() + s.undelivered()).isEqualTo(4);
    assertThat(s.itemsFailedPaused()).isEqualTo(2);
  }

  @Test
  void closeWithATimeoutFailsTheWaitingItemsOfAPausedKeyToo() throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    KeyedBuffer<String, String> buffer = builder(backend, errors, new ManualTimeSource())
        .pauseKeyOnFailure(PauseMode.WAIT).start();
    buffer.add("a:1!");
    buffer.add("a:2");
    CloseResult<String> result = buffer.close(Duration.ofSeconds(5));
    assertThat(result.drained()).isTrue();
    assertThat(result.undelivered()).isEmpty();
    assertThat(errors.paused).containsExactly("a:2");
    assertThat(errors.items).containsExactly("a:1!", "a:2");
  }

  @Test
  void aPausedKeyStaysPausedAfterItsBatchStateIsIdleEvicted() throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    ManualTimeSource time = new ManualTimeSource();
    try (KeyedBuffer<String, String> buffer = builder(backend, errors, time)
        .keyIdleTimeout(Duration.ofSeconds(1)).pauseKeyOnFailure(PauseMode.FAIL_FAST).start()) {
      assertThat(reasonOf(buffer.submit("a:1!"))).isEqualTo(DeliveryException.Reason.FAILED);
      for (int i = 0; i < 5 && buffer.liveKeys() > 0; i++) {
        time.awaitTimedWaiters(1, WAIT);
        time.advance(Duration.ofSeconds(1));
        time.awaitWaiters(1, WAIT);
      }
      assertThat(buffer.liveKeys()).as("the key's batch state was swept").isZero();
      assertThat(buffer.pausedKeys()).containsExactly("a");
      assertThat(reasonOf(buffer.submit("a:2"))).isEqualTo(DeliveryException.Reason.KEY_PAUSED);
    }
  }

  @Test
  @SuppressWarnings("NullAway") // passing null is the point
  void resumeOfAKeyThatIsNotPausedDoesNothing() throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    try (KeyedBuffer<String, String> buffer = builder(backend, errors, new ManualTimeSource())
        .pauseKeyOnFailure(PauseMode.FAIL_FAST).start()) {
      buffer.resume("nobody");
      buffer.submit("a:1").get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(buffer.pausedKeys()).isEmpty();
      assertThat(buffer.stats().pausedKeys()).isZero();
      assertThatThrownBy(() -> buffer.resume(null)).isInstanceOf(NullPointerException.class);
      assertThatThrownBy(() -> KeyedBuffer.builder(KeyedBufferTest::keyOf, backend)
          .pauseKeyOnFailure(null)).isInstanceOf(NullPointerException.class)
          .hasMessageContaining("mode");
    }
  }

  @Test
  void aKeyedResultBufferPausesAKeyWhoseItemFailedAndResumesIt() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    try (ResultBuffer<String, Integer> buffer = ResultBuffer.<String, Integer>builder((batch, r) -> {
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i).endsWith("!")) {
          r.fail(i, new IOException("refused " + batch.get(i)));
        } else {
          r.succeed(i, batch.get(i).length());
        }
      }
    }).keyed(KeyedBufferTest::keyOf, b -> b.policy(FlushPolicy.count(1)).flushInterval(HOURS)
        .timeSource(time).pauseKeyOnFailure(PauseMode.WAIT)).start()) {
      assertThat(reasonOf(buffer.submit("a:1!"))).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(buffer.pausedKeys()).containsExactly("a");
      CompletableFuture<Integer> waiting = buffer.submit("a:22");
      assertThat(buffer.submit("b:1").get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo(3);
      assertThat(waiting).isNotDone();
      buffer.resume("a");
      assertThat(waiting.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo(4);
    }
    try (ResultBuffer<String, Integer> plain = ResultBuffer.<String, Integer>builder(
        (batch, r) -> { }).start()) {
      assertThatThrownBy(plain::pausedKeys).isInstanceOf(IllegalStateException.class);
    }
  }

  @Test
  void theAccountingIdentityHoldsWithPausingAndARateLimitOn() throws Exception {
    Backend backend = new Backend();
    Errors errors = new Errors();
    ManualTimeSource time = new ManualTimeSource();
    Map<String, CompletableFuture<Void>> futures = new java.util.HashMap<>();
    KeyedBuffer<String, String> buffer = builder(backend, errors, time).policy(FlushPolicy.count(2))
        .keyRateLimit(4).maxInFlight(2).pauseKeyOnFailure(PauseMode.WAIT).start();
    for (int i = 0; i < 60; i++) {
      String item = "k" + (i % 3) + ":" + i + (i % 17 == 5 ? "!" : "");
      futures.put(item, buffer.submit(item));
      if (i % 20 == 19) {
        for (String key : Set.copyOf(buffer.pausedKeys())) {
          buffer.resume(key);
        }
      }
    }
    CompletableFuture<Void> closing = Async.run(buffer::close);
    KeyRateLimitTest.driveUntil(time, Duration.ofMillis(250), closing::isDone);
    closing.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    BufferStats s = buffer.stats();
    assertThat(s.accepted()).isEqualTo(60);
    assertThat(s.flushed()).isEqualTo(backend.delivered.size());
    assertThat(s.failed()).isEqualTo(errors.items.size());
    assertThat(s.flushed() + s.failed() + s.rejected() + s.undelivered()).isEqualTo(60);
    assertThat(s.itemsFailedPaused()).isEqualTo(errors.paused.size());
    int done = 0;
    for (Map.Entry<String, CompletableFuture<Void>> e : futures.entrySet()) {
      assertThat(e.getValue()).isDone();
      boolean ok = !e.getValue().isCompletedExceptionally();
      assertThat(ok).as(e.getKey()).isEqualTo(backend.delivered.contains(e.getKey()));
      done++;
    }
    assertThat(done).isEqualTo(60);
  }
}
