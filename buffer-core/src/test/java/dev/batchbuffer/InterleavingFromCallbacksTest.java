package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The re-entrant interleavings that {@link InterleavingTest}'s outside threads cannot make:
 * {@code close()}, {@code close(Duration)} and {@code flush()} called from inside a flush function,
 * a listener callback, a periodic task on the loop and an async periodic task, on a {@link Buffer}
 * and a {@link KeyedBuffer}, with one flush at a time and with three. Each call must return within
 * a bounded wait (a deadlock fails it), and afterwards a close from outside must still drain every
 * accepted item exactly once: {@code close()} inside starts the close (admission stops at once),
 * {@code close(Duration)} inside cannot wait and says so ({@code CloseResult(false, [], true)}), and
 * the future of {@code flush()} inside completes once the callback has returned.
 */
@ExtendWith(RecordingLoggerFinder.Reset.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InterleavingFromCallbacksTest {
  static final Duration WAIT = Duration.ofSeconds(10);
  static final Duration HOURS = Duration.ofHours(1);
  static final int ITEMS = 5;

  /** Where the call is made from: every kind of callback that runs on one of the buffer's threads. */
  enum Site { FLUSH_FUNCTION, LISTENER, PERIODIC_TASK_ON_THE_LOOP, ASYNC_PERIODIC_TASK }

  /** A call made on the buffer from inside a callback; {@code flushed} records its batches. */
  interface Call<R> {
    R on(BufferFace<Integer> target, RecordingFlush<Integer> flushed) throws Exception;
  }

  /** A buffer after its callback made the call, and what the call returned. */
  record Run<R>(BufferFace<Integer> target, RecordingFlush<Integer> flushed, R inner) {}

  static Stream<Arguments> sites() {
    return Stream.of(Site.values()).flatMap(site -> Stream.of(false, true)
        .flatMap(keyed -> Stream.of(1, 3).map(n -> Arguments.of(site, keyed, n))));
  }

  /**
   * Starts a buffer of {@value #ITEMS} items in batches of two (per key, for a keyed one) whose
   * callback at {@code site} makes {@code call} once, after every item was added, and returns
   * what that call returned as soon as it has returned.
   */
  static <R> Run<R> callFromInside(Site site, boolean keyed, int maxInFlight, Call<R> call)
      throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    AtomicReference<@Nullable BufferFace<Integer>> self = new AtomicReference<>();
    RecordingFlush<Integer> flushed = new RecordingFlush<>();
    CountDownLatch allAdded = new CountDownLatch(1);
    AtomicBoolean fired = new AtomicBoolean();
    CompletableFuture<R> inner = new CompletableFuture<>();
    Runnable callback = () -> {
      BufferFace<Integer> target = self.get();
      if (target == null || !fired.compareAndSet(false, true)) {
        return;
      }
      try {
        if (!allAdded.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
          throw new AssertionError("the items were not added");
        }
        inner.complete(call.on(target, flushed));
      } catch (Throwable t) {
        inner.completeExceptionally(t); // reaches the test thread through succeedsWithin below
      }
    };
    FlushFunc<Integer> flush = batch -> {
      flushed.flush(batch);
      if (site == Site.FLUSH_FUNCTION) {
        callback.run();
      }
    };
    BufferListener<Integer> listener = site != Site.LISTENER ? null : new BufferListener<>() {
      @Override
      public void flushed(FlushInfo info) {
        callback.run();
      }
    };
    boolean periodic = site == Site.PERIODIC_TASK_ON_THE_LOOP || site == Site.ASYNC_PERIODIC_TASK;
    BufferFace<Integer> target = InterleavingTarget.start(
        InterleavingTarget.Shape.of(keyed, maxInFlight, 2, 8, HOURS).with(time, listener,
            periodic ? callback::run : null, site == Site.ASYNC_PERIODIC_TASK),
        flush);
    self.set(target);
    for (int i = 0; i < ITEMS; i++) {
      target.add(i);
    }
    allAdded.countDown();
    if (periodic) {
      time.awaitTimedWaiters(1, WAIT);
      time.advance(InterleavingTarget.Shape.PERIOD);
    }
    assertThat(inner).as("the call from inside the %s returned", site).succeedsWithin(WAIT);
    return new Run<>(target, flushed, inner.join());
  }

  /** Closes from outside, which must end, and checks that every item was flushed exactly once. */
  static void closeFromOutsideAndCheckEveryItemFlushedOnce(Run<?> run) {
    assertThat(CompletableFuture.runAsync(run.target()::close, Async.VIRTUAL))
        .as("close() from outside").succeedsWithin(WAIT);
    assertThat(run.flushed().items())
        .containsExactlyInAnyOrderElementsOf(IntStream.range(0, ITEMS).boxed().toList());
  }

  @ParameterizedTest(name = "from the {0}, keyed {1}, maxInFlight {2}")
  @MethodSource("sites")
  void closeFromInsideACallbackStopsAdmissionAndReturnsAtOnce(Site site, boolean keyed,
      int maxInFlight) throws Exception {
    Run<Boolean> run = callFromInside(site, keyed, maxInFlight, (t, flushed) -> {
      t.close();
      return t.isClosed();
    });
    assertThat(run.inner()).as("closed when close() returned").isTrue();
    assertThatThrownBy(() -> run.target().add(99)).isInstanceOf(IllegalStateException.class);
    closeFromOutsideAndCheckEveryItemFlushedOnce(run);
  }

  @ParameterizedTest(name = "from the {0}, keyed {1}, maxInFlight {2}")
  @MethodSource("sites")
  void closeWithTimeoutFromInsideACallbackReturnsAtOnceSayingItCouldNotWait(Site site,
      boolean keyed, int maxInFlight) throws Exception {
    Run<CloseResult<Integer>> run = callFromInside(site, keyed, maxInFlight,
        (t, flushed) -> t.close(Duration.ofSeconds(5)));
    assertThat(run.inner()).isEqualTo(new CloseResult<>(false, List.of(), true));
    assertThatThrownBy(() -> run.target().add(99)).isInstanceOf(IllegalStateException.class);
    closeFromOutsideAndCheckEveryItemFlushedOnce(run);
  }

  @ParameterizedTest(name = "from the {0}, keyed {1}, maxInFlight {2}")
  @MethodSource("sites")
  void flushFromInsideACallbackReturnsAFutureThatCompletesAfterTheCallback(Site site,
      boolean keyed, int maxInFlight) throws Exception {
    // What had been flushed when the future completed, taken by whoever completes it.
    Run<CompletableFuture<List<Integer>>> run = callFromInside(site, keyed, maxInFlight,
        (t, flushed) -> t.flush().thenApply(done -> flushed.items()));
    assertThat(run.inner()).as("flush() requested from inside").succeedsWithin(WAIT)
        .asInstanceOf(InstanceOfAssertFactories.LIST).as("flushed when that flush() completed")
        .hasSize(ITEMS);
    assertThat(run.target().isClosed()).isFalse();
    closeFromOutsideAndCheckEveryItemFlushedOnce(run);
  }
}
