package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A backend whose server cannot start here makes the demo say why in one line and exit with 3,
 * without a stack trace: {@link DemoBackends.Unavailable}, as thrown when node or the Pub/Sub
 * emulator is missing.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class UnavailableBackendTest {

  @Test
  void unavailableBackendSaysWhyAndExitsWith3() throws Exception {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    String previous = System.getProperty("batchbuffer.pubsub.emulator.jar");
    System.setProperty("batchbuffer.pubsub.emulator.jar", "/nonexistent/emulator.jar");
    int status;
    try {
      status = Demo.run(new String[] {"--backend", "pubsub"},
          new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
          new PrintStream(err, true, StandardCharsets.UTF_8));
    } finally {
      if (previous == null) {
        System.clearProperty("batchbuffer.pubsub.emulator.jar");
      } else {
        System.setProperty("batchbuffer.pubsub.emulator.jar", previous);
      }
    }
    String text = err.toString(StandardCharsets.UTF_8);
    if (System.getenv("PUBSUB_EMULATOR_HOST") == null) {
      assertThat(status).as(text).isEqualTo(3);
      assertThat(text).startsWith("demo: backend pubsub cannot run here: no Pub/Sub emulator")
          .doesNotContain("Exception");
    } else {
      assertThat(text).doesNotContain("cannot run here"); // the env var's emulator is used
    }
  }
}
