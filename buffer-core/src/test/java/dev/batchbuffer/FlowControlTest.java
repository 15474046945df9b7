package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.core.exception.SdkServiceException;
import software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException;

/**
 * {@link FlowControl} on a buffer: its settings are validated with messages naming the field and
 * value, and it cannot be combined with a fixed {@code maxInFlight}; the default throttling
 * predicate recognises the AWS and Google errors by class name, anywhere in the cause chain; with it
 * every flush runs off the loop, the flushes in flight never exceed the limit, the limit grows per
 * window of successes and is cut by a throttled flush, by a throttled attempt a retry hid, and by a
 * result buffer's item failed with a throttling error, also on the native asynchronous path; the
 * optional rate paces batches on the buffer's clock; {@code close(timeout)} gives up batches
 * waiting for the rate as undelivered; keyed buffers keep per-key order and never overlap a key.
 * Every test checks the accounting identity where items end.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FlowControlTest {
  private static final Duration WAIT = Duration.ofSeconds(10);

  /** Named as AWS SDK v2 exceptions of several services: the default matches simple names. */
  static final class ThrottlingException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ThrottlingException() {
      super("Rate exceeded");
    }
  }

  static final class TooManyRequestsException extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  static final class RequestLimitExceededException extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  static final class LimitExceededException extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  static final class KmsThrottlingException extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  /** A service's own subclass of a throttling error still counts. */
  static final class ShardThrottled extends ProvisionedThroughputExceededException {
    private static final long serialVersionUID = 1L;
  }

  private final ManualTimeSource time = new ManualTimeSource();

  private Options<Object> options(FlowControl flow) {
    return Options.builder().timeSource(time).flowControl(flow).build();
  }

  /**
   * Moves the clock on by {@code step} each time a thread of the buffer (or a closer) waits on it,
   * until {@code done}: the buffer's timed waits run out in order, with no real-time wait.
   */
  private void advanceUntil(BooleanSupplier done, Duration step) {
    advanceUntil(done, () -> true, step);
  }

  /** As {@link #advanceUntil(BooleanSupplier, Duration)}, moving the clock only while ready. */
  private void advanceUntil(BooleanSupplier done, BooleanSupplier ready, Duration step) {
    while (!done.getAsBoolean()) {
      Awaitility.await().atMost(WAIT).pollInterval(Duration.ofMillis(1))
          .until(() -> done.getAsBoolean() || (time.timedWaiters() > 0 && ready.getAsBoolean()));
      if (!done.getAsBoolean()) {
        time.advance(step);
      }
    }
  }

  // ---- settings -------------------------------------------------------------------------------

  @Test
  void everySettingOutOfRangeIsRejectedNamingTheFieldAndTheValue() {
    assertThatThrownBy(() -> FlowControl.aimd().minLimit(0).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("minLimit")
        .hasMessageContaining("was 0");
    assertThatThrownBy(() -> FlowControl.aimd().minLimit(4).initialLimit(4).maxLimit(3).build())
        .hasMessageContaining("maxLimit").hasMessageContaining("was 3");
    assertThatThrownBy(() -> FlowControl.aimd().initialLimit(40).build())
        .hasMessageContaining("initialLimit").hasMessageContaining("was 40");
    assertThatThrownBy(() -> FlowControl.aimd().increase(0).build())
        .hasMessageContaining("increase").hasMessageContaining("was 0");
    assertThatThrownBy(() -> FlowControl.aimd().decreaseFactor(1.0).build())
        .hasMessageContaining("decreaseFactor").hasMessageContaining("was 1.0");
    assertThatThrownBy(() -> FlowControl.aimd().decreaseFactor(Double.NaN).build())
        .hasMessageContaining("decreaseFactor").hasMessageContaining("was NaN");
    assertThatThrownBy(() -> FlowControl.aimd().itemsPerSecond(10, 0, 20, 1).build())
        .hasMessageContaining("itemsPerSecond min").hasMessageContaining("was 0.0");
    assertThatThrownBy(() -> FlowControl.aimd().itemsPerSecond(10, 8, 5, 1).build())
        .hasMessageContaining("itemsPerSecond max").hasMessageContaining("was 5.0");
    assertThatThrownBy(() -> FlowControl.aimd().itemsPerSecond(10, 1, Double.POSITIVE_INFINITY, 1)
        .build()).hasMessageContaining("itemsPerSecond max").hasMessageContaining("Infinity");
    assertThatThrownBy(() -> FlowControl.aimd().itemsPerSecond(30, 1, 20, 1).build())
        .hasMessageContaining("itemsPerSecond initial").hasMessageContaining("was 30.0");
    assertThatThrownBy(() -> FlowControl.aimd().itemsPerSecond(10, 1, 20, 0).build())
        .hasMessageContaining("rateIncrease").hasMessageContaining("was 0.0");
  }

  @Test
  void defaultsAreDocumentedValues() {
    FlowControl f = FlowControl.aimd().build();
    assertThat(f.initialLimit()).isEqualTo(1);
    assertThat(f.minLimit()).isEqualTo(1);
    assertThat(f.maxLimit()).isEqualTo(32);
    assertThat(f.increase()).isEqualTo(1);
    assertThat(f.decreaseFactor()).isEqualTo(0.5);
    assertThat(f.hasRate()).isFalse();
    assertThat(f.initialRate()).isZero();
  }

  @Test
  void flowControlReplacesMaxInFlightSoSettingBothIsAnErrorInEitherOrder() {
    FlowControl flow = FlowControl.aimd().build();
    assertThatThrownBy(() -> Options.builder().maxInFlight(4).flowControl(flow))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxInFlight")
        .hasMessageContaining("was 4").hasMessageContaining("maxLimit (32)");
    assertThatThrownBy(() -> Options.builder().flowControl(flow).maxInFlight(2))
        .hasMessageContaining("maxInFlight").hasMessageContaining("was 2");
    assertThatThrownBy(() -> KeyedBuffer.<String, String>builder(s -> s, (k, b) -> { })
        .maxInFlight(3).flowControl(flow)).hasMessageContaining("was 3");
    assertThatThrownBy(() -> KeyedBuffer.<String, String>builder(s -> s, (k, b) -> { })
        .flowControl(flow).maxInFlight(3)).hasMessageContaining("was 3");
    assertThat(Options.builder().maxInFlight(1).flowControl(flow).build().flowControl())
        .isSameAs(flow);
  }

  // ---- the throttling signal ------------------------------------------------------------------

  @Test
  void defaultsRecogniseTheAwsAndGoogleThrottlingErrorsByClassName() {
    FlowControl f = FlowControl.aimd().build();
    assertThat(f.isThrottled(new ProvisionedThroughputExceededException())).isTrue();
    assertThat(f.isThrottled(new ShardThrottled())).as("a subclass").isTrue();
    assertThat(f.isThrottled(new ThrottlingException())).isTrue();
    assertThat(f.isThrottled(new TooManyRequestsException())).isTrue();
    assertThat(f.isThrottled(new RequestLimitExceededException())).isTrue();
    assertThat(f.isThrottled(new LimitExceededException())).isTrue();
    assertThat(f.isThrottled(new KmsThrottlingException())).isTrue();
    assertThat(f.isThrottled(new SdkServiceException(429, false))).as("HTTP 429").isTrue();
    assertThat(f.isThrottled(new SdkServiceException(503, false))).as("HTTP 503").isTrue();
    assertThat(f.isThrottled(new SdkServiceException(400, true)))
        .as("isThrottlingException()").isTrue();
    assertThat(f.isThrottled(new com.google.api.gax.rpc.ResourceExhaustedException())).isTrue();
    assertThat(f.isThrottled(new StatusRuntimeException(new Status(
        Status.Code.RESOURCE_EXHAUSTED)))).isTrue();
  }

  @Test
  void defaultsDoNotCountOtherFailures() {
    FlowControl f = FlowControl.aimd().build();
    assertThat(f.isThrottled(new IOException("connection reset"))).isFalse();
    assertThat(f.isThrottled(new IllegalStateException("bad record"))).isFalse();
    assertThat(f.isThrottled(new SdkServiceException(400, false))).isFalse();
    assertThat(f.isThrottled(new SdkServiceException(500, false))).isFalse();
    assertThat(f.isThrottled(new StatusRuntimeException(new Status(Status.Code.UNAVAILABLE))))
        .isFalse();
    assertThat(f.isThrottled(null)).isFalse();
  }

  @Test
  void throttlingIsFoundAnywhereInTheCauseChainIncludingAPartialFailure() {
    FlowControl f = FlowControl.aimd().build();
    assertThat(f.isThrottled(new ExecutionException(new IOException("wrapped",
        new ThrottlingException())))).isTrue();
    assertThat(f.isThrottled(new PartialFlushException(List.of(0, 2),
        new ProvisionedThroughputExceededException()))).isTrue();
    assertThat(f.isThrottled(new PartialFlushException(List.of(0), new IOException("bad"))))
        .isFalse();
    IOException cycle = new IOException("a");
    IOException other = new IOException("b", cycle);
    cycle.initCause(other);
    assertThat(f.isThrottled(cycle)).as("a cycle of causes ends").isFalse();
  }

  @Test
  void aPredicateOfYourOwnReplacesTheDefaultsAndOneThatThrowsCountsAsNotThrottled() {
    FlowControl http = FlowControl.aimd()
        .throttledWhen(e -> e instanceof IOException && "HTTP 429".equals(e.getMessage()))
        .build();
    assertThat(http.isThrottled(new IOException("HTTP 429"))).isTrue();
    assertThat(http.isThrottled(new ThrottlingException())).as("defaults replaced").isFalse();
    FlowControl both = FlowControl.aimd().throttledWhen(e -> FlowControl.isDefaultThrottling(e)
        || "HTTP 429".equals(e.getMessage())).build();
    assertThat(both.isThrottled(new ThrottlingException())).isTrue();
    assertThat(both.isThrottled(new IOException("HTTP 429"))).isTrue();
    FlowControl broken = FlowControl.aimd().throttledWhen(e -> {
      throw new IllegalStateException("predicate bug");
    }).build();
    assertThat(broken.isThrottled(new ThrottlingException())).isFalse();
  }

  // ---- on a buffer ----------------------------------------------------------------------------

  @Test
  void everyFlushRunsOffTheLoopEvenAtLimitOne() throws Exception {
    Queue<String> threads = new ConcurrentLinkedQueue<>();
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    try (Buffer<Integer> buffer = Buffer.start(Config.<Integer>builder(batch -> {
      threads.add(Thread.currentThread().getName());
      flush.flush(batch);
    }).capacity(1).build(), Options.builder().timeSource(time).name("offloop")
        .flowControl(FlowControl.aimd().maxLimit(1).build()).build())) {
      buffer.add(1);
      buffer.add(2);
      buffer.flush().get(10, TimeUnit.SECONDS);
      assertThat(buffer.stats().concurrencyLimit()).isEqualTo(1);
    }
    assertThat(threads).hasSize(2).allMatch(n -> n.equals("offloop-flush"), "a flush thread");
  }

  @Test
  void withoutFlowControlTheStatsShowZeros() throws Exception {
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(new RecordingFlush<Integer>())
        .capacity(1).build())) {
      buffer.add(1);
      buffer.flush().get(10, TimeUnit.SECONDS);
      BufferStats s = buffer.stats();
      assertThat(s.concurrencyLimit()).isZero();
      assertThat(s.rateLimit()).isZero();
      assertThat(s.throttled()).isZero();
    }
  }

  @Test
  void theLimitGrowsByOneAfterEachWindowOfAsManySuccessesAsTheLimit() throws Exception {
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).build(),
        options(FlowControl.aimd().build()))) {
      List<Integer> seen = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        buffer.add(i);
        buffer.flush().get(10, TimeUnit.SECONDS);
        seen.add(buffer.stats().concurrencyLimit());
      }
      // windows: 1 success at limit 1, 2 at limit 2, 3 at limit 3
      assertThat(seen).containsExactly(2, 2, 3, 3, 3, 4);
    }
    assertThat(flush.items()).containsExactly(0, 1, 2, 3, 4, 5);
  }

  @Test
  void flushesInFlightNeverExceedTheLimit() throws Exception {
    Semaphore release = new Semaphore(0);
    AtomicInteger now = new AtomicInteger();
    AtomicInteger most = new AtomicInteger();
    RecordingFlush<Integer> delivered = new RecordingFlush<>();
    FlushFunc<Integer> held = batch -> {
      most.accumulateAndGet(now.incrementAndGet(), Math::max);
      try {
        release.acquire();
      } finally {
        now.decrementAndGet();
      }
      delivered.flush(batch);
    };
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(held).capacity(1).chanSize(100)
        .build(), options(FlowControl.aimd().initialLimit(3).maxLimit(3).build()))) {
      try {
        for (int i = 0; i < 20; i++) {
          buffer.add(i);
        }
        for (int i = 0; i < 20; i++) {
          Awaitility.await().atMost(WAIT).until(() -> now.get() >= 1);
          assertThat(now.get()).isLessThanOrEqualTo(3);
          release.release();
        }
        delivered.awaitItems(20, WAIT);
      } finally {
        release.release(1_000); // a failed check must not leave close() waiting for held calls
      }
    }
    assertThat(most.get()).as("the limit is used and never passed").isEqualTo(3);
  }

  @Test
  void aThrottledFlushHalvesTheLimitAndItsItemsGoToOnFlushError() throws Exception {
    Ledger<Integer> ledger = new Ledger<>();
    AtomicInteger calls = new AtomicInteger();
    FlushFunc<Integer> backend = batch -> {
      if (calls.incrementAndGet() == 1) {
        throw new ProvisionedThroughputExceededException();
      }
      ledger.flushed.flush(batch);
    };
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(backend).capacity(2)
        .onFlushError(ledger::onFlushError).build(),
        options(FlowControl.aimd().initialLimit(8).build()))) {
      for (int i = 0; i < 2; i++) {
        buffer.add(i);
        ledger.accepted.incrementAndGet();
      }
      buffer.flush().handle((v, e) -> null).get(10, TimeUnit.SECONDS);
      BufferStats s = buffer.stats();
      assertThat(s.concurrencyLimit()).isEqualTo(4);
      assertThat(s.throttled()).isEqualTo(1);
      assertThat(s.failed()).isEqualTo(2);
    }
    assertThat(ledger.failed).containsExactly(0, 1);
    ledger.assertBalanced();
  }

  @Test
  void aFailureThatIsNotThrottlingNeitherGrowsNorCutsTheLimit() throws Exception {
    Ledger<Integer> ledger = new Ledger<>();
    try (Buffer<Integer> buffer = Buffer.start(Config.<Integer>builder(batch -> {
      throw new IOException("bad request");
    }).capacity(1).onFlushError(ledger::onFlushError).build(),
        options(FlowControl.aimd().initialLimit(2).build()))) {
      for (int i = 0; i < 5; i++) {
        buffer.add(i);
        ledger.accepted.incrementAndGet();
      }
      buffer.flush().handle((v, e) -> null).get(10, TimeUnit.SECONDS);
      assertThat(buffer.stats().concurrencyLimit()).isEqualTo(2);
      assertThat(buffer.stats().throttled()).isZero();
    }
    ledger.assertBalanced();
  }

  @Test
  void aThrottleThatARetryHidesStillCutsTheLimit() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    RecordingFlush<Integer> delivered = new RecordingFlush<>();
    FlushFunc<Integer> backend = batch -> {
      if (calls.incrementAndGet() == 1) {
        throw new ThrottlingException();
      }
      delivered.flush(batch);
    };
    FlushFunc<Integer> retried = FlushMiddleware.chain(backend, FlushMiddleware.retry(
        RetryPolicy.builder().maxAttempts(3).backoff(Duration.ZERO, Duration.ZERO).build(), time));
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(retried).capacity(3).build(),
        options(FlowControl.aimd().initialLimit(8).build()))) {
      for (int i = 0; i < 3; i++) {
        buffer.add(i);
      }
      buffer.flush().get(10, TimeUnit.SECONDS);
      BufferStats s = buffer.stats();
      assertThat(s.flushed()).as("the retry delivered them").isEqualTo(3);
      assertThat(s.concurrencyLimit()).as("the hidden throttle cut").isEqualTo(4);
      assertThat(s.throttled()).isEqualTo(1);
    }
    assertThat(delivered.items()).containsExactly(0, 1, 2);
  }

  @Test
  void aResultBufferItemFailedWithAThrottlingErrorCutsTheLimit() throws Exception {
    ResultBuffer<Integer, String> buffer = ResultBuffer.<Integer, String>builder((batch, r) -> {
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i) == 1) {
          r.fail(i, new ProvisionedThroughputExceededException());
        } else {
          r.succeed(i, "ok " + batch.get(i));
        }
      }
    }).config(c -> c.capacity(3)).options(options(FlowControl.aimd().initialLimit(6).build()))
        .start();
    try {
      List<CompletableFuture<String>> answers = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        answers.add(buffer.submit(i));
      }
      assertThat(answers.get(0).get(10, TimeUnit.SECONDS)).isEqualTo("ok 0");
      assertThat(answers.get(1)).failsWithin(WAIT);
      buffer.flush().handle((v, e) -> null).get(10, TimeUnit.SECONDS);
      assertThat(buffer.stats().concurrencyLimit()).isEqualTo(3);
      assertThat(buffer.stats().throttled()).isEqualTo(1);
    } finally {
      buffer.close();
    }
  }

  @Test
  void theNativeAsynchronousPathIsAdaptedToo() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    ResultBuffer<Integer, String> buffer = ResultBuffer.<Integer, String>builderAsync(
        (batch, r) -> {
          if (calls.incrementAndGet() == 1) {
            return CompletableFuture.failedFuture(new com.google.api.gax.rpc
                .ResourceExhaustedException());
          }
          r.succeedAll(batch.stream().map(i -> "ok " + i).toList());
          return CompletableFuture.completedFuture(null);
        }).config(c -> c.capacity(1))
        .options(options(FlowControl.aimd().initialLimit(4).build())).start();
    try {
      CompletableFuture<String> first = buffer.submit(0);
      assertThat(first).failsWithin(WAIT);
      buffer.flush().handle((v, e) -> null).get(10, TimeUnit.SECONDS);
      assertThat(buffer.stats().concurrencyLimit()).isEqualTo(2);
      CompletableFuture<String> second = buffer.submit(1);
      assertThat(second.get(10, TimeUnit.SECONDS)).isEqualTo("ok 1");
      CompletableFuture<String> third = buffer.submit(2);
      assertThat(third.get(10, TimeUnit.SECONDS)).isEqualTo("ok 2");
      buffer.flush().get(10, TimeUnit.SECONDS);
      assertThat(buffer.stats().concurrencyLimit()).as("a window of two successes").isEqualTo(3);
    } finally {
      buffer.close();
    }
  }

  @Test
  void theRatePacesBatchesOnTheBuffersClock() throws Exception {
    Queue<Long> at = new ConcurrentLinkedQueue<>();
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    long start = time.nanoTime();
    try (Buffer<Integer> buffer = Buffer.start(Config.<Integer>builder(batch -> {
      at.add(time.nanoTime() - start);
      flush.flush(batch);
    }).capacity(10).chanSize(100).flushInterval(Duration.ofHours(1)).build(),
        options(FlowControl.aimd().itemsPerSecond(10, 1, 10, 1).build()))) {
      for (int i = 0; i < 30; i++) {
        buffer.add(i);
      }
      // The clock moves only once every flush started has read it, so each reads its start time.
      advanceUntil(() -> flush.batches().size() >= 3,
          () -> buffer.stats().flushes() == at.size(), Duration.ofMillis(100));
      assertThat(buffer.stats().rateLimit()).isEqualTo(10.0);
    }
    List<Long> times = new ArrayList<>(at);
    assertThat(times).hasSize(3);
    assertThat(times.get(0)).as("the first batch goes at once").isZero();
    for (int i = 1; i < 3; i++) {
      long gap = times.get(i) - times.get(i - 1);
      assertThat(gap).as("10 items at 10/s: a second apart")
          .isBetween(Duration.ofSeconds(1).toNanos(), Duration.ofMillis(1_100).toNanos());
    }
    assertThat(flush.items()).hasSize(30);
  }

  @Test
  void closeWithATimeoutGivesUpTheBatchesWaitingForTheRateAsUndelivered() throws Exception {
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(10).chanSize(100)
        .flushInterval(Duration.ofHours(1)).build(),
        options(FlowControl.aimd().itemsPerSecond(10, 1, 10, 1).build()));
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      futures.add(buffer.submit(i));
    }
    flush.awaitBatches(1, WAIT);
    CompletableFuture<CloseResult<Integer>> closing = Async.call(
        () -> buffer.close(Duration.ofMillis(500)));
    advanceUntil(closing::isDone, Duration.ofMillis(100));
    CloseResult<Integer> result = closing.get();
    assertThat(flush.items()).containsExactlyElementsOf(
        java.util.stream.IntStream.range(0, 10).boxed().toList());
    assertThat(result.undelivered()).containsExactlyElementsOf(
        java.util.stream.IntStream.range(10, 30).boxed().toList());
    for (int i = 10; i < 30; i++) {
      assertThat(futures.get(i)).failsWithin(WAIT).withThrowableThat()
          .havingCause().isInstanceOf(DeliveryException.class)
          .matches(e -> ((DeliveryException) e).reason() == DeliveryException.Reason.UNDELIVERED);
    }
    BufferStats s = buffer.stats();
    assertThat(s.accepted()).isEqualTo(s.flushed() + s.undelivered()).isEqualTo(30);
  }

  @Test
  void closeDeliversEverythingAtTheRate() throws Exception {
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(10).chanSize(100)
        .flushInterval(Duration.ofHours(1)).build(),
        options(FlowControl.aimd().itemsPerSecond(10, 1, 10, 1).build()));
    for (int i = 0; i < 25; i++) {
      buffer.add(i);
    }
    CompletableFuture<Void> closing = Async.run(buffer::close);
    advanceUntil(closing::isDone, Duration.ofMillis(100));
    closing.get();
    assertThat(flush.items()).hasSize(25);
    assertThat(flush.batches()).extracting(List::size).containsExactly(10, 10, 5);
    assertThat(time.nanoTime()).as("the last batch waited for the rate")
        .isGreaterThanOrEqualTo(Duration.ofSeconds(2).toNanos());
  }

  @Test
  void keyedBufferKeepsPerKeyOrderAndNeverOverlapsAKey() throws Exception {
    long seed = Long.getLong("batchbuffer.flowSeed", System.nanoTime());
    SplittableRandom random = new SplittableRandom(seed);
    Ledger<Integer> ledger = new Ledger<>();
    Map<Integer, AtomicInteger> running = new ConcurrentHashMap<>();
    Map<Integer, Integer> last = new ConcurrentHashMap<>();
    Queue<String> violations = new ConcurrentLinkedQueue<>();
    KeyedFlushFunc<Integer, Integer> backend = (key, batch) -> {
      AtomicInteger now = running.computeIfAbsent(key, k -> new AtomicInteger());
      if (now.incrementAndGet() > 1) {
        violations.add("two flushes of key " + key + " at once");
      }
      try {
        for (int item : batch) {
          Integer before = last.put(key, item);
          if (before != null && before >= item) {
            violations.add("key " + key + ": " + item + " after " + before);
          }
        }
        boolean throttle;
        synchronized (random) {
          throttle = random.nextInt(5) == 0;
        }
        if (throttle) {
          throw new ThrottlingException();
        }
        ledger.flushed.flush(batch);
      } finally {
        now.decrementAndGet();
      }
    };
    KeyedBuffer<Integer, Integer> buffer = KeyedBuffer.<Integer, Integer>builder(i -> i % 4,
            backend)
        .policy(key -> FlushPolicy.count(3)).chanSize(50).timeSource(time)
        .onFlushError(ledger::onFlushError)
        .flowControl(FlowControl.aimd().initialLimit(2).maxLimit(8).build()).start();
    for (int i = 0; i < 600; i++) {
      buffer.add(i);
      ledger.accepted.incrementAndGet();
    }
    buffer.close(); // flushes the last partial batches
    assertThat(violations).as("seed %d (replay with -Dbatchbuffer.flowSeed=%d)", seed, seed)
        .isEmpty();
    ledger.assertBalanced();
    assertThat(buffer.stats().throttled()).as("seed %d", seed).isPositive();
  }
}
