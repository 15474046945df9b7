package dev.batchbuffer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.Async;
import dev.batchbuffer.TestConstants;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The rate limiter's bucket, on the manual clock: a full bucket lets a burst of one second's rate
 * through, it refills at its rate and never above the burst, and a debt is repaid by the wait it
 * reports. The clock starts far from zero so that elapsed time is told apart from the reading.
 */
class TokenBucketTest {
  static final long SECOND = 1_000_000_000L;

  final ManualTimeSource time = new ManualTimeSource(7 * SECOND);

  @Test
  void aFullBucketLetsOneSecondsWorthThroughWithoutWaiting() {
    TokenBucket bucket = new TokenBucket(10, time);
    for (int i = 0; i < 10; i++) {
      assertThat(bucket.take(1)).as("token %d", i).isZero();
    }
    assertThat(bucket.take(1)).isEqualTo(SECOND / 10);
  }

  @Test
  void itRefillsAtItsRate() {
    TokenBucket bucket = new TokenBucket(10, time);
    assertThat(bucket.take(10)).isZero();
    time.advance(Duration.ofMillis(500));
    assertThat(bucket.take(5)).isZero();
    assertThat(bucket.take(1)).isEqualTo(SECOND / 10);
  }

  @Test
  void itNeverHoldsMoreThanTheBurst() {
    TokenBucket bucket = new TokenBucket(10, time);
    time.advance(Duration.ofSeconds(60));
    assertThat(bucket.take(10)).isZero();
    assertThat(bucket.take(1)).isEqualTo(SECOND / 10);
  }

  @Test
  void aDebtIsRepaidByTheWaitItReports() {
    TokenBucket bucket = new TokenBucket(10, time);
    assertThat(bucket.take(30)).as("20 tokens short at 10/s").isEqualTo(2 * SECOND);
    time.advance(Duration.ofSeconds(2));
    assertThat(bucket.take(0)).as("repaid").isZero();
    assertThat(bucket.take(1)).isEqualTo(SECOND / 10);
  }

  @Test
  void aRateBelowOnePerSecondStillAllowsOneAtATime() {
    TokenBucket bucket = new TokenBucket(0.5, time);
    assertThat(bucket.take(1)).isZero();
    assertThat(bucket.take(1)).isEqualTo(2 * SECOND);
  }

  @Test
  void anInfiniteRateNeverWaits() {
    TokenBucket bucket = new TokenBucket(Double.POSITIVE_INFINITY, time);
    assertThat(bucket.take(1e12)).isZero();
    assertThat(bucket.take(1e12)).isZero();
  }

  @Test
  void aTakeOnOneThreadLeavesTheBucketFreeForAnother() throws Exception {
    TokenBucket bucket = new TokenBucket(10, time);
    assertThat(bucket.take(1)).isZero();
    assertThat(Async.call(() -> bucket.take(1))
        .get(TestConstants.WAIT.toMillis(), TimeUnit.MILLISECONDS)).isZero();
  }
}
