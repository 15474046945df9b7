package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchbuffer.examples.pubsub.LocalPubSub;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The demo with {@code --backend pubsub}: it starts the Pub/Sub emulator itself, publishes every
 * order in REST {@code publish} requests, pulls them all back and reports OK. Skips itself, saying
 * why, where no emulator can be had.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class PubSubDemoIT {

  @Test
  void demoOnPubSubPullsBackEveryOrderAndReportsOk() throws Exception {
    Optional<String> why = LocalPubSub.unavailable();
    assumeTrue(why.isEmpty(), () -> "PubSubDemoIT skipped: " + why.orElse(""));
    String report = DemoRun.succeeding("--backend", "pubsub", "--items", "5000", "--producers", "4",
        "--capacity", "500", "--slice", "100");
    assertThat(report)
        .contains("-> Pub/Sub emulator on ")
        .contains("one REST publish request each")
        .contains("accepted          5,000 (failed 0, rejected 0, waiting 0)")
        .contains("check             OK: subscription has 5,000 messages (expected 5,000)")
        .containsPattern("speed-up +\\d+x");
  }
}
