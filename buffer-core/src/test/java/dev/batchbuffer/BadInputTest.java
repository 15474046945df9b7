package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static dev.batchbuffer.DispatcherContractTest.deliveryFailure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What bad input gets, one test per row of the README's "What bad input gets" table that no other
 * test class backs: every invalid setting throws the documented exception with a message that names
 * the field and the value; every misbehaving user function (key function, weigher, flush, periodic
 * task) ends in the documented outcome, with the accounting identity intact; a flush the buffer gave
 * up on cannot change an outcome already reported when it returns late. The last test checks that
 * every {@code Class#method} the table names is a test that exists, so the table cannot rot.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
@ExtendWith(RecordingLoggerFinder.Reset.class)
class BadInputTest {

  private static final FlushFunc<String> NOOP = batch -> { };
  private static final KeyedFlushFunc<String, String> KEYED_NOOP = (key, batch) -> { };
  private static final PeriodicTask NOTHING = () -> { };

  private static String firstLetter(String s) {
    return s.substring(0, 1);
  }

  private static KeyedBuffer.Builder<String, String> keyedBuilder() {
    return KeyedBuffer.builder(BadInputTest::firstLetter, KEYED_NOOP);
  }

  /** A flush that blocks on {@code release} (interruptibly) once {@code entered} is counted down. */
  private static FlushFunc<String> blocking(RecordingFlush<String> record, CountDownLatch entered,
      CountDownLatch release) {
    return batch -> {
      entered.countDown();
      release.await();
      record.flush(batch);
    };
  }

  /** accepted = flushed + failed + rejected + undelivered, from the stats of a closed buffer. */
  private static void assertBalanced(BufferStats s) {
    assertThat(s.flushed() + s.failed() + s.rejected() + s.undelivered())
        .as("accepted %d = flushed %d + failed %d + rejected %d + undelivered %d", s.accepted(),
            s.flushed(), s.failed(), s.rejected(), s.undelivered())
        .isEqualTo(s.accepted());
  }

  /** Settings that are invalid on their own: rejected where they are set, naming field and value. */
  @Nested
  class Settings {

    @Test
    void maxInFlightBelowOneIsRejectedNamingTheValue() {
      assertThatThrownBy(() -> Options.builder().maxInFlight(0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxInFlight must be >= 1 (was 0)");
      assertThatThrownBy(() -> keyedBuilder().maxInFlight(-1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxInFlight must be >= 1 (was -1)");
    }

    @Test
    void periodOutOfRangeIsRejectedNamingTheValue() {
      assertThatThrownBy(() -> Options.builder().periodic(Duration.ZERO, NOTHING))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("period must be in (0, PT876000H] (was PT0S)");
      assertThatThrownBy(() -> Options.builder().periodicAsync(Duration.ofDays(36_501), NOTHING))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("period must be in (0, PT876000H] (was PT876024H)");
      assertThatThrownBy(() -> keyedBuilder()
          .periodic(Duration.ofSeconds(-1), NOTHING))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("period must be in (0, PT876000H] (was PT-1S)");
    }

    @Test
    void blankKeyedBufferNameIsRejectedNamingTheValue() {
      assertThatThrownBy(() -> keyedBuilder().name(""))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("name must not be blank (was \"\")");
    }

    @Test
    @SuppressWarnings("NullAway") // passing null is the point
    void nullSettingsAreRejectedNamingTheField() {
      Options.Builder<String> o = Options.builder();
      assertThatThrownBy(() -> o.name(null))
          .isInstanceOf(NullPointerException.class).hasMessage("name must not be null");
      assertThatThrownBy(() -> o.listener(null))
          .isInstanceOf(NullPointerException.class).hasMessage("listener must not be null");
      assertThatThrownBy(() -> o.maxBufferedBytes(null, 10))
          .isInstanceOf(NullPointerException.class).hasMessage("weigher must not be null");
      assertThatThrownBy(() -> o.periodic(null, NOTHING))
          .isInstanceOf(NullPointerException.class).hasMessage("period must not be null");
      assertThatThrownBy(() -> o.periodicAsync(Duration.ofSeconds(1), null))
          .isInstanceOf(NullPointerException.class).hasMessage("task must not be null");
      assertThatThrownBy(() -> Config.builder(NOOP).policy(null))
          .isInstanceOf(NullPointerException.class).hasMessage("policy must not be null");
      assertThatThrownBy(() -> Buffer.start((Config<String>) null))
          .isInstanceOf(NullPointerException.class).hasMessage("config must not be null");
      assertThatThrownBy(() -> Buffer.start(Config.builder(NOOP).build(), null))
          .isInstanceOf(NullPointerException.class).hasMessage("options must not be null");
      assertThatThrownBy(() -> KeyedBuffer.<String, String>builder(BadInputTest::firstLetter, null))
          .isInstanceOf(NullPointerException.class).hasMessage("flush must not be null");
      assertThatThrownBy(() -> keyedBuilder()
          .policy((Function<String, FlushPolicy<String>>) null))
          .isInstanceOf(NullPointerException.class).hasMessage("policyOf must not be null");
      assertThatThrownBy(() -> keyedBuilder()
          .maxBufferedBytes(null, 1))
          .isInstanceOf(NullPointerException.class).hasMessage("weigher must not be null");
    }
  }

  /** The methods of Buffer and KeyedBuffer with null, zero, negative and huge arguments. */
  @Nested
  class Calls {

    @Test
    @SuppressWarnings("NullAway") // passing null is the point
    void nullItemIsRejectedByEveryWayInAndNothingIsAccepted() throws Exception {
      String nothing = null;
      try (Buffer<String> buffer = Buffer.start(Config.builder(NOOP).build());
          KeyedBuffer<String, String> keyed = keyedBuilder().start()) {
        assertThatThrownBy(() -> buffer.submit(nothing))
            .isInstanceOf(NullPointerException.class).hasMessage("item must not be null");
        assertThatThrownBy(() -> keyed.add(nothing))
            .isInstanceOf(NullPointerException.class).hasMessage("item must not be null");
        assertThatThrownBy(() -> keyed.offer(nothing))
            .isInstanceOf(NullPointerException.class).hasMessage("item must not be null");
        assertThatThrownBy(() -> keyed.offer(nothing, WAIT))
            .isInstanceOf(NullPointerException.class).hasMessage("item must not be null");
        assertThatThrownBy(() -> keyed.submit(nothing))
            .isInstanceOf(NullPointerException.class).hasMessage("item must not be null");
        assertThat(buffer.stats().accepted()).isZero();
        assertThat(keyed.stats().accepted()).isZero();
      }
    }

    @Test
    @SuppressWarnings("NullAway") // passing null is the point
    void nullTimeoutIsRejectedAndChangesNothing() throws Exception {
      RecordingFlush<String> flush = new RecordingFlush<>();
      KeyedBuffer<String, String> keyed = keyedBuilder().start();
      try (Buffer<String> buffer = Buffer.start(Config.builder(flush).build())) {
        assertThatThrownBy(() -> buffer.offer("x", null))
            .isInstanceOf(NullPointerException.class).hasMessage("timeout must not be null");
        assertThatThrownBy(() -> buffer.close(null))
            .isInstanceOf(NullPointerException.class).hasMessage("timeout must not be null");
        assertThatThrownBy(() -> keyed.offer("x", null))
            .isInstanceOf(NullPointerException.class).hasMessage("timeout must not be null");
        assertThatThrownBy(() -> keyed.close(null))
            .isInstanceOf(NullPointerException.class).hasMessage("timeout must not be null");
        assertThat(buffer.isClosed()).as("close(null) must not close the buffer").isFalse();
        assertThat(keyed.isClosed()).as("close(null) must not close the buffer").isFalse();
        assertThat(buffer.stats().accepted()).isZero();
        buffer.add("y"); // still open
      } finally {
        keyed.close();
      }
      assertThat(flush.items()).containsExactly("y");
    }

    @ParameterizedTest
    @ValueSource(strings = {"PT0S", "PT-1S", "PT-2562047H"})
    void zeroOrNegativeOfferTimeoutDoesNotWait(String timeout) throws Exception {
      ManualTimeSource time = new ManualTimeSource();
      RecordingFlush<String> flush = new RecordingFlush<>();
      CountDownLatch entered = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      Buffer<String> buffer = Buffer.start(
          Config.builder(blocking(flush, entered, release)).capacity(1).chanSize(1)
              .flushInterval(HOURS).build(),
          Options.builder().timeSource(time).build());
      try {
        buffer.add("a");
        assertThat(entered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        buffer.add("b"); // the one slot of the channel
        // On the manual clock a timed wait would never end: returning proves it did not wait.
        assertThat(buffer.offer("c", Duration.parse(timeout))).isFalse();
        assertThat(buffer.stats().accepted()).isEqualTo(2);
      } finally {
        release.countDown();
        buffer.close();
      }
      assertThat(flush.items()).containsExactly("a", "b");
    }

    @Test
    void hugeOfferTimeoutWaitsForRoomInsteadOfOverflowing() throws Exception {
      ManualTimeSource time = new ManualTimeSource();
      RecordingFlush<String> flush = new RecordingFlush<>();
      CountDownLatch entered = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      Buffer<String> buffer = Buffer.start(
          Config.builder(blocking(flush, entered, release)).capacity(1).chanSize(1)
              .flushInterval(HOURS).build(),
          Options.builder().timeSource(time).build());
      try {
        buffer.add("a");
        assertThat(entered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        buffer.add("b");
        // Duration.toNanos() overflows here: a deadline computed from it would lie in the past.
        CompletableFuture<Boolean> offered =
            Async.call(() -> buffer.offer("c", Duration.ofSeconds(Long.MAX_VALUE)));
        await().atMost(WAIT).until(() -> buffer.stats().producersBlocked() == 1);
        assertThat(offered).isNotDone();
        release.countDown();
        assertThat(offered.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      } finally {
        release.countDown();
        buffer.close();
      }
      assertThat(flush.items()).containsExactly("a", "b", "c");
    }

    @ParameterizedTest
    @ValueSource(strings = {"PT0S", "PT-1S"})
    void closeWithZeroOrNegativeTimeoutGivesUpAtOnce(String timeout) throws Exception {
      ManualTimeSource time = new ManualTimeSource();
      CountDownLatch entered = new CountDownLatch(1);
      RecordingFlush<String> flush = new RecordingFlush<>();
      Buffer<String> buffer = Buffer.start(
          Config.builder(blocking(flush, entered, new CountDownLatch(1))).capacity(1).chanSize(4)
              .flushInterval(HOURS).build(),
          Options.builder().timeSource(time).build());
      CompletableFuture<Void> a = buffer.submit("a");
      assertThat(entered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Void> b = buffer.submit("b");
      CompletableFuture<Void> c = buffer.submit("c");
      // The clock never moves: close returns because the interrupted flush and the loop end.
      CloseResult<String> result = buffer.close(Duration.parse(timeout));
      assertThat(result.drained()).isFalse();
      assertThat(result.undelivered()).containsExactly("a", "b", "c");
      assertThat(result.stillFlushing()).isFalse();
      for (CompletableFuture<Void> f : List.of(a, b, c)) {
        assertThat(deliveryFailure(f).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
      }
      assertThat(flush.items()).isEmpty();
      assertThat(buffer.stats().undelivered()).isEqualTo(3);
      assertBalanced(buffer.stats());
    }

    @Test
    void closeWithTimeoutAfterCloseReportsTheFinishedDrain() throws Exception {
      RecordingFlush<String> flush = new RecordingFlush<>();
      Buffer<String> buffer = Buffer.start(Config.builder(flush).build());
      buffer.add("a");
      buffer.close();
      assertThat(buffer.close(Duration.ofSeconds(1)))
          .isEqualTo(new CloseResult<String>(true, List.of(), false));
      assertThat(buffer.close(Duration.ZERO))
          .isEqualTo(new CloseResult<String>(true, List.of(), false));
      assertThat(flush.items()).containsExactly("a");
    }

    @Test
    void everyCallAfterCloseThrowsNamingTheBufferAndIsCountedAsRefused() throws Exception {
      RecordingFlush<String> flush = new RecordingFlush<>();
      Buffer<String> buffer = Buffer.start(Config.builder(flush).build(),
          Options.builder().name("orders").build());
      KeyedBuffer<String, String> keyed = keyedBuilder()
          .name("tenants").start();
      buffer.close();
      keyed.close();
      String orders = "orders is closed";
      String tenants = "tenants is closed";
      assertThatThrownBy(() -> buffer.add("x")).isInstanceOf(IllegalStateException.class)
          .hasMessage(orders);
      assertThatThrownBy(() -> buffer.offer("x")).isInstanceOf(IllegalStateException.class)
          .hasMessage(orders);
      assertThatThrownBy(() -> buffer.offer("x", WAIT)).isInstanceOf(IllegalStateException.class)
          .hasMessage(orders);
      assertThatThrownBy(() -> buffer.submit("x")).isInstanceOf(IllegalStateException.class)
          .hasMessage(orders);
      assertThatThrownBy(buffer::flush).isInstanceOf(IllegalStateException.class)
          .hasMessage(orders);
      assertThatThrownBy(() -> keyed.add("x")).isInstanceOf(IllegalStateException.class)
          .hasMessage(tenants);
      assertThatThrownBy(() -> keyed.offer("x")).isInstanceOf(IllegalStateException.class)
          .hasMessage(tenants);
      assertThatThrownBy(() -> keyed.offer("x", WAIT)).isInstanceOf(IllegalStateException.class)
          .hasMessage(tenants);
      assertThatThrownBy(() -> keyed.submit("x")).isInstanceOf(IllegalStateException.class)
          .hasMessage(tenants);
      assertThatThrownBy(keyed::flush).isInstanceOf(IllegalStateException.class)
          .hasMessage(tenants);
      assertThat(buffer.stats().refused()).isEqualTo(5);
      assertThat(keyed.stats().refused()).isEqualTo(5);
      assertThat(buffer.stats().accepted()).isZero();
      assertThat(flush.batches()).isEmpty();
    }

    @Test
    void closeWithTimeoutFromInsideAFlushReturnsAtOnceAndTheDrainFinishes() throws Exception {
      AtomicReference<Buffer<String>> self = new AtomicReference<>();
      AtomicReference<CloseResult<String>> inside = new AtomicReference<>();
      RecordingFlush<String> record = new RecordingFlush<>();
      FlushFunc<String> flush = batch -> {
        if (inside.get() == null) {
          inside.set(self.get().close(Duration.ofSeconds(5)));
        }
        record.flush(batch);
      };
      Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).build());
      self.set(buffer);
      buffer.add("a");
      buffer.add("b");
      record.awaitBatches(1, WAIT);
      assertThat(inside.get()).isEqualTo(new CloseResult<String>(false, List.of(), true));
      assertThat(buffer.isClosed()).isTrue();
      buffer.close(); // from outside: waits for the drain the inner call started
      assertThat(record.batches()).containsExactly(List.of("a", "b"));
      assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.CLOSED);
    }

    @Test
    void flushRequestedFromInsideAFlushCompletesOnceTheCallbackReturns() throws Exception {
      AtomicReference<Buffer<String>> self = new AtomicReference<>();
      CompletableFuture<CompletableFuture<Void>> requested = new CompletableFuture<>();
      List<Boolean> doneInside = new CopyOnWriteArrayList<>();
      RecordingFlush<String> record = new RecordingFlush<>();
      FlushFunc<String> flush = batch -> {
        record.flush(batch);
        if (!requested.isDone()) {
          CompletableFuture<Void> f = self.get().flush();
          doneInside.add(f.isDone());
          requested.complete(f);
        }
      };
      try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).build())) {
        self.set(buffer);
        buffer.add("a");
        CompletableFuture<Void> f = requested.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        f.get(WAIT.toSeconds(), TimeUnit.SECONDS); // completes normally: nothing failed
        assertThat(doneInside).containsExactly(false);
        buffer.add("b");
      }
      assertThat(record.items()).containsExactly("a", "b");
    }
  }

  /** Key and policy functions of a keyed buffer, and weighers, that throw or answer nonsense. */
  @Nested
  class UserFunctions {

    @Test
    @SuppressWarnings("NullAway") // returning null is the point
    void keyFunctionReturningNullRejectsTheItemWithTheCause() throws Exception {
      List<String> rejected = new CopyOnWriteArrayList<>();
      List<String> flushed = new CopyOnWriteArrayList<>();
      Function<String, String> keyOf = s -> s.startsWith("x") ? null : "k";
      KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(keyOf,
              (key, batch) -> flushed.add(key + "=" + batch))
          .name("nullkey").onReject(rejected::add).flushInterval(HOURS).start();
      CompletableFuture<Void> x;
      try (buffer) {
        buffer.add("k1");
        x = buffer.submit("x1");
        buffer.add("k2");
      }
      DeliveryException e = deliveryFailure(x);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
      assertThat(e.getCause()).isInstanceOf(NullPointerException.class)
          .hasMessage("the key function returned null");
      assertThat(rejected).containsExactly("x1");
      assertThat(flushed).containsExactly("k=[k1, k2]");
      assertThat(RecordingLoggerFinder.linesContaining(
          "nullkey: the key or policy function failed; the item is handed to onReject"))
          .singleElement().satisfies(l -> assertThat(l.level()).isEqualTo(System.Logger.Level.WARNING));
      assertBalanced(buffer.stats());
    }

    @Test
    void policyWeigherReturningANegativeWeightRejectsTheItem() throws Exception {
      Weigher<String> weigher = s -> s.startsWith("neg") ? -1 : s.length();
      RecordingFlush<String> flush = new RecordingFlush<>();
      List<String> rejected = new CopyOnWriteArrayList<>();
      Buffer<String> buffer = Buffer.start(Config.builder(flush)
          .policy(FlushPolicy.bytes(weigher, 100)).onReject(rejected::add).flushInterval(HOURS)
          .build());
      CompletableFuture<Void> tracked;
      try (buffer) {
        buffer.add("a");
        buffer.add("neg-plain"); // the byte fast path
        tracked = buffer.submit("neg-tracked"); // the general path
        buffer.add("b");
      }
      DeliveryException e = deliveryFailure(tracked);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
      assertThat(e.getCause()).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("weigher returned -1 (must be >= 0)");
      assertThat(rejected).containsExactly("neg-plain", "neg-tracked");
      assertThat(flush.items()).containsExactly("a", "b");
      assertBalanced(buffer.stats());
    }

    @Test
    void memoryWeigherReturningANegativeWeightThrowsToTheCaller() throws Exception {
      RecordingFlush<String> flush = new RecordingFlush<>();
      Buffer<String> buffer = Buffer.start(Config.builder(flush).build(),
          Options.<String>builder().maxBufferedBytes(s -> s.startsWith("neg") ? -1L : 1L, 10)
              .build());
      try (buffer) {
        assertThatThrownBy(() -> buffer.add("neg"))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessage("the maxBufferedBytes weigher returned -1 for neg (must be >= 0): not added");
        assertThatThrownBy(() -> buffer.offer("neg"))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("maxBufferedBytes weigher returned -1");
        buffer.add("ok");
      }
      assertThat(flush.items()).containsExactly("ok");
      assertThat(buffer.stats().accepted()).isEqualTo(1);
    }

    @Test
    void failFastWeigherReturningANegativeWeightThrowsToTheCaller() throws Exception {
      Weigher<String> weigher = s -> s.startsWith("neg") ? -1 : s.length();
      RecordingFlush<String> flush = new RecordingFlush<>();
      List<String> rejected = new CopyOnWriteArrayList<>();
      Buffer<String> buffer = Buffer.start(Config.builder(flush)
          .policy(FlushPolicy.bytes(weigher, 10, 10, Oversize.FAIL_FAST))
          .onReject(rejected::add).build());
      try (buffer) {
        assertThatThrownBy(() -> buffer.add("neg"))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessage("the weigher returned -1 for neg (must be >= 0; Oversize.FAIL_FAST): not added");
        assertThatThrownBy(() -> buffer.submit("neg"))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("the weigher returned -1");
        buffer.add("ok");
      }
      assertThat(buffer.stats().accepted()).as("nothing accepted only to be rejected").isEqualTo(1);
      assertThat(rejected).isEmpty();
      assertThat(flush.items()).containsExactly("ok");
    }

    @Test
    void failFastWeigherThatThrowsThrowsToTheCaller() throws Exception {
      IllegalStateException boom = new IllegalStateException("cannot size bad");
      Weigher<String> weigher = s -> {
        if (s.equals("bad")) {
          throw boom;
        }
        return s.length();
      };
      RecordingFlush<String> flush = new RecordingFlush<>();
      Buffer<String> buffer = Buffer.start(Config.builder(flush)
          .policy(FlushPolicy.bytes(weigher, 10, 10, Oversize.FAIL_FAST)).build());
      try (buffer) {
        assertThatThrownBy(() -> buffer.add("bad")).isSameAs(boom);
        assertThatThrownBy(() -> buffer.offer("bad")).isSameAs(boom);
        buffer.add("ok");
      }
      assertThat(buffer.stats().accepted()).isEqualTo(1);
      assertThat(flush.items()).containsExactly("ok");
    }
  }

  /** Flush functions that fail oddly, hang, or return after the buffer gave up on them. */
  @Nested
  class Flushes {

    @Test
    void partialFailureNamingAnIndexOutsideTheBatchFailsTheWholeBatch() throws Exception {
      List<List<String>> failed = new CopyOnWriteArrayList<>();
      FlushFunc<String> flush = batch -> {
        throw new PartialFlushException(List.of(0, 5), new IOException("throttled"));
      };
      Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2)
          .onFlushError((e, batch) -> failed.add(batch)).build(),
          Options.builder().name("badindex").build());
      CompletableFuture<Void> a;
      CompletableFuture<Void> b;
      try (buffer) {
        a = buffer.submit("a");
        b = buffer.submit("b");
      }
      assertThat(failed).containsExactly(List.of("a", "b"));
      assertThat(deliveryFailure(a).reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(deliveryFailure(b).reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(buffer.stats().failed()).isEqualTo(2);
      assertThat(RecordingLoggerFinder.linesContaining("badindex: a PartialFlushException named "
          + "index 5, outside its batch of 2; the whole batch counts as failed")).hasSize(1);
      assertBalanced(buffer.stats());
    }

    @Test
    @SuppressWarnings("NullAway") // returning null is the point
    void asyncFlushReturningNullFailsItsBatch() throws Exception {
      AsyncFlushFunc<String> async = batch -> null;
      List<Exception> errors = new CopyOnWriteArrayList<>();
      Buffer<String> buffer = Buffer.start(Config.builder(async.awaiting()).capacity(1)
          .onFlushError((e, batch) -> errors.add(e)).build());
      CompletableFuture<Void> a;
      try (buffer) {
        a = buffer.submit("a");
      }
      assertThat(errors).singleElement().satisfies(e -> assertThat(e)
          .isInstanceOf(NullPointerException.class).hasMessage("flush returned null"));
      assertThat(deliveryFailure(a).reason()).isEqualTo(DeliveryException.Reason.FAILED);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void lateReturnOfAFlushTheTimeoutGaveUpOnChangesNothing(boolean lateFailure) throws Exception {
      CountDownLatch release = new CountDownLatch(1);
      CountDownLatch returned = new CountDownLatch(1);
      RecordingFlush<String> delivered = new RecordingFlush<>();
      FlushFunc<String> stubborn = batch -> {
        if (batch.contains("a")) {
          try {
            awaitIgnoringInterrupts(release);
            if (lateFailure) {
              throw new IOException("late failure");
            }
          } finally {
            returned.countDown();
          }
        }
        delivered.flush(batch);
      };
      List<List<String>> failed = new CopyOnWriteArrayList<>();
      List<Exception> errors = new CopyOnWriteArrayList<>();
      FlushFunc<String> flush = FlushMiddleware.<String>timeout(Duration.ofMillis(20),
          TimeSource.system()).wrap(stubborn);
      Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1)
          .onFlushError((e, batch) -> {
            errors.add(e);
            failed.add(batch);
          }).build());
      CompletableFuture<Void> a;
      CompletableFuture<Void> b;
      try (buffer) {
        a = buffer.submit("a");
        DeliveryException gaveUp = deliveryFailure(a);
        assertThat(gaveUp.reason()).isEqualTo(DeliveryException.Reason.FAILED);
        assertThat(gaveUp.getCause()).isInstanceOf(FlushTimeoutException.class);
        b = buffer.submit("b"); // the buffer goes on while the abandoned call still runs
        b.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        release.countDown();
        assertThat(returned.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      }
      assertThat(deliveryFailure(a).getCause()).isInstanceOf(FlushTimeoutException.class);
      assertThat(failed).containsExactly(List.of("a"));
      assertThat(errors).singleElement().isInstanceOf(FlushTimeoutException.class);
      BufferStats stats = buffer.stats();
      assertThat(stats.flushed()).isEqualTo(1);
      assertThat(stats.failed()).isEqualTo(1);
      assertBalanced(stats);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void lateReturnOfAFlushCloseWithTimeoutGaveUpOnChangesNoReportedOutcome(boolean lateFailure)
        throws Exception {
      ManualTimeSource time = new ManualTimeSource();
      CountDownLatch stubbornEntered = new CountDownLatch(1);
      CountDownLatch otherEntered = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      RecordingFlush<String> delivered = new RecordingFlush<>();
      FlushFunc<String> flush = batch -> {
        if (batch.contains("a")) { // ignores close(timeout)'s interrupt
          stubbornEntered.countDown();
          awaitIgnoringInterrupts(release);
          if (lateFailure) {
            throw new IOException("late failure");
          }
        } else { // answers it
          otherEntered.countDown();
          new CountDownLatch(1).await();
        }
        delivered.flush(batch);
      };
      List<List<String>> failed = new CopyOnWriteArrayList<>();
      Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).flushInterval(HOURS)
          .onFlushError((e, batch) -> failed.add(batch)).build(),
          Options.builder().timeSource(time).maxInFlight(2).build());
      CompletableFuture<Void> a = buffer.submit("a");
      CompletableFuture<Void> b = buffer.submit("b");
      assertThat(stubbornEntered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Void> c = buffer.submit("c");
      CompletableFuture<CloseResult<String>> closing =
          Async.call(() -> buffer.close(Duration.ofSeconds(1)));
      assertThat(otherEntered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue(); // [c]'s close flush
      time.awaitTimedWaiters(1, WAIT); // the closer
      time.advance(Duration.ofSeconds(1));
      // [c] answered the interrupt: handed back. Then let the 200 ms grace pass on the clock.
      assertThat(deliveryFailure(c).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
      await().atMost(WAIT).until(() -> {
        time.advance(Duration.ofMillis(100));
        return closing.isDone();
      });
      CloseResult<String> result = closing.get();
      assertThat(result).isEqualTo(new CloseResult<>(false, List.of("c"), true));
      assertThat(a).isNotDone();

      release.countDown(); // [a, b] returns after the close reported
      if (lateFailure) {
        assertThat(deliveryFailure(a).reason()).isEqualTo(DeliveryException.Reason.FAILED);
        assertThat(deliveryFailure(b).reason()).isEqualTo(DeliveryException.Reason.FAILED);
      } else {
        a.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        b.get(WAIT.toSeconds(), TimeUnit.SECONDS);
      }
      await().atMost(WAIT).until(() -> buffer.stats().state() == BufferStats.State.CLOSED);
      // What close reported stands: c stays undelivered, and only [a, b] can reach onFlushError.
      assertThat(deliveryFailure(c).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
      assertThat(failed).isEqualTo(lateFailure ? List.of(List.of("a", "b")) : List.of());
      assertThat(delivered.items()).isEqualTo(lateFailure ? List.of() : List.of("a", "b"));
      BufferStats stats = buffer.stats();
      assertThat(stats.undelivered()).isEqualTo(1);
      assertThat(stats.flushed()).isEqualTo(lateFailure ? 0 : 2);
      assertThat(stats.failed()).isEqualTo(lateFailure ? 2 : 0);
      assertBalanced(stats);
      assertThat(buffer.close(Duration.ofSeconds(1)).undelivered())
          .as("a second close lists nothing twice").isEmpty();
    }

    private static void awaitIgnoringInterrupts(CountDownLatch latch) {
      boolean done = false;
      while (!done) {
        try {
          latch.await();
          done = true;
        } catch (InterruptedException ignored) {
          // this backend ignores interrupts
        }
      }
    }
  }

  /** Periodic tasks that hang. */
  @Nested
  class Hooks {

    @Test
    void hungSynchronousPeriodicTaskIsInterruptedByCloseWithTimeout() throws Exception {
      ManualTimeSource time = new ManualTimeSource();
      CountDownLatch entered = new CountDownLatch(1);
      CountDownLatch interrupted = new CountDownLatch(1);
      PeriodicTask hung = () -> {
        entered.countDown();
        try {
          new CountDownLatch(1).await();
        } catch (InterruptedException e) {
          interrupted.countDown();
          throw e;
        }
      };
      RecordingFlush<String> flush = new RecordingFlush<>();
      Buffer<String> buffer = Buffer.start(
          Config.builder(flush).capacity(10).flushInterval(HOURS).build(),
          Options.builder().timeSource(time).periodic(Duration.ofSeconds(1), hung).build());
      CompletableFuture<Void> a = buffer.submit("a");
      time.awaitTimedWaiters(1, WAIT); // the loop, waiting for the task's period
      time.advance(Duration.ofSeconds(1));
      assertThat(entered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      CompletableFuture<CloseResult<String>> closing =
          Async.call(() -> buffer.close(Duration.ofSeconds(5)));
      time.awaitTimedWaiters(1, WAIT); // the closer: the loop is stuck in the task
      time.advance(Duration.ofSeconds(5));
      assertThat(interrupted.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      CloseResult<String> result = closing.get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(result).isEqualTo(new CloseResult<>(false, List.of("a"), false));
      assertThat(deliveryFailure(a).reason()).isEqualTo(DeliveryException.Reason.UNDELIVERED);
      assertThat(flush.items()).isEmpty();
      assertThat(buffer.stats().hookErrors()).as("the task threw InterruptedException").isEqualTo(1);
      assertBalanced(buffer.stats());
    }
  }

  /** Middleware settings: each invalid value rejected where the middleware is made. */
  @Nested
  class Middleware {
    private final ManualTimeSource time = new ManualTimeSource();

    @Test
    @SuppressWarnings("NullAway") // passing null is the point
    void timeoutRejectsABadLimitNamingTheValue() {
      assertThatThrownBy(() -> FlushMiddleware.<String>timeout(Duration.ZERO, time))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("limit must be in (0, PT876000H] (was PT0S)");
      assertThatThrownBy(() -> FlushMiddleware.<String>timeout(Duration.ofMillis(-5), time))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("limit must be in (0, PT876000H] (was PT-0.005S)");
      assertThatThrownBy(() -> FlushMiddleware.<String>timeout(null, time))
          .isInstanceOf(NullPointerException.class).hasMessage("limit must not be null");
      assertThatThrownBy(() -> FlushMiddleware.<String>timeout(Duration.ofSeconds(1), null))
          .isInstanceOf(NullPointerException.class).hasMessage("time must not be null");
    }

    @Test
    void rateLimitRejectsNonPositiveAndNaNRatesNamingBoth() {
      assertThatThrownBy(() -> FlushMiddleware.<String>rateLimit(Double.NaN, 1, time))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("rates must be > 0 (was batchesPerSecond=NaN, itemsPerSecond=1.0)");
      assertThatThrownBy(() -> FlushMiddleware.<String>rateLimit(1, -3, time))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("rates must be > 0 (was batchesPerSecond=1.0, itemsPerSecond=-3.0)");
    }

    @Test
    void circuitBreakerRejectsBadSettingsNamingTheField() {
      assertThatThrownBy(() -> FlushMiddleware.<String>circuitBreaker(0, Duration.ofSeconds(1),
          false, time))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("failureThreshold must be >= 1 (was 0)");
      assertThatThrownBy(() -> FlushMiddleware.<String>circuitBreaker(3, Duration.ZERO, true, time))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("coolDown must be in (0, PT876000H] (was PT0S)");
    }

    @Test
    @SuppressWarnings("NullAway") // passing null is the point
    void retryRejectsTheRestOfItsBadSettingsNamingTheField() {
      assertThatThrownBy(() -> RetryPolicy.builder().backoff(Duration.ofSeconds(-1),
          Duration.ofSeconds(1)))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("initial must be >= 0 (was PT-1S)");
      assertThatThrownBy(() -> RetryPolicy.builder().maxElapsed(Duration.ZERO))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxElapsed must be in (0, PT876000H] (was PT0S)");
      assertThatThrownBy(() -> RetryPolicy.builder().multiplier(Double.NaN))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("multiplier must be >= 1 (was NaN)");
      assertThatThrownBy(() -> RetryPolicy.builder().jitter(-0.1))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("jitter must be in [0, 1] (was -0.1)");
      assertThatThrownBy(() -> RetryPolicy.builder().retryOn(null))
          .isInstanceOf(NullPointerException.class).hasMessage("retryOn must not be null");
      assertThatThrownBy(() -> FlushMiddleware.<String>retry(null, time))
          .isInstanceOf(NullPointerException.class).hasMessage("policy must not be null");
      assertThatThrownBy(() -> FlushMiddleware.chain((FlushFunc<String>) null))
          .isInstanceOf(NullPointerException.class).hasMessage("flush must not be null");
      assertThatThrownBy(() -> FlushMiddleware.chain(NOOP, (FlushMiddleware<String>) null))
          .isInstanceOf(NullPointerException.class).hasMessage("middlewares[0] must not be null");
    }
  }

  /** Presets: a bad argument is named as the preset names it, not as the policy inside it does. */
  @Nested
  class PresetArguments {

    @Test
    @SuppressWarnings("NullAway") // passing null is the point
    void presetsRejectBadArgumentsNamingTheirOwnParameter() {
      Weigher<String> length = String::length;
      assertThatThrownBy(() -> Presets.kinesisPutRecords(length, 0, 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxRequestBytes must be >= 1 (was 0)");
      assertThatThrownBy(() -> Presets.kinesisPutRecords(length, 10, 11))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxRecordBytes must be in [1, maxRequestBytes=10] (was 11)");
      assertThatThrownBy(() -> Presets.<String>kinesisPutRecords(null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("dataPlusKeyBytes must not be null");
      assertThatThrownBy(() -> Presets.kafkaBatch(length, 0, 10))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("batchSize must be >= 1 (was 0)");
      assertThatThrownBy(() -> Presets.kafkaBatch(length, 10, 5))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxRequestSize must be >= batchSize=10 (was 5)");
      assertThatThrownBy(() -> Presets.<String>jdbcExecuteBatch(0))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("rows must be >= 1 (was 0)");
      assertThatThrownBy(() -> Presets.<String>sqsSendMessageBatch(null))
          .isInstanceOf(NullPointerException.class).hasMessage("messageBytes must not be null");
      assertThatThrownBy(() -> Presets.<String>eventBridgePutEvents(null))
          .isInstanceOf(NullPointerException.class).hasMessage("entryBytes must not be null");
      assertThatThrownBy(() -> Presets.<String>elasticsearchBulk(null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("actionAndSourceBytes must not be null");
    }
  }

  /** The test kit with bad arguments. */
  @Nested
  class TestKit {

    @Test
    void manualTimeSourceRejectsAnAdvanceLongerThanNanosecondsHold() {
      ManualTimeSource time = new ManualTimeSource();
      assertThatThrownBy(() -> time.advance(Duration.ofDays(365L * 300)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("amount must be <= PT2562047H47M16.854775807S (was PT2628000H)");
      assertThatThrownBy(() -> time.advance(Long.MAX_VALUE, TimeUnit.DAYS))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("amount must be <= PT2562047H47M16.854775807S (was 9223372036854775807 DAYS)");
      assertThat(time.nanoTime()).as("a refused advance moves nothing").isZero();
      time.advance(Duration.ofNanos(Long.MAX_VALUE)); // the longest one is fine
      assertThat(time.nanoTime()).isEqualTo(Long.MAX_VALUE);
    }

    @Test
    @SuppressWarnings("NullAway") // passing null is the point
    void testKitRejectsNullsNamingTheArgument() {
      assertThatThrownBy(() -> new ManualTimeSource().advance(null))
          .isInstanceOf(NullPointerException.class).hasMessage("amount must not be null");
      assertThatThrownBy(() -> new RecordingFlush<String>().awaitBatches(1, null))
          .isInstanceOf(NullPointerException.class).hasMessage("timeout must not be null");
      assertThatThrownBy(() -> ScriptedFlush.<String>builder().fail(null))
          .isInstanceOf(NullPointerException.class).hasMessage("failure must not be null");
      assertThatThrownBy(() -> ScriptedFlush.<String>builder().thenFail(null))
          .isInstanceOf(NullPointerException.class).hasMessage("failure must not be null");
      assertThatThrownBy(() -> ScriptedFlush.<String>builder().awaitThenSucceed(null))
          .isInstanceOf(NullPointerException.class).hasMessage("gate must not be null");
    }

    @Test
    void recordingFlushAwaitWithZeroTimeoutFailsAtOnceSayingWhatArrived() {
      RecordingFlush<String> flush = new RecordingFlush<>();
      flush.flush(List.of("a"));
      assertThatThrownBy(() -> flush.awaitBatches(2, Duration.ZERO))
          .isInstanceOf(AssertionError.class)
          .hasMessage("expected at least 2 batches within PT0S but got 1 batches with 1 items");
    }
  }

  // ---- the README table names only tests that exist ------------------------------------------

  private static final Pattern TEST_REFERENCE =
      Pattern.compile("`([A-Z][A-Za-z0-9]*)#([a-z][A-Za-z0-9]*)`");

  @Test
  void everyRowOfTheReadmeTableNamesATestThatExists() throws Exception {
    List<String> rows = tableRows(readme());
    assertThat(rows).as("rows of the README's bad-input table").hasSizeGreaterThan(40);
    List<String> missing = new ArrayList<>();
    for (String row : rows) {
      Matcher m = TEST_REFERENCE.matcher(row);
      boolean any = false;
      while (m.find()) {
        any = true;
        if (!isTest(m.group(1), m.group(2))) {
          missing.add(m.group(1) + "#" + m.group(2));
        }
      }
      if (!any) {
        missing.add("(no `Class#method` in row) " + row);
      }
    }
    assertThat(missing).as("README bad-input references that are not tests").isEmpty();
  }

  private static List<String> readme() throws IOException {
    Path root = Path.of("").toAbsolutePath();
    Path readme = root.resolve("README.md");
    if (!Files.exists(readme)) {
      readme = root.resolveSibling("README.md"); // run from buffer-core
    }
    return Files.readAllLines(readme);
  }

  /** The body rows of the table under "## What bad input gets". */
  static List<String> tableRows(List<String> lines) {
    List<String> rows = new ArrayList<>();
    boolean inSection = false;
    for (String line : lines) {
      if (line.startsWith("## ")) {
        inSection = line.equals("## What bad input gets");
        continue;
      }
      if (inSection && line.startsWith("|") && !line.startsWith("|---")
          && !line.startsWith("| input |")) {
        rows.add(line);
      }
    }
    return rows;
  }

  /** Whether {@code simpleName} (in this package or a subpackage) or a class nested in it declares
   * a test method {@code method}. */
  private static boolean isTest(String simpleName, String method) {
    for (String pkg : List.of("dev.batchbuffer.", "dev.batchbuffer.testing.",
        "dev.batchbuffer.internal.", "dev.batchbuffer.micrometer.")) {
      try {
        if (declaresTest(Class.forName(pkg + simpleName), method)) {
          return true;
        }
      } catch (ClassNotFoundException notHere) {
        // try the next package
      }
    }
    return false;
  }

  private static boolean declaresTest(Class<?> type, String method) {
    for (Method m : type.getDeclaredMethods()) {
      if (m.getName().equals(method) && (m.isAnnotationPresent(Test.class)
          || m.isAnnotationPresent(ParameterizedTest.class))) {
        return true;
      }
    }
    for (Class<?> nested : type.getDeclaredClasses()) {
      if (declaresTest(nested, method)) {
        return true;
      }
    }
    return false;
  }
}
