package dev.batchbuffer.examples.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Collection;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * CI's smoke of the benchmark suite: every benchmark runs briefly, in this JVM, and its teardown
 * check (flushes saw exactly the items added) holds. Not a measurement: see the README for that.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class BenchmarkSmokeTest {

  @Test
  void everyBenchmarkRunsAndVerifiesItsItems() throws Exception {
    // A smoke run measures nothing, so a benchmark running beside it (JMH's lock) must not fail it.
    System.setProperty("jmh.ignoreLock", "true");
    Options options = new OptionsBuilder()
        .include(AddFlushBenchmark.class.getSimpleName())
        .include(PolicyCostBenchmark.class.getSimpleName())
        .include(StatsCostBenchmark.class.getSimpleName())
        .forks(0)
        .warmupIterations(0)
        .measurementIterations(1)
        .measurementTime(TimeValue.milliseconds(300))
        .shouldFailOnError(true)
        .build();
    Collection<RunResult> results = new Runner(options).run();
    assertThat(results).hasSize(10).allSatisfy(r ->
        assertThat(r.getPrimaryResult().getScore()).isPositive());
  }
}
