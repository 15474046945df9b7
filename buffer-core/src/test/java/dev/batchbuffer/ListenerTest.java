package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link BufferListener}: what it hears, on which thread, and that its failures stay its own. */
@ExtendWith(RecordingLoggerFinder.Reset.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ListenerTest {
  static final Duration LINGER = Duration.ofSeconds(5);
  final ManualTimeSource time = new ManualTimeSource();

  /** Records every call as a line, with the thread it came on. */
  static final class Recorder implements BufferListener<String> {
    final List<String> events = new CopyOnWriteArrayList<>();
    final List<String> threads = new CopyOnWriteArrayList<>();
    final List<FlushInfo> infos = new CopyOnWriteArrayList<>();
    final java.util.concurrent.atomic.AtomicReference<BufferStats> closedWith =
        new java.util.concurrent.atomic.AtomicReference<>();

    private void heard(String event) {
      events.add(event);
      threads.add(Thread.currentThread().getName());
    }

    @Override
    public void flushed(FlushInfo info) {
      infos.add(info);
      heard("flushed " + info.items() + " " + info.reason());
    }

    @Override
    public void flushFailed(FlushInfo info, Throwable error) {
      infos.add(info);
      heard("failed " + info.items() + " " + info.reason() + " " + error.getMessage());
    }

    @Override
    public void rejected(String buffer, String item) {
      heard("rejected " + item);
    }

    @Override
    public void producerBlocked(String buffer) {
      heard("blocked");
    }

    @Override
    public void producerUnblocked(String buffer, Duration waited) {
      heard("unblocked");
    }

    @Override
    public void closed(BufferStats stats) {
      closedWith.set(stats);
      heard("closed");
    }
  }

  @Test
  void listenerHearsFlushesFailuresRejectionsAndTheCloseInOrderOnTheLoopThread() throws Exception {
    Recorder recorder = new Recorder();
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
        .succeed().fail(new IOException("down")).build();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).chanSize(16)
            .flushInterval(LINGER).canAdd((batch, item) -> !item.equals("x"))
            .onFlushError((e, batch) -> {}).build(),
        Options.<String>builder().name("heard").timeSource(time).listener(recorder).build());
    for (String s : List.of("a", "b", "x", "c", "d", "e")) {
      buffer.add(s);
    }
    buffer.close();
    assertThat(recorder.events).containsExactly("flushed 2 COUNT", "rejected x",
        "failed 2 COUNT down", "flushed 1 CLOSE", "closed");
    assertThat(recorder.threads).containsOnly("heard");
    assertThat(recorder.infos).allSatisfy(i -> assertThat(i.buffer()).isEqualTo("heard"));
    assertThat(recorder.infos.get(1).failed()).isEqualTo(2);
    assertThat(recorder.infos.get(1).succeeded()).isFalse();
    assertThat(recorder.closedWith.get().state()).isEqualTo(BufferStats.State.CLOSED);
    assertThat(recorder.closedWith.get().accepted()).isEqualTo(6);
  }

  @Test
  void flushInfoCarriesTheDurationOnTheBuffersClockTheBytesAndTheKey() throws Exception {
    Recorder recorder = new Recorder();
    KeyedBuffer<Character, String> keyed = KeyedBuffer.<Character, String>builder(
            s -> s.charAt(0), (key, batch) -> time.advance(Duration.ofMillis(7)))
        .policy(FlushPolicy.<String>count(2).or(FlushPolicy.bytes(String::length, 100)))
        .timeSource(time).listener(recorder).start();
    keyed.add("k1");
    keyed.add("k22");
    keyed.close();
    FlushInfo info = recorder.infos.get(0);
    assertThat(info.key()).isEqualTo('k');
    assertThat(info.bytes()).isEqualTo(5);
    assertThat(info.duration()).isEqualTo(Duration.ofMillis(7));
    assertThat(info.succeeded()).isTrue();
  }

  @Test
  void producerEventsComeOnTheProducersThread() throws Exception {
    Recorder recorder = new Recorder();
    CountDownLatch gate = new CountDownLatch(1);
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder().awaitThenSucceed(gate).build();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(1)
        .flushInterval(LINGER).build(), Options.<String>builder().listener(recorder).build());
    buffer.add("a");
    await().atMost(WAIT).until(() -> buffer.stats().flushesInFlight() == 1);
    buffer.add("b");
    Thread producer = Async.adding("producer-1", buffer, "c");
    await().atMost(WAIT).until(() -> recorder.events.contains("blocked"));
    gate.countDown();
    producer.join();
    buffer.close();
    int blocked = recorder.events.indexOf("blocked");
    assertThat(recorder.events.get(blocked + 1)).isIn("unblocked", "flushed 1 COUNT");
    assertThat(recorder.events).contains("unblocked");
    assertThat(recorder.threads.get(blocked)).isEqualTo("producer-1");
    assertThat(recorder.threads.get(recorder.events.indexOf("unblocked"))).isEqualTo("producer-1");
  }

  @Test
  void throwingListenerIsCountedAndLoggedAndTheBufferGoesOn() throws Exception {
    BufferListener<Object> broken = new BufferListener<>() {
      @Override
      public void flushed(FlushInfo info) {
        throw new IllegalStateException("listener bug");
      }

      @Override
      public void rejected(String buffer, Object item) {
        throw new IllegalStateException("listener bug");
      }
    };
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).flushInterval(LINGER)
            .canAdd((batch, item) -> !item.equals("x")).build(),
        Options.builder().name("listener-probe").timeSource(time).listener(broken).build());
    for (String s : List.of("a", "b", "x", "c", "d")) {
      buffer.add(s);
    }
    buffer.close();
    assertThat(flush.items()).containsExactly("a", "b", "c", "d");
    assertThat(buffer.stats().listenerErrors()).isEqualTo(3);
    assertThat(RecordingLoggerFinder.linesContaining("listener-probe: a BufferListener method threw"))
        .hasSize(1); // rate-limited: one line per kind per period
  }
}
