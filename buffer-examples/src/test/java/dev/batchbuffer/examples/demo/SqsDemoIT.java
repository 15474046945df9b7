package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code --backend sqs}: the demo starts ElasticMQ, sends every order and receives each once. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SqsDemoIT {

  @Test
  void demoOnSqsDeliversEveryOrderOnceAndReportsTheSpeedUp() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = Demo.run(new String[] {"--backend", "sqs", "--items", "3000", "--producers", "4",
        "--slice", "200"}, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    String report = out.toString(StandardCharsets.UTF_8);
    System.out.println(report);
    assertThat(status).as(report + err.toString(StandardCharsets.UTF_8)).isZero();
    assertThat(report)
        .contains("ElasticMQ (in-process) at http://127.0.0.1:")
        .contains("one SendMessageBatch request")
        .contains("check             OK: table has 3,000 rows (expected 3,000)")
        .contains("0 duplicates")
        .contains("accepted          3,000 (failed 0, rejected 0, waiting 0)")
        .containsPattern("speed-up +\\d+x");
  }
}
