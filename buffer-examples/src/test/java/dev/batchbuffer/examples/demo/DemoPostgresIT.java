package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
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
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = Demo.run(new String[] {"--backend", "postgres", "--items", "20000",
        "--producers", "4", "--capacity", "250", "--slice", "50"},
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    String report = out.toString(StandardCharsets.UTF_8);
    System.out.println(report);
    assertThat(status).as(report + err.toString(StandardCharsets.UTF_8)).isZero();
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
