package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The demo with {@code --backend postgres}, end to end: it starts PostgreSQL on 127.0.0.1, writes
 * every order through the JDBC sink, reads them back (the check says OK), compares with one row
 * per transaction, and stops the server.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DemoPostgresIT {

  @Test
  void demoOnPostgresWritesEveryRowAndReportsTheSpeedUp() throws Exception {
    String report = DemoRun.succeeding("--backend", "postgres", "--items", "20000", "--producers",
        "4", "--capacity", "250", "--slice", "50");
    assertThat(report)
        .containsPattern("-> PostgreSQL 14 \\(embedded\\) on 127\\.0\\.0\\.1:\\d+, up in \\d+ ms")
        .contains("rows written      20,000")
        .contains("accepted          20,000 (failed 0, rejected 0, waiting 0)")
        .contains("check             OK: table has 20,000 rows (expected 20,000)")
        .containsPattern("mean batch size   [0-9.]+ \\(min \\d+, max (250|2[0-4]\\d|1?\\d{1,2})\\)")
        .containsPattern("oldest at flush   p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms")
        .containsPattern("speed-up +\\d+x");
  }
}
