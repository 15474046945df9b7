package dev.batchbuffer.examples.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * CI's smoke of the two peer harnesses: each runs every contender in a tiny mode, in this JVM, and
 * every contender reports sane values (every item flushed, latencies and costs within bounds that
 * only a broken contender or harness would break). Not a measurement.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HarnessSmokeTest {
  private static final long SECOND = 1_000_000_000L;

  @Test
  void latencyHarnessMeasuresEveryContender(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("latency.json");
    List<LatencyHarness.Result> results = LatencyHarness.run(
        new LatencyHarness.Options(List.of(Peer.values()), 0.3, 0, json), System.out);

    assertThat(results).extracting(LatencyHarness.Result::contender)
        .containsExactlyElementsOf(List.of(Peer.values()).stream().map(Peer::label).toList());
    assertThat(results).allSatisfy(r -> {
      assertThat(r.itemLatency().count()).as(r.contender()).isEqualTo(300);
      assertThat(r.batches()).as(r.contender()).isBetween(3, 300);
      assertThat(r.oldestAge().count()).as(r.contender()).isEqualTo(r.batches());
      assertThat(r.itemLatency().p50()).as(r.contender()).isPositive();
      assertThat(r.itemLatency().max()).as(r.contender()).isLessThan(2 * SECOND);
      assertThat(r.oldestAge().max()).as(r.contender()).isLessThan(2 * SECOND);
    });
    // With a 5 ms linger and one item per ms, a contender with a timer makes small batches...
    assertThat(results).filteredOn(r -> !r.contender().equals("nohandoff"))
        .allSatisfy(r -> assertThat(r.batches()).as(r.contender()).isGreaterThan(10));
    // ...and one without waits for the 100th item.
    assertThat(results).filteredOn(r -> r.contender().equals("nohandoff"))
        .singleElement().satisfies(r -> assertThat(r.batches()).isEqualTo(3));
    assertThat(Files.readString(json)).contains("\"harness\": \"latency\"", "\"nohandoff\"",
        "\"itemLatencyNanos\"", "\"oldestAgeNanos\"");
  }

  @Test
  void lifecycleHarnessMeasuresEveryContender(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("lifecycle.json");
    List<LifecycleHarness.Result> results = LifecycleHarness.run(
        new LifecycleHarness.Options(List.of(Peer.values()), 50, 10, 100, 20, 200, json),
        System.out);

    assertThat(results).hasSize(Peer.values().length).allSatisfy(r -> {
      assertThat(r.startClose().count()).as(r.contender()).isEqualTo(50);
      assertThat(r.startClose().p50()).as(r.contender()).isPositive().isLessThan(SECOND);
      assertThat(r.heapInstances()).as(r.contender()).isBetween(20, 100);
      assertThat(r.heapBytesPerInstance()).as(r.contender()).isFinite().isLessThan(10e6);
      assertThat(r.threadsPerInstance()).as(r.contender()).isBetween(-0.5, 2.0);
      assertThat(r.idleCpuPercent()).as(r.contender()).isFinite().isBetween(-100.0, 400.0);
    });
    // The contenders that own a platform thread show it.
    assertThat(results).filteredOn(r -> List.of("jctools", "disruptor", "otel")
        .contains(r.contender())).allSatisfy(r ->
            assertThat(r.threadsPerInstance()).as(r.contender()).isGreaterThan(0.5));
    assertThat(Files.readString(json)).contains("\"harness\": \"lifecycle\"", "\"batchbuffer\"",
        "\"heapBytesPerInstance\"", "\"idleCpuPercentOfOneCore\"");
  }
}
