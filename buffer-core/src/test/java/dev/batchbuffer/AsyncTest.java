package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The test helpers' side threads: what they throw reaches the test thread instead of dying there. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class AsyncTest {

  @Test
  void anAssertionFailingInAProducerFailsJoinAll() {
    Async.Producers producers = new Async.Producers();
    producers.start("fine", () -> {});
    producers.start("failing", () -> assertThat(1).as("a producer's check").isEqualTo(2));
    producers.start("platform", false, () -> {
      throw new IllegalStateException("second failure");
    });
    assertThatThrownBy(() -> producers.joinAll(WAIT))
        .isInstanceOf(AssertionError.class)
        .hasMessageStartingWith("2 producer(s) failed")
        .satisfies(e -> assertThat(e.getCause()).isInstanceOf(AssertionError.class))
        .satisfies(e -> assertThat(e.getSuppressed()).hasSize(1));
  }

  @Test
  void aProducerThatDoesNotEndFailsJoinAllInsteadOfHanging() {
    CountDownLatch never = new CountDownLatch(1);
    Async.Producers producers = new Async.Producers();
    producers.start("stuck", never::await);
    try {
      assertThatThrownBy(() -> producers.joinAll(Duration.ofMillis(20)))
          .isInstanceOf(AssertionError.class).hasMessage("stuck did not end within PT0.02S");
    } finally {
      never.countDown();
    }
  }

  @Test
  void callAndRunHandTheirFailureToTheFuture() {
    assertThat(Async.call(() -> 42)).succeedsWithin(WAIT).isEqualTo(42);
    assertThat(Async.run(() -> {
      throw new java.io.IOException("down");
    })).failsWithin(WAIT).withThrowableOfType(ExecutionException.class)
        .havingCause().isInstanceOf(java.io.IOException.class).withMessage("down");
    assertThat(Async.outcome(() -> {
      throw new IllegalStateException("closed");
    })).succeedsWithin(WAIT).isInstanceOf(IllegalStateException.class);
    assertThat(Async.outcome(() -> {})).succeedsWithin(WAIT).isInstanceOf(AssertionError.class);
  }
}
