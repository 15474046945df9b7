package dev.batchbuffer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The flush-latency histogram's buckets and quantiles. */
class LatencyHistogramTest {

  @Test
  void everyValueFallsInABucketWithinAnEighthOfItsUpperBound() {
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < 100_000; i++) {
      long v = random.nextLong(Long.MAX_VALUE >>> random.nextInt(63));
      int b = LatencyHistogram.bucket(v);
      long upper = LatencyHistogram.upperBound(b);
      assertThat(upper).as("value %d, bucket %d", v, b).isGreaterThanOrEqualTo(v);
      assertThat((double) upper - v).as("value %d", v).isLessThanOrEqualTo(v / 8.0 + 1);
      if (b > 0) {
        assertThat(LatencyHistogram.upperBound(b - 1)).as("value %d", v).isLessThan(v);
      }
    }
    assertThat(LatencyHistogram.bucket(Long.MAX_VALUE)).isEqualTo(LatencyHistogram.BUCKETS - 1);
    assertThat(LatencyHistogram.upperBound(LatencyHistogram.bucket(Long.MAX_VALUE)))
        .isEqualTo(Long.MAX_VALUE);
  }

  @Test
  void quantilesAreWithinAnEighthAndCappedAtTheMax() {
    LatencyHistogram h = new LatencyHistogram();
    assertThat(h.quantile(0.5, 0)).isZero();
    for (long ms = 1; ms <= 100; ms++) {
      h.record(ms * 1_000_000);
    }
    long max = 100_000_000;
    assertThat(h.quantile(0.5, max)).isBetween(50_000_000L, 50_000_000L + 50_000_000L / 8);
    assertThat(h.quantile(0.99, max)).isBetween(99_000_000L, max);
    assertThat(h.quantile(1.0, max)).isEqualTo(max);
  }

  @Test
  void bucketsBelowEightHoldOneValueAndAboveEightValuesPerPowerOfTwo() {
    assertThat(LatencyHistogram.upperBound(0)).isZero();
    assertThat(LatencyHistogram.upperBound(7)).isEqualTo(7);
    assertThat(LatencyHistogram.upperBound(8)).isEqualTo(8);
    assertThat(LatencyHistogram.upperBound(9)).isEqualTo(9);
    assertThat(LatencyHistogram.upperBound(16)).isEqualTo(17);
    assertThat(LatencyHistogram.upperBound(17)).isEqualTo(19);
    assertThat(LatencyHistogram.upperBound(LatencyHistogram.BUCKETS - 2))
        .isEqualTo((15L << 59) - 1);
  }

  @Test
  void aQuantileIsTheBucketThatHoldsItsRankNotTheNextOne() {
    LatencyHistogram h = new LatencyHistogram();
    h.record(1);
    h.record(2);
    assertThat(h.quantile(0.5, 100)).isEqualTo(1);
    assertThat(h.quantile(0.51, 100)).isEqualTo(2);
    assertThat(h.quantile(0.0, 100)).as("the smallest rank is 1").isEqualTo(1);
    assertThat(h.quantile(1.0, 1)).as("capped at the max").isEqualTo(1);
  }
}
