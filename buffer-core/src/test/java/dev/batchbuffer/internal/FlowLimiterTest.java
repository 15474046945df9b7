package dev.batchbuffer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.FlowControl;
import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The AIMD arithmetic of {@link FlowLimiter}, on its own: growth by a step per window of
 * successes, capped; a multiplicative cut on throttling, floored; one cut per window however many
 * in-flight flushes report throttling; a new cut for an attempt made after the cut; the rate's
 * growth, cut and pacing on the manual clock.
 */
class FlowLimiterTest {
  private final ManualTimeSource time = new ManualTimeSource();

  private FlowLimiter limiter(FlowControl.Builder b) {
    return new FlowLimiter(b.build(), time, "test");
  }

  @Test
  void limitGrowsByTheIncreaseAfterAWindowOfAsManySuccessesAsTheLimit() {
    FlowLimiter f = limiter(FlowControl.aimd().initialLimit(4).maxLimit(10).increase(2));
    for (int i = 0; i < 3; i++) {
      f.succeeded();
    }
    assertThat(f.limit()).as("three successes are not yet a window of four").isEqualTo(4);
    f.succeeded();
    assertThat(f.limit()).isEqualTo(6);
    for (int i = 0; i < 5; i++) {
      f.succeeded();
    }
    assertThat(f.limit()).as("the window is now six successes").isEqualTo(6);
    f.succeeded();
    assertThat(f.limit()).isEqualTo(8);
  }

  @Test
  void limitNeverGrowsAboveTheMaximum() {
    FlowLimiter f = limiter(FlowControl.aimd().initialLimit(1).maxLimit(3).increase(5));
    for (int i = 0; i < 100; i++) {
      f.succeeded();
    }
    assertThat(f.limit()).isEqualTo(3);
  }

  @Test
  void throttlingMultipliesTheLimitByTheFactorRoundingDown() {
    FlowLimiter f = limiter(FlowControl.aimd().initialLimit(9).maxLimit(20).decreaseFactor(0.7));
    f.throttled(f.generation());
    assertThat(f.limit()).as("9 * 0.7 = 6.3").isEqualTo(6);
    f.throttled(f.generation());
    assertThat(f.limit()).as("6 * 0.7 = 4.2").isEqualTo(4);
  }

  @Test
  void throttlingNeverCutsBelowTheMinimum() {
    FlowLimiter f = limiter(FlowControl.aimd().initialLimit(5).minLimit(3).maxLimit(8));
    for (int i = 0; i < 5; i++) {
      f.throttled(f.generation());
    }
    assertThat(f.limit()).isEqualTo(3);
  }

  @Test
  void aBurstOfThrottledFlushesStartedInOneWindowCutsOnce() {
    FlowLimiter f = limiter(FlowControl.aimd().initialLimit(16).maxLimit(32));
    long startedIn = f.generation();
    for (int i = 0; i < 16; i++) { // sixteen flushes in flight, all throttled
      f.throttled(startedIn);
    }
    assertThat(f.limit()).isEqualTo(8);
    assertThat(f.throttledCount()).as("each is still counted").isEqualTo(16);
  }

  @Test
  void anAttemptAfterTheCutBelongsToTheNewWindowAndMayCutAgain() {
    FlowLimiter f = limiter(FlowControl.aimd().initialLimit(16).maxLimit(32));
    long first = f.throttled(f.generation()); // the first attempt cuts, to 8
    long other = f.throttled(0); // another flush of the old window: no cut
    assertThat(other).isEqualTo(first);
    assertThat(f.limit()).isEqualTo(8);
    f.throttled(first); // the retry of the first flush, made after the cut
    assertThat(f.limit()).isEqualTo(4);
  }

  @Test
  void aCutRestartsTheWindowOfSuccesses() {
    FlowLimiter f = limiter(FlowControl.aimd().initialLimit(4).maxLimit(10));
    f.succeeded();
    f.succeeded();
    f.succeeded();
    f.throttled(f.generation()); // to 2; the three successes before it do not count
    f.succeeded();
    assertThat(f.limit()).isEqualTo(2);
    f.succeeded();
    assertThat(f.limit()).isEqualTo(3);
  }

  @Test
  void rateGrowsPerWindowIsCutOnThrottlingAndStaysWithinItsBounds() {
    FlowLimiter f = limiter(FlowControl.aimd().initialLimit(1).maxLimit(1)
        .itemsPerSecond(100, 40, 130, 20));
    assertThat(f.rate()).isEqualTo(100.0);
    f.succeeded(); // a window of one
    assertThat(f.rate()).isEqualTo(120.0);
    f.succeeded();
    assertThat(f.rate()).as("capped").isEqualTo(130.0);
    f.throttled(f.generation());
    assertThat(f.rate()).isEqualTo(65.0);
    f.throttled(f.generation());
    assertThat(f.rate()).as("floored").isEqualTo(40.0);
  }

  @Test
  void withoutARateNothingWaitsAndTheRateReadsZero() {
    FlowLimiter f = limiter(FlowControl.aimd());
    assertThat(f.reserve(1_000_000)).isZero();
    assertThat(f.rate()).isZero();
  }

  @Test
  void rateLetsTheFirstBatchGoAtOnceAndSpacesTheNextByItsItemsOverTheRate() {
    FlowLimiter f = limiter(FlowControl.aimd().itemsPerSecond(100, 1, 100, 1));
    assertThat(f.reserve(50)).isZero();
    assertThat(f.reserve(10)).as("50 items at 100/s take half a second")
        .isEqualTo(Duration.ofMillis(500).toNanos());
    time.advance(Duration.ofMillis(499));
    assertThat(f.reserve(10)).isEqualTo(Duration.ofMillis(1).toNanos());
    time.advance(Duration.ofMillis(1));
    assertThat(f.reserve(10)).isZero();
    assertThat(f.reserve(10)).isEqualTo(Duration.ofMillis(100).toNanos());
  }

  @Test
  void rateGivesNoCreditForIdleTime() {
    FlowLimiter f = limiter(FlowControl.aimd().itemsPerSecond(10, 1, 10, 1));
    assertThat(f.reserve(10)).isZero();
    time.advance(Duration.ofSeconds(60));
    assertThat(f.reserve(10)).isZero();
    assertThat(f.reserve(10)).as("a minute idle does not allow a burst")
        .isEqualTo(Duration.ofSeconds(1).toNanos());
  }
}
