package dev.batchbuffer.internal;

import java.util.concurrent.atomic.AtomicLongArray;
import org.jspecify.annotations.Nullable;

/**
 * Flush durations in log-linear buckets: 8 per power of two, so a percentile is within 1/8 of the
 * true value. One writer (the loop) and any number of readers; no lock. The 4 KB of buckets are
 * allocated by the first record: a buffer that never flushed does not pay for them.
 */
final class LatencyHistogram {
  /**
   * Values below 8 get a bucket each; above, 8 buckets per power of two from 2^3 to 2^62, the last
   * of which holds {@code Long.MAX_VALUE}.
   */
  static final int BUCKETS = 8 + 60 * 8;

  private volatile @Nullable AtomicLongArray counts;

  /** Returns the bucket of {@code v >= 0}. */
  static int bucket(long v) {
    if (v < 8) {
      return (int) Math.max(0, v);
    }
    int e = 63 - Long.numberOfLeadingZeros(v); // >= 3
    int sub = (int) (v >>> (e - 3)) & 7;
    return (e - 2) * 8 + sub;
  }

  /** Returns the largest value in bucket {@code b}. */
  static long upperBound(int b) {
    if (b < 8) {
      return b;
    }
    int e = b / 8 + 2;
    int sub = b % 8;
    long base = (8L + sub) << (e - 3);
    long width = 1L << (e - 3);
    return base + width - 1; // the last bucket's sum wraps past 2^63 - 1 and back to it exactly
  }

  /** Records one duration. Single writer. */
  void record(long nanos) {
    AtomicLongArray c = counts;
    if (c == null) {
      c = new AtomicLongArray(BUCKETS);
      counts = c;
    }
    int b = bucket(nanos);
    c.lazySet(b, c.get(b) + 1);
  }

  /**
   * Returns the value at quantile {@code q}: the upper bound of the bucket holding it, capped at
   * {@code max}.
   */
  long quantile(double q, long max) {
    AtomicLongArray counts = this.counts;
    if (counts == null) {
      return 0;
    }
    long[] snapshot = new long[BUCKETS];
    long total = 0;
    for (int i = 0; i < BUCKETS; i++) {
      snapshot[i] = counts.get(i);
      total += snapshot[i];
    }
    if (total == 0) {
      return 0;
    }
    long rank = Math.max(1, (long) Math.ceil(q * total));
    long seen = 0;
    for (int i = 0; i < BUCKETS; i++) {
      seen += snapshot[i];
      if (seen >= rank) {
        return Math.min(upperBound(i), max);
      }
    }
    return max;
  }
}
