package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code --backend sqs}: the demo starts ElasticMQ, sends every order and receives each once. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SqsDemoIT {

  @Test
  void demoOnSqsDeliversEveryOrderOnceAndReportsTheSpeedUp() throws Exception {
    String report = DemoRun.succeeding("--backend", "sqs", "--items", "3000", "--producers", "4",
        "--slice", "200");
    assertThat(report)
        .contains("ElasticMQ (in-process) at http://127.0.0.1:")
        .contains("one SendMessageBatch request")
        .contains("check             OK: queue has 3,000 messages (expected 3,000)")
        .contains("0 duplicates")
        .contains("accepted          3,000 (failed 0, rejected 0, waiting 0)")
        .containsPattern("speed-up +\\d+x");
  }
}
