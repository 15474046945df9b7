package dev.batchbuffer.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.FlowControl;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.KeyedBuffer;
import dev.batchbuffer.Options;
import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.ScriptedFlush;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link BufferMetrics} on a {@link SimpleMeterRegistry}. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BufferMetricsTest {
  final ManualTimeSource time = new ManualTimeSource();
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  double counter(String name, String... tags) {
    return registry.get(name).tags(tags).functionCounter().count();
  }

  double gauge(String name) {
    return registry.get(name).gauge().value();
  }

  @Test
  void itemsExpiredCountsTheItemsWhoseDeliveryTimeoutPassedAmongTheFailed() throws Exception {
    dev.batchbuffer.FlushFunc<String> down = batch -> {
      throw new IOException("throttled");
    };
    Buffer<String> buffer = Buffer.start(Config.builder(dev.batchbuffer.FlushMiddleware.chain(down,
            dev.batchbuffer.FlushMiddleware.<String>retry(dev.batchbuffer.RetryPolicy.builder()
                .maxAttempts(10).backoff(Duration.ofSeconds(1), Duration.ofSeconds(1)).jitter(0)
                .build(), time)))
        .capacity(2).flushInterval(Duration.ofSeconds(1)).onFlushError((e, batch) -> {}).build(),
        Options.builder().timeSource(time).deliveryTimeout(Duration.ofSeconds(2)).build());
    BufferMetrics.of(buffer).bindTo(registry);
    java.util.concurrent.CompletableFuture<Void> a = buffer.submit("a");
    buffer.add("b"); // full: the first attempt fails at t0, the retry waits until t1
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .until(() -> buffer.stats().itemsFlushing() == 2);
    time.awaitTimedWaiters(1, Duration.ofSeconds(10));
    time.advance(Duration.ofSeconds(1)); // the second attempt fails; a third would start at t2
    assertThat(a).failsWithin(Duration.ofSeconds(10));
    buffer.close();
    assertThat(counter("batchbuffer.items.expired")).isEqualTo(2);
    assertThat(counter("batchbuffer.items.failed")).isEqualTo(2);
  }

  @Test
  void metersFollowTheStatsWithMicrometerNamesUnitsAndTags() throws Exception {
    // Each flush takes 4 ms of the manual clock; the second call fails.
    ScriptedFlush<String> script = ScriptedFlush.<String>builder()
        .succeed().fail(new IOException("down")).build();
    Config<String> config = Config.builder((java.util.List<String> batch) -> {
      time.advance(Duration.ofMillis(4));
      script.flush(batch);
    }).policy(FlushPolicy.<String>count(2).or(FlushPolicy.bytes(String::length, 100)))
        .canAdd((batch, item) -> !item.isEmpty()).onFlushError((e, batch) -> {})
        .flushInterval(Duration.ofHours(1)).build();
    Buffer<String> buffer = Buffer.start(config,
        Options.builder().name("orders").timeSource(time).build());
    BufferMetrics.of(buffer, Tags.of("app", "shop")).bindTo(registry);
    for (String s : new String[] {"ab", "cd", "", "ef", "gh", "ij"}) {
      buffer.add(s);
    }
    script.awaitCalls(2, Duration.ofSeconds(10));
    // The second call has been made; its outcome is counted when the buffer settles it, just after.
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .until(() -> buffer.stats().failed() == 2);

    assertThat(registry.getMeters()).allSatisfy(m -> {
      assertThat(m.getId().getName()).startsWith("batchbuffer.");
      assertThat(m.getId().getTag("buffer")).isEqualTo("orders");
      assertThat(m.getId().getTag("app")).isEqualTo("shop");
    });
    assertThat(counter("batchbuffer.items.accepted")).isEqualTo(6);
    assertThat(counter("batchbuffer.items.flushed")).isEqualTo(2);
    assertThat(counter("batchbuffer.items.failed")).isEqualTo(2);
    assertThat(counter("batchbuffer.items.rejected")).isEqualTo(1);
    assertThat(counter("batchbuffer.flushes", "reason", "count")).isEqualTo(2);
    assertThat(counter("batchbuffer.flushes", "reason", "time")).isZero();
    assertThat(gauge("batchbuffer.batch.size.max")).isEqualTo(2);
    assertThat(gauge("batchbuffer.state")).isZero();
    FunctionTimer timer = registry.get("batchbuffer.flush.duration").functionTimer();
    assertThat(timer.count()).isEqualTo(2);
    assertThat(timer.totalTime(TimeUnit.MILLISECONDS)).isEqualTo(8);
    TimeGauge max = registry.get("batchbuffer.flush.duration.max").timeGauge();
    assertThat(max.value(TimeUnit.MILLISECONDS)).isEqualTo(4);
    assertThat(registry.get("batchbuffer.flush.duration.percentile").tag("phi", "0.99")
        .timeGauge().value(TimeUnit.MILLISECONDS)).isEqualTo(4);
    Gauge bytes = registry.get("batchbuffer.bytes.waiting").gauge();
    assertThat(bytes.getId().getBaseUnit()).isEqualTo("bytes");

    buffer.close();
    assertThat(gauge("batchbuffer.items.waiting")).isZero();
    assertThat(counter("batchbuffer.items.flushed")).isEqualTo(3);
    assertThat(counter("batchbuffer.flushes", "reason", "close")).isEqualTo(1);
    assertThat(gauge("batchbuffer.state")).isEqualTo(2); // closed
    assertThat(registry.find("batchbuffer.keys").meter()).isNull();
  }

  @Test
  void flowControlLimitRateAndThrottlesAreMeters() throws Exception {
    java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic
        .AtomicInteger();
    Buffer<String> buffer = Buffer.start(Config.<String>builder(batch -> {
      if (calls.incrementAndGet() == 1) {
        throw new software.amazon.awssdk.services.kinesis.model
            .ProvisionedThroughputExceededException();
      }
    }).capacity(1).onFlushError((e, batch) -> {}).build(), Options.builder().name("flow")
        .timeSource(time).flowControl(FlowControl.aimd().initialLimit(8)
            .itemsPerSecond(100, 10, 1_000, 10).build()).build());
    BufferMetrics.of(buffer, Tags.empty()).bindTo(registry);
    assertThat(gauge("batchbuffer.flow.limit")).isEqualTo(8);
    assertThat(gauge("batchbuffer.flow.rate")).isEqualTo(100);
    buffer.add("a");
    buffer.flush().handle((v, e) -> null).get(10, TimeUnit.SECONDS);
    assertThat(gauge("batchbuffer.flow.limit")).isEqualTo(4);
    assertThat(gauge("batchbuffer.flow.rate")).isEqualTo(50);
    assertThat(counter("batchbuffer.flushes.throttled")).isEqualTo(1);
    assertThat(registry.get("batchbuffer.flow.limit").gauge().getId().getBaseUnit())
        .isEqualTo("flushes");
    buffer.close();
  }

  @Test
  void withoutFlowControlItsMetersReadZero() throws Exception {
    Buffer<String> buffer = Buffer.start(Config.<String>builder(batch -> {}).build(),
        Options.builder().timeSource(time).build());
    BufferMetrics.of(buffer, Tags.empty()).bindTo(registry);
    assertThat(gauge("batchbuffer.flow.limit")).isZero();
    assertThat(gauge("batchbuffer.flow.rate")).isZero();
    assertThat(counter("batchbuffer.flushes.throttled")).isZero();
    buffer.close();
  }

  @Test
  void keyedBuffersAddTheLiveKeyGauge() throws Exception {
    KeyedBuffer<Character, String> keyed = KeyedBuffer.<Character, String>builder(
        s -> s.charAt(0), (key, batch) -> {}).name("per-tenant").timeSource(time).start();
    BufferMetrics.of(keyed, Tags.empty()).bindTo(registry);
    keyed.add("a1");
    keyed.add("b1");
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .until(() -> gauge("batchbuffer.keys") == 2);
    keyed.close();
    Meter keys = registry.get("batchbuffer.keys").meter();
    assertThat(keys.getId().getTag("buffer")).isEqualTo("per-tenant");
    assertThat(registry.get("batchbuffer.items.flushed").functionCounter())
        .extracting(FunctionCounter::count).isEqualTo(2.0);
  }

  @Test
  void keyedBuffersReportPausedKeysAndTheirFailedItems() throws Exception {
    KeyedBuffer<Character, String> keyed = KeyedBuffer.<Character, String>builder(
            s -> s.charAt(0), (key, batch) -> {
              if (batch.get(0).endsWith("!")) {
                throw new java.io.IOException("refused");
              }
            }).policy(dev.batchbuffer.FlushPolicy.count(1)).timeSource(time)
        .onFlushError((e, items) -> { })
        .pauseKeyOnFailure(dev.batchbuffer.PauseMode.FAIL_FAST).start();
    BufferMetrics.of(keyed, Tags.empty()).bindTo(registry);
    keyed.add("a!");
    keyed.add("a2");
    keyed.add("b1");
    keyed.close();
    assertThat(gauge("batchbuffer.keys.paused")).isEqualTo(1.0);
    assertThat(registry.get("batchbuffer.items.failed.paused").functionCounter())
        .extracting(FunctionCounter::count).isEqualTo(1.0);
    assertThat(registry.get("batchbuffer.batches.rate.limited").functionCounter())
        .extracting(FunctionCounter::count).isEqualTo(0.0);
  }
}
