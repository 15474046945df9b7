package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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

  private static <R> @Nullable R value(CompletableFuture<R> f) throws Exception {
    return f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
  }

  private static DeliveryException failure(CompletableFuture<?> f) throws Exception {
    try {
      f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(DeliveryException.class);
      return (DeliveryException) Objects.requireNonNull(e.getCause());
    }
    throw new AssertionError("the future completed normally: " + f.join());
  }

  private static void assertIdentity(BufferStats s) {
    assertThat(s.accepted()).as("accepted == flushed + failed + rejected + undelivered")
        .isEqualTo(s.flushed() + s.failed() + s.rejected() + s.undelivered());
  }

  /** Waits for a latch, ignoring interrupts: a call deaf to the timeout's interrupt. */
  private static void awaitDeaf(CountDownLatch latch) {
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
        awaitDeaf(freshGo);
        r.succeedAll(List.of("fresh"));
      } else { // the first flush's call, long after that flush timed out
        r.succeedAll(List.of("stale"));
      }
    }).config(c -> c.capacity(1).flushInterval(HOURS))
        .options(Options.builder().timeSource(clock).build())
        .middleware(FlushMiddleware.timeout(Duration.ofSeconds(1), clock), next -> batch -> {
          if (gateCalls.incrementAndGet() == 1) { // the first flush is stuck before it answers
            try {
              awaitDeaf(staleGo);
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
    assertThat(value(second)).as("the second flush's item gets its own call's answer")
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
    assertThat(value(f)).isEqualTo("id-x");
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
    assertThat(Objects.requireNonNull(value(closing)).undelivered()).containsExactly("a", "b");
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertThat(failure(b).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    never.complete(null); // the write ends after all; its answers are refused
    assertThat(Async.outcome(() -> kept.get(0).succeed(0, "late")).get(WAIT.toMillis(),
        TimeUnit.MILLISECONDS)).isInstanceOf(IllegalStateException.class);
    assertThat(failure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
    assertIdentity(buffer.stats());
  }
}
