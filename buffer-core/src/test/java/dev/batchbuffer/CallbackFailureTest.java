package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.RecordingFlush;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every user callback may throw; the loop goes on and no item disappears without a trace. */
@ExtendWith(RecordingLoggerFinder.Reset.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CallbackFailureTest {

  @Test
  void flushErrorGoesToOnFlushErrorAndTheLoopGoesOn() throws Exception {
    Ledger<Integer> ledger = new Ledger<>();
    List<Exception> errors = new CopyOnWriteArrayList<>();
    FlushFunc<Integer> flush = batch -> {
      if (batch.contains(3)) {
        throw new IOException("backend down");
      }
      ledger.flushed.flush(batch);
    };
    Config<Integer> config = Config.builder(flush).capacity(2).flushInterval(HOURS)
        .onFlushError((e, batch) -> {
          errors.add(e);
          ledger.onFlushError(e, batch);
        }).build();
    try (Buffer<Integer> buffer = Buffer.start(config)) {
      for (int i = 0; i < 6; i++) {
        buffer.add(i);
        ledger.accepted.incrementAndGet();
      }
    }
    assertThat(errors).singleElement()
        .satisfies(e -> assertThat(e).isInstanceOf(IOException.class).hasMessage("backend down"));
    assertThat(ledger.failed).containsExactly(2, 3);
    assertThat(ledger.flushed.batches()).containsExactly(List.of(0, 1), List.of(4, 5));
    ledger.assertBalanced();
  }

  @Test
  void errorThrownByFlushArrivesWrappedInExecutionException() throws Exception {
    List<Exception> errors = new CopyOnWriteArrayList<>();
    FlushFunc<Integer> flush = batch -> {
      throw new AssertionError("bug in flush");
    };
    Config<Integer> config = Config.builder(flush).capacity(1).flushInterval(HOURS)
        .onFlushError((e, batch) -> errors.add(e)).build();
    try (Buffer<Integer> buffer = Buffer.start(config)) {
      buffer.add(1);
      buffer.add(2);
    }
    assertThat(errors).hasSize(2).allSatisfy(e -> assertThat(e)
        .isInstanceOf(ExecutionException.class).cause().isInstanceOf(AssertionError.class));
  }

  @Test
  void defaultOnFlushErrorLogsAndDropsTheBatch() throws Exception {
    FlushFunc<Integer> flush = batch -> {
      throw new IOException("default-handler-probe");
    };
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).build(),
        Options.builder().name("default-ofe-probe").build())) {
      buffer.add(1);
    }
    assertThat(RecordingLoggerFinder.linesContaining("default-ofe-probe:")).singleElement().satisfies(line -> {
      assertThat(line.level()).isEqualTo(Level.WARNING);
      assertThat(line.message()).contains("flush of 1 items failed; batch dropped");
      assertThat(line.error()).hasMessage("default-handler-probe");
    });
  }

  @Test
  void throwingOnFlushErrorIsLoggedAndTheLoopGoesOn() throws Exception {
    RecordingFlush<Integer> ok = new RecordingFlush<>();
    FlushFunc<Integer> flush = batch -> {
      if (batch.get(0) == 0) {
        throw new IOException("first");
      }
      ok.flush(batch);
    };
    Config<Integer> config = Config.builder(flush).capacity(1).flushInterval(HOURS)
        .onFlushError((e, batch) -> {
          throw new IllegalStateException("onFlushError-probe");
        }).build();
    try (Buffer<Integer> buffer = Buffer.start(config, Options.builder().name("ofe-probe").build())) {
      buffer.add(0);
      buffer.add(1);
    }
    assertThat(ok.items()).containsExactly(1);
    assertThat(RecordingLoggerFinder.linesContaining("ofe-probe: onFlushError threw"))
        .singleElement().satisfies(l -> assertThat(l.error()).hasMessage("onFlushError-probe"));
  }

  @Test
  void throwingOnRejectIsLoggedWithTheItemAndTheLoopGoesOn() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).capacity(10).flushInterval(HOURS)
        .canAdd((batch, item) -> !item.startsWith("bad"))
        .onReject(item -> {
          throw new IllegalStateException("dlq down");
        }).build();
    try (Buffer<String> buffer = Buffer.start(config, Options.builder().name("rej-probe").build())) {
      buffer.add("good1");
      buffer.add("bad1");
      buffer.add("good2");
    }
    assertThat(flush.items()).containsExactly("good1", "good2");
    assertThat(RecordingLoggerFinder.linesContaining("rej-probe: onReject threw"))
        .singleElement().satisfies(l -> assertThat(l.message()).contains("bad1"));
  }

  @Test
  void throwingCanAddRejectsTheItemThroughOnReject() throws Exception {
    Ledger<String> ledger = new Ledger<>();
    Config<String> config = Config.builder(ledger.flushed).capacity(10).flushInterval(HOURS)
        .canAdd((batch, item) -> {
          if (item.equals("poison")) {
            throw new IllegalArgumentException("cannot size it");
          }
          return true;
        }).onReject(ledger::onReject).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String s : List.of("a", "poison", "b")) {
        buffer.add(s);
        ledger.accepted.incrementAndGet();
      }
    }
    assertThat(ledger.rejected).containsExactly("poison");
    assertThat(ledger.flushed.items()).containsExactly("a", "b");
    ledger.assertBalanced();
  }

  @Test
  void throwingWillOverflowRejectsTheItemWithoutFlushing() throws Exception {
    Ledger<String> ledger = new Ledger<>();
    Config<String> config = Config.builder(ledger.flushed).capacity(10).flushInterval(HOURS)
        .willOverflow((batch, item) -> {
          if (item.equals("poison")) {
            throw new IllegalArgumentException("cannot size it");
          }
          return false;
        }).onReject(ledger::onReject).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String s : List.of("a", "poison", "b")) {
        buffer.add(s);
        ledger.accepted.incrementAndGet();
      }
    }
    assertThat(ledger.rejected).containsExactly("poison");
    assertThat(ledger.flushed.batches()).containsExactly(List.of("a", "b"));
    ledger.assertBalanced();
  }

  @Test
  void throwingShouldFlushFlushesTheBatchNow() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).capacity(10).flushInterval(HOURS)
        .shouldFlush(batch -> {
          if (batch.contains("boom")) {
            throw new IllegalStateException("policy bug");
          }
          return false;
        }).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("a");
      buffer.add("boom");
      assertThat(flush.awaitBatches(1, WAIT)).containsExactly(List.of("a", "boom"));
      buffer.add("c");
    }
    assertThat(flush.batches()).containsExactly(List.of("a", "boom"), List.of("c"));
  }

  /**
   * A flush that leaves its thread interrupted would turn every later park of the loop into a spin
   * (a park returns at once while the interrupt is pending). The loop parks only through its clock,
   * which notes each park made with the interrupt pending: there must be none, and the parked loop
   * must not be interrupted, after each of two such flushes.
   */
  @Test
  void callbackThatInterruptsTheLoopThreadDoesNotMakeItSpinOrStop() throws Exception {
    RecordingFlush<Integer> recorder = new RecordingFlush<>();
    CountingClock clock = new CountingClock();
    AtomicLong parksAtFlush = new AtomicLong();
    FlushFunc<Integer> flush = batch -> {
      parksAtFlush.set(clock.parks.get()); // on the loop thread: the parks it made before
      recorder.flush(batch);
      Thread.currentThread().interrupt();
    };
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).flushInterval(HOURS).build(),
        Options.builder().name("interrupt-probe").timeSource(clock).build())) {
      for (int item = 1; item <= 2; item++) {
        buffer.add(item);
        recorder.awaitItems(item, WAIT);
        // The first park after this flush: made with the interrupt pending, it would be a spin.
        await().atMost(WAIT).until(() -> clock.parks.get() > parksAtFlush.get());
        assertThat(clock.interruptedParks).as("parks made with the interrupt pending (spins)")
            .hasValue(0);
        clock.time.awaitWaiters(1, WAIT); // and the loop sleeps there
        Thread loop = java.util.Objects.requireNonNull(clock.lastParker.get());
        assertThat(loop.isInterrupted()).as("the parked loop %s is interrupted", loop).isFalse();
      }
    }
    assertThat(clock.interruptedParks).hasValue(0);
    assertThat(recorder.items()).containsExactly(1, 2);
    assertThat(RecordingLoggerFinder.linesContaining("interrupt-probe: a callback interrupted"))
        .isNotEmpty();
  }

  @Test
  void fatalErrorStopsTheBufferReleasesProducersAndIsReported() throws Exception {
    Map<String, Throwable> seen = new ConcurrentHashMap<>();
    Thread.UncaughtExceptionHandler quiet = (t, e) -> seen.put(t.getName(), e);
    FlushFunc<Integer> flush = batch -> {
      Thread.currentThread().setUncaughtExceptionHandler(quiet);
      throw new OutOfMemoryError("simulated");
    };
    Buffer<Integer> buffer = Buffer.start(Config.builder(flush).capacity(1).flushInterval(HOURS).build(),
        Options.builder().name("fatal-probe").build());
    buffer.add(1);
    await().atMost(WAIT).until(buffer::isClosed);
    assertThatThrownBy(() -> buffer.add(2)).isInstanceOf(IllegalStateException.class)
        .hasMessage("fatal-probe stopped on a fatal error")
        .cause().isInstanceOf(OutOfMemoryError.class);
    buffer.close(); // returns: the loop has ended
    assertThat(RecordingLoggerFinder.linesContaining("fatal-probe: a callback threw a fatal error"))
        .singleElement().satisfies(l -> assertThat(l.level()).isEqualTo(Level.ERROR));
    await().atMost(WAIT).until(() -> seen.containsKey("fatal-probe"));
  }

  @RepeatedTest(2) // the second repetition sees only its own lines: the recorder is reset
  void repeatedFailuresOfOneKindAreLoggedOncePerPeriod() throws Exception {
    FlushFunc<Integer> flush = batch -> {};
    Config<Integer> config = Config.builder(flush).capacity(100).flushInterval(HOURS)
        .onReject(item -> {
          throw new IllegalStateException("always");
        }).canAdd((b, i) -> false).build();
    try (Buffer<Integer> buffer = Buffer.start(config, Options.builder().name("rate-probe").build())) {
      for (int i = 0; i < 500; i++) {
        buffer.add(i);
      }
    }
    assertThat(RecordingLoggerFinder.linesContaining("rate-probe: onReject threw")).hasSize(1);
  }
}
