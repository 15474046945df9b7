package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Attacks the seams between the features of issue 12 (delivery deadlines, adaptive flow control,
 * per-key rate limits, pausing keys, retry order) together with timeouts, abandoned calls and
 * callbacks that misbehave: a key whose queued flush expires behind an abandoned call still sends
 * later items; a throttling predicate that throws an error neither loses a batch nor stops the
 * buffer; and the accounting identity and futures hold in each case.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FlowControlAdversarialTest {

  static String keyOf(String item) {
    return item.substring(0, item.indexOf(':'));
  }

  static DeliveryException.Reason reasonOf(CompletableFuture<?> f) throws Exception {
    try {
      f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
      throw new AssertionError("the future succeeded");
    } catch (ExecutionException e) {
      return ((DeliveryException) java.util.Objects.requireNonNull(e.getCause())).reason();
    }
  }

  /**
   * Closes a buffer on the manual clock: close must return without the clock moving; if it does
   * not, the clock is moved so that close(timeout) gives up (the test does not hang), and the
   * test fails.
   */
  static <K, T> CloseResult<T> close(KeyedBuffer<K, T> buffer, ManualTimeSource time)
      throws Exception {
    CompletableFuture<CloseResult<T>> closing = Async.call(() -> buffer.close(WAIT));
    try {
      return closing.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      await().atMost(WAIT).until(() -> {
        time.advance(WAIT);
        return closing.isDone();
      });
      throw new AssertionError("close did not return while the clock stood still: "
          + closing.get(), e);
    }
  }

  /** Waits for a latch, ignoring interrupts: a call that a timeout cannot stop. */
  static void awaitStubbornly(CountDownLatch latch) {
    boolean interrupted = false;
    while (latch.getCount() > 0) {
      try {
        latch.await();
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * With per-key flow control on and maxInFlight > 1, a key's flush queued behind a call that a
   * timeout abandoned may expire there before it starts; the key must then be free again, so its
   * later items are sent (and close returns) instead of being held forever.
   */
  @Test
  void aKeysLaterItemsStillGoAfterItsQueuedFlushExpiredBehindAnAbandonedCall() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Ledger<String> ledger = new Ledger<>();
    FlushFunc<String> stubborn = batch -> {
      if (batch.contains("a:1")) {
        started.countDown();
        awaitStubbornly(release);
        return; // too late: the buffer counted it as failed (the ledger must not count it twice)
      }
      ledger.flushed.flush(batch);
    };
    FlushFunc<String> timed = FlushMiddleware.chain(stubborn,
        FlushMiddleware.<String>timeout(Duration.ofSeconds(1), time));
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            FlowControlAdversarialTest::keyOf, (key, batch) -> timed.flush(batch))
        .policy(FlushPolicy.count(1)).flushInterval(Duration.ofSeconds(1))
        .deliveryTimeout(Duration.ofSeconds(10)).maxInFlight(2).keyRateLimit(1000)
        .onFlushError(ledger::onFlushError).timeSource(time).start();
    try {
      ledger.accepted.addAndGet(3);
      CompletableFuture<Void> first = buffer.submit("a:1");
      assertThat(started.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      await("the timeout gives up on the stubborn call").atMost(WAIT).until(() -> {
        time.advance(Duration.ofMillis(100));
        return first.isDone();
      });
      assertThat(reasonOf(first)).isEqualTo(DeliveryException.Reason.FAILED);
      CompletableFuture<Void> second = buffer.submit("a:2"); // queued behind the abandoned call
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0);
      time.advance(Duration.ofSeconds(20)); // a:2 passes its deadline while it waits
      release.countDown(); // the abandoned call returns: the key is free, a:2 expires unsent
      assertThat(reasonOf(second)).isEqualTo(DeliveryException.Reason.EXPIRED);
      buffer.submit("a:3").get(WAIT.toSeconds(), TimeUnit.SECONDS);
    } finally {
      release.countDown();
      CloseResult<String> closed = close(buffer, time);
      assertThat(closed.undelivered()).as("nothing left behind at close").isEmpty();
    }
    assertThat(ledger.flushed.items()).contains("a:3").doesNotContain("a:2");
    ledger.assertBalanced();
  }

  /**
   * A throttling predicate is user code: one that throws an error (an assertion in it, say) must
   * count as "not throttled", as one that throws an exception does, on the loop (a settled
   * flush) and on a flush thread (a retry's attempt): the failed batch still reaches onFlushError
   * with its futures failed, and the buffer goes on flushing.
   */
  @ParameterizedTest(name = "retry {0}")
  @ValueSource(booleans = {false, true})
  void aThrottlingPredicateThatThrowsAnErrorCountsAsNotThrottled(boolean retry) throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Ledger<Integer> ledger = new Ledger<>();
    FlushFunc<Integer> backend = batch -> {
      if (batch.contains(1)) {
        throw new IOException("refused " + batch);
      }
      ledger.flushed.flush(batch);
    };
    RetryPolicy once = RetryPolicy.builder().maxAttempts(1).build();
    FlushFunc<Integer> flush = retry
        ? FlushMiddleware.chain(backend, FlushMiddleware.<Integer>retry(once, time)) : backend;
    FlowControl broken = FlowControl.aimd().throttledWhen(e -> {
      throw new AssertionError("predicate bug");
    }).build();
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1)
        .onFlushError(ledger::onFlushError).build(),
        Options.builder().timeSource(time).flowControl(broken).build());
    ledger.accepted.addAndGet(2);
    CompletableFuture<Void> first = buffer.submit(1);
    assertThat(reasonOf(first)).isEqualTo(DeliveryException.Reason.FAILED);
    buffer.submit(2).get(WAIT.toSeconds(), TimeUnit.SECONDS);
    CloseResult<Integer> closed = buffer.close(WAIT);
    assertThat(closed.drained()).isTrue();
    assertThat(ledger.failed).containsExactly(1);
    assertThat(ledger.flushed.items()).containsExactly(2);
    ledger.assertBalanced();
  }

  /**
   * A throttling predicate that throws a VirtualMachineError stops the buffer (as any callback's
   * does), but the batch it was judging is still settled: its future fails, onFlushError has it.
   */
  @Test
  void aThrottlingPredicateThatThrowsAVirtualMachineErrorStillLetsTheBatchSettle()
      throws Exception {
    Ledger<Integer> ledger = new Ledger<>();
    FlowControl fatal = FlowControl.aimd().throttledWhen(e -> {
      throw new OutOfMemoryError("simulated");
    }).build();
    Buffer<Integer> buffer = Buffer.start(Config.<Integer>builder(batch -> {
      throw new IOException("refused " + batch);
    }).capacity(1).onFlushError(ledger::onFlushError).build(),
        Options.builder().timeSource(new ManualTimeSource()).flowControl(fatal).build());
    ledger.accepted.incrementAndGet();
    CompletableFuture<Void> first = buffer.submit(1);
    assertThat(reasonOf(first)).isEqualTo(DeliveryException.Reason.FAILED);
    buffer.close(WAIT);
    assertThat(ledger.failed).containsExactly(1);
    ledger.assertBalanced();
  }
}
