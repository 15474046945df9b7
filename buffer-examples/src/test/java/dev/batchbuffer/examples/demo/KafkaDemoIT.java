package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code --backend kafka}: the demo starts its own broker, sends every order through the buffer,
 * reads the topic back with a consumer and reports OK; the broker is stopped at the end.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class KafkaDemoIT {

  @Test
  void demoOnKafkaDeliversEveryOrderOnceAndSaysOk() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int status = Demo.run(new String[] {"--backend", "kafka", "--items", "20000", "--producers", "4",
        "--slice", "50"}, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    String report = out.toString(StandardCharsets.UTF_8);
    System.out.println(report);
    assertThat(status).as(report).isZero();
    assertThat(report)
        .contains("Apache Kafka 4.4.0 (in-process KRaft broker")
        .contains("rows written      20,000")
        .contains("check             OK: table has 20,000 rows (expected 20,000), checksum")
        .contains(", 0 duplicates")
        .containsPattern("speed-up +\\d+x");
  }
}
