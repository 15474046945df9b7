package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchbuffer.examples.kinesis.LocalKinesis;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The demo with {@code --backend kinesis}: it starts kinesalite itself, writes every order through
 * {@code PutRecords}, reads every shard back and reports OK. Skips itself, saying why, where
 * {@code node} or {@code npm} is missing.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class KinesisDemoIT {

  @Test
  void demoOnKinesisReadsBackEveryOrderAndReportsOk() throws Exception {
    Optional<String> why = LocalKinesis.unavailable();
    assumeTrue(why.isEmpty(), () -> "KinesisDemoIT skipped: " + why.orElse(""));
    String report = DemoRun.succeeding("--backend", "kinesis", "--items", "5000", "--producers",
        "4", "--capacity", "500", "--slice", "100");
    assertThat(report)
        .contains("-> Kinesis (kinesalite, 4 shards) on 127.0.0.1:")
        .contains("one PutRecords request each")
        .contains("accepted          5,000 (failed 0, rejected 0, waiting 0)")
        .contains("check             OK: stream has 5,000 records (expected 5,000)")
        .containsPattern("speed-up +\\d+x");
  }
}
