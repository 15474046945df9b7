package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The JFR events, read back from a live {@link RecordingStream}. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JfrEventsTest {
  static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void flushAndProducerBlockedEventsAreRecorded() throws Exception {
    List<RecordedEvent> events = new CopyOnWriteArrayList<>();
    try (RecordingStream stream = new RecordingStream()) {
      stream.enable("dev.batchbuffer.Flush").withoutThreshold();
      stream.enable("dev.batchbuffer.ProducerBlocked").withoutThreshold();
      stream.onEvent("dev.batchbuffer.Flush", events::add);
      stream.onEvent("dev.batchbuffer.ProducerBlocked", events::add);
      stream.startAsync();

      CountDownLatch gate = new CountDownLatch(1);
      ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
          .awaitThenSucceed(gate).fail(new IOException("down")).build();
      Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(1)
              .flushInterval(Duration.ofHours(1)).onFlushError((e, batch) -> {}).build(),
          Options.builder().name("jfr-probe").build());
      buffer.add("a");
      await().atMost(WAIT).until(() -> buffer.stats().flushesInFlight() == 1);
      buffer.add("b");
      Thread producer = Async.adding("producer", buffer, "c");
      await().atMost(WAIT).until(() -> buffer.stats().producersBlocked() == 1);
      gate.countDown();
      producer.join();
      buffer.close();

      await().atMost(WAIT).until(() -> flushes(events).size() == 3 && blocked(events).size() == 1);
    }
    List<RecordedEvent> flushes = flushes(events);
    assertThat(flushes).allSatisfy(e -> {
      assertThat(e.getString("buffer")).isEqualTo("jfr-probe");
      assertThat(e.getInt("items")).isEqualTo(1);
      assertThat(e.getString("reason")).isEqualTo("COUNT");
    });
    assertThat(flushes.stream().map(e -> e.getString("outcome")))
        .containsExactlyInAnyOrder("ok", "failed", "ok");
    RecordedEvent wait = blocked(events).get(0);
    assertThat(wait.getString("buffer")).isEqualTo("jfr-probe");
    assertThat(wait.getBoolean("admitted")).isTrue();
    assertThat(wait.getDuration()).isPositive();
  }

  @Test
  void aFlushWhoseItemsExpireIsRecordedWithTheOutcomeExpired() throws Exception {
    List<RecordedEvent> events = new CopyOnWriteArrayList<>();
    try (RecordingStream stream = new RecordingStream()) {
      stream.enable("dev.batchbuffer.Flush").withoutThreshold();
      stream.onEvent("dev.batchbuffer.Flush", events::add);
      stream.startAsync();

      dev.batchbuffer.testing.ManualTimeSource time = new dev.batchbuffer.testing.ManualTimeSource();
      Duration second = Duration.ofSeconds(1);
      FlushFunc<String> down = batch -> {
        throw new IOException("down");
      };
      Buffer<String> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(down,
              FlushMiddleware.<String>retry(RetryPolicy.builder().maxAttempts(100)
                  .backoff(second, second).jitter(0).build(), time)))
          .capacity(1).flushInterval(second).onFlushError((e, batch) -> {}).build(),
          Options.builder().name("jfr-expiry").timeSource(time)
              .deliveryTimeout(Duration.ofSeconds(3)).build());
      java.util.concurrent.CompletableFuture<Void> a = buffer.submit("a");
      while (!a.isDone()) { // each backoff parks on the clock; the third would cross the deadline
        time.awaitTimedWaiters(1, WAIT);
        time.advance(second);
        await().atMost(WAIT).until(() -> a.isDone() || time.timedWaiters() == 1);
      }
      buffer.close();

      await().atMost(WAIT).until(() -> flushes(events).size() == 1);
    }
    assertThat(flushes(events)).singleElement().satisfies(e -> {
      assertThat(e.getString("buffer")).isEqualTo("jfr-expiry");
      assertThat(e.getString("outcome")).isEqualTo("expired");
    });
  }

  @Test
  void aFlowControlLimitChangeIsRecorded() throws Exception {
    List<RecordedEvent> events = new CopyOnWriteArrayList<>();
    try (RecordingStream stream = new RecordingStream()) {
      stream.enable("dev.batchbuffer.FlowLimit");
      stream.onEvent("dev.batchbuffer.FlowLimit", events::add);
      stream.startAsync();
      java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic
          .AtomicInteger();
      Buffer<String> buffer = Buffer.start(Config.<String>builder(batch -> {
        if (calls.incrementAndGet() == 2) {
          throw new FlowControlTest.ThrottlingException();
        }
      }).capacity(1).onFlushError((e, batch) -> {}).build(), Options.builder().name("jfr-flow")
          .flowControl(FlowControl.aimd().initialLimit(1).build()).build());
      buffer.add("a"); // a window of one success: 1 -> 2
      buffer.flush().get(30, TimeUnit.SECONDS);
      buffer.add("b"); // throttled: 2 -> 1
      buffer.flush().handle((v, e) -> null).get(30, TimeUnit.SECONDS);
      buffer.close();
      await().atMost(WAIT).until(() -> events.size() == 2);
    }
    assertThat(events).allSatisfy(e -> assertThat(e.getString("buffer")).isEqualTo("jfr-flow"));
    assertThat(events.stream().map(e -> e.getString("cause") + " " + e.getInt("limit")))
        .containsExactly("increase 2", "throttled 1");
  }

  /** A key whose toString throws: rendering it for the event must not fail the flush. */
  record BadKey(int id) {
    @Override
    public String toString() {
      throw new IllegalStateException("no toString for you");
    }
  }

  @Test
  void aKeyThatCannotBeRenderedDoesNotFailTheFlush() throws Exception {
    List<RecordedEvent> events = new CopyOnWriteArrayList<>();
    try (RecordingStream stream = new RecordingStream()) {
      stream.enable("dev.batchbuffer.Flush").withoutThreshold();
      stream.onEvent("dev.batchbuffer.Flush", events::add);
      stream.startAsync();
      for (int maxInFlight : new int[] {1, 2}) {
        dev.batchbuffer.testing.RecordingFlush<String> flushed =
            new dev.batchbuffer.testing.RecordingFlush<>();
        KeyedBuffer<BadKey, String> keyed = KeyedBuffer.<BadKey, String>builder(
                s -> new BadKey(s.length()), (key, batch) -> flushed.flush(batch))
            .policy(FlushPolicy.count(1)).maxInFlight(maxInFlight).name("bad-key").start();
        keyed.add("a");
        keyed.close();
        assertThat(flushed.items()).containsExactly("a");
        assertThat(keyed.stats().flushed()).isEqualTo(1);
        assertThat(keyed.stats().state()).isEqualTo(BufferStats.State.CLOSED);
      }
      await().atMost(WAIT).until(() -> flushes(events).size() == 2);
    }
    assertThat(flushes(events)).allSatisfy(e ->
        assertThat(e.getString("key")).endsWith("BadKey (toString threw)"));
  }

  static List<RecordedEvent> flushes(List<RecordedEvent> events) {
    return events.stream().filter(e -> e.getEventType().getName().equals("dev.batchbuffer.Flush"))
        .toList();
  }

  static List<RecordedEvent> blocked(List<RecordedEvent> events) {
    return events.stream()
        .filter(e -> e.getEventType().getName().equals("dev.batchbuffer.ProducerBlocked")).toList();
  }
}
