package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Runs the demo in the test's JVM, as the backend tests of the demo all do. */
final class DemoRun {
  private DemoRun() {}

  /**
   * Runs {@code Demo} with {@code args}, prints its report, and checks that it exited with 0 (the
   * backend holds exactly what was produced), showing the report and errors otherwise.
   *
   * @return the report
   */
  static String succeeding(String... args) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = Demo.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    String report = out.toString(StandardCharsets.UTF_8);
    System.out.println(report);
    assertThat(status).as(report + err.toString(StandardCharsets.UTF_8)).isZero();
    return report;
  }
}
