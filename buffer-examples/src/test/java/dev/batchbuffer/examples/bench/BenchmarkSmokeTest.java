package dev.batchbuffer.examples.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Collection;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * CI's smoke of the benchmark suite: every benchmark (every peer contender at every producer
 * count included) runs briefly, in this JVM, and its teardown check (flushes saw exactly the items
 * added, in batches of at most 100) holds. Not a measurement: see docs/performance.md for that.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class BenchmarkSmokeTest {

  @Test
  void everyBenchmarkRunsAndVerifiesItsItems() throws Exception {
    Collection<RunResult> results = runBriefly(AddFlushBenchmark.class,
        PolicyCostBenchmark.class, StatsCostBenchmark.class);
    assertThat(results).hasSize(13).allSatisfy(r ->
        assertThat(r.getPrimaryResult().getScore()).isPositive());
  }

  @Test
  void everyPeerAtEveryProducerCountRunsAndVerifiesItsItems() throws Exception {
    Collection<RunResult> results = runBriefly(PeerBenchmark.class);
    assertThat(results).hasSize(Peer.values().length * 3).allSatisfy(r -> {
      assertThat(r.getPrimaryResult().getScore()).isPositive();
      double items = counter(r, "flushedItems");
      double batches = counter(r, "flushedBatches");
      assertThat(batches).as("batches of %s", r.getParams().getParam("contender")).isPositive();
      assertThat(items / batches).as("mean batch of %s", r.getParams().getParam("contender"))
          .isBetween(1.0, 100.0);
    });
    assertThat(results).extracting(r -> r.getParams().getParam("contender")).containsAll(
        Arrays.stream(Peer.values()).map(Peer::label).toList());
  }

  private static double counter(RunResult result, String name) {
    Result<?> counter = result.getSecondaryResults().get(name);
    assertThat(counter).as("the %s counter", name).isNotNull();
    return Objects.requireNonNull(counter).getScore();
  }

  private static Collection<RunResult> runBriefly(Class<?>... benchmarks) throws Exception {
    // A smoke run measures nothing, so a benchmark running beside it (JMH's lock) must not fail it.
    System.setProperty("jmh.ignoreLock", "true");
    OptionsBuilder builder = new OptionsBuilder();
    for (Class<?> benchmark : benchmarks) {
      builder.include(benchmark.getSimpleName());
    }
    Options options = builder
        .forks(0)
        .warmupIterations(0)
        .measurementIterations(1)
        .measurementTime(TimeValue.milliseconds(300))
        .shouldFailOnError(true)
        .build();
    return new Runner(options).run();
  }
}
