package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

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
    String report = DemoRun.succeeding("--backend", "kafka", "--items", "20000", "--producers", "4",
        "--slice", "50");
    assertThat(report)
        .contains("Apache Kafka 4.4.0 (in-process KRaft broker")
        .contains("rows written      20,000")
        .contains("check             OK: topic has 20,000 records (expected 20,000), checksum")
        .contains(", 0 duplicates")
        .containsPattern("speed-up +\\d+x");
  }
}
