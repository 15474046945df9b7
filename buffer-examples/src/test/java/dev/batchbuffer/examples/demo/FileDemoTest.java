package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code --backend file}: the demo appends every order to a log file and reads it back intact. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FileDemoTest {

  @Test
  void demoOnTheFileBackendWritesEveryOrderOnceAndSaysOk() throws Exception {
    String report = DemoRun.succeeding("--backend", "file", "--items", "20000", "--producers", "4",
        "--capacity", "250", "--slice", "20");
    assertThat(report)
        .contains("append-only log file")
        .contains("rows written      20,000")
        .contains("check             OK: file has 20,000 lines (expected 20,000)")
        .containsPattern("speed-up +\\d+x");
  }
}
