package dev.batchbuffer;

import java.util.List;
import java.util.SplittableRandom;

/**
 * One seed's configuration for {@link StatefulPropertyTest}: the kind of buffer, its policy,
 * bounds, middleware and which callbacks throw, and the rules that follow from them for each item
 * (its weight, its key, whether the producer or the loop refuses it). Items are positive longs;
 * every rule is a function of the item alone, so the model can predict it.
 *
 * @param seed the seed that chose everything
 * @param keyed a {@link KeyedBuffer} rather than a {@link Buffer}
 * @param keys how many keys (item % keys)
 * @param perKeyPolicy keyed: a policy function per key rather than one policy for all
 * @param maxKeys keyed: the most live keys
 * @param maxBufferedItems keyed: the most items across batches
 * @param maxInFlight flushes at once
 * @param policy the kind of flush policy
 * @param count the count limit of COUNT and COUNT_AND_BYTES
 * @param maxBytes the byte limit of BYTES and COUNT_AND_BYTES
 * @param maxItemBytes their per-item limit
 * @param oversize their rule for items above it
 * @param veto a canAdd condition refuses items with {@code item % 11 == 3}
 * @param memoryBound the maxBufferedBytes bound (weights {@code item % 5 + 1}), 0 for none
 * @param retryAttempts attempts of the retry middleware, 0 for none
 * @param retryBackoffMillis its backoff on the manual clock
 * @param timeoutMillis the timeout middleware's limit on the manual clock, 0 for none
 * @param breakerThreshold the circuit breaker's threshold, 0 for none
 * @param breakerWaits whether the breaker holds batches while open rather than failing them
 * @param throwing the weigher, key function, policy function, onReject, onFlushError, listener
 *     and periodic task throw for some items or calls
 * @param chanSize the channel bound
 * @param lingerMillis the flush interval
 * @param periodMillis the period of the periodic task
 * @param holdPercent how many backend calls wait for the test to release them
 * @param steps how many operations the test drives
 */
record StatefulScenario(long seed, boolean keyed, int keys, boolean perKeyPolicy, int maxKeys,
    long maxBufferedItems, int maxInFlight, Policy policy, int count, long maxBytes,
    long maxItemBytes, Oversize oversize, boolean veto, long memoryBound, int retryAttempts,
    long retryBackoffMillis, long timeoutMillis, int breakerThreshold, boolean breakerWaits,
    boolean throwing, int chanSize, long lingerMillis, long periodMillis, int holdPercent,
    int steps) {

  /** The flush policies a seed may choose. */
  enum Policy { COUNT, BYTES, COUNT_AND_BYTES, SQS_PRESET, KAFKA_PRESET }

  /** The weight unit of the SQS preset: items of 150 KB to 1.05 MB against its 1 MiB limits. */
  static final long SQS_UNIT = 150_000;
  /** The Kafka preset's batch.size and max.request.size, in weight units. */
  static final long KAFKA_BATCH = 5;
  static final long KAFKA_MAX_REQUEST = 6;

  /** What a callback of the test throws when the scenario says it fails. */
  static final class CallbackFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    CallbackFailure(String message) {
      super(message);
    }
  }

  static StatefulScenario of(long seed, int steps) {
    SplittableRandom r = new SplittableRandom(seed);
    boolean keyed = r.nextInt(5) < 2;
    int keys = 1 + r.nextInt(4);
    Policy policy = Policy.values()[r.nextInt(Policy.values().length)];
    long maxBytes = 4L + r.nextInt(13);
    long maxItemBytes = r.nextBoolean() ? maxBytes : Math.max(1, maxBytes - 1 - r.nextInt(4));
    Oversize oversize = List.of(Oversize.REJECT, Oversize.SEND_ALONE, Oversize.FAIL_FAST)
        .get(r.nextInt(3));
    boolean retry = r.nextInt(3) == 0;
    return new StatefulScenario(seed, keyed, keys, keyed && r.nextBoolean(),
        keyed && r.nextInt(3) == 0 ? 1 + r.nextInt(keys) : KeyedBuffer.DEFAULT_MAX_KEYS,
        keyed && r.nextInt(3) == 0 ? 2 + r.nextInt(8) : Long.MAX_VALUE,
        1 + r.nextInt(4), policy, 1 + r.nextInt(6), maxBytes, maxItemBytes, oversize,
        r.nextInt(3) == 0, r.nextInt(3) == 0 ? 6 + r.nextInt(15) : 0,
        retry ? 2 + r.nextInt(2) : 0, retry && r.nextBoolean() ? 10 : 0,
        r.nextInt(4) == 0 ? 50 : 0, r.nextInt(4) == 0 ? 2 + r.nextInt(2) : 0, r.nextInt(3) == 0,
        r.nextBoolean(), 1 + r.nextInt(12), 10 + r.nextInt(190), 50 + r.nextInt(1950),
        r.nextInt(45), steps);
  }

  /** The weight of an item by the policy's weigher. */
  long weight(long item) {
    long units = item % 7 + 1;
    return policy == Policy.SQS_PRESET ? units * SQS_UNIT : units;
  }

  /** The policy's weigher: throws for some items when the scenario throws. */
  long weigh(long item) {
    if (weigherThrows(item)) {
      throw new CallbackFailure("weigher fails on " + item);
    }
    return weight(item);
  }

  boolean weigherThrows(long item) {
    return throwing && item % 97 == 5;
  }

  /** The weight under the memory bound. */
  long memoryWeight(long item) {
    return item % 5 + 1;
  }

  long weighMemory(long item) {
    if (memoryWeigherThrows(item)) {
      throw new CallbackFailure("memory weigher fails on " + item);
    }
    return memoryWeight(item);
  }

  boolean memoryWeigherThrows(long item) {
    return memoryBound > 0 && throwing && item % 101 == 9;
  }

  /** The key of an item (keyed); the key function throws for some items when the scenario throws. */
  long keyOf(long item) {
    if (keyed && throwing && item % 89 == 7) {
      throw new CallbackFailure("key function fails on " + item);
    }
    return keyed ? item % keys : 0;
  }

  /** The key an item is ordered under: its key, or -1 if the key function fails on it. */
  long orderKey(long item) {
    return keyed && throwing && item % 89 == 7 ? -1 : keyed ? item % keys : 0;
  }

  /** Whether the per-key policy function fails for {@code key}. */
  boolean policyFunctionThrows(long key) {
    return keyed && perKeyPolicy && throwing && key == 2;
  }

  boolean vetoed(long item) {
    return veto && item % 11 == 3;
  }

  boolean weighs() {
    return policy != Policy.COUNT;
  }

  /** Whether the producer weighs against a FAIL_FAST per-item limit. */
  boolean failFastOnProducer() {
    return byteRule() && oversize == Oversize.FAIL_FAST && !(keyed && perKeyPolicy);
  }

  private boolean byteRule() {
    return policy == Policy.BYTES || policy == Policy.COUNT_AND_BYTES;
  }

  /**
   * What the producer's call throws for this item whatever the buffer's state, or null: a failing
   * weigher or a fail-fast limit, on the producer's thread.
   */
  @org.jspecify.annotations.Nullable Class<? extends RuntimeException> producerRefusal(long item) {
    if (failFastOnProducer()) {
      if (weigherThrows(item)) {
        return CallbackFailure.class;
      }
      if (weight(item) > maxItemBytes) {
        return IllegalArgumentException.class;
      }
    }
    if (memoryWeigherThrows(item)) {
      return CallbackFailure.class;
    }
    return null;
  }

  /** Whether the loop hands this item to onReject once it takes it. */
  boolean loopRejects(long item) {
    if (orderKey(item) < 0 || policyFunctionThrows(orderKey(item))) {
      return true;
    }
    if (weighs() && weigherThrows(item)) {
      return true;
    }
    if (vetoed(item)) {
      return true;
    }
    long w = weight(item);
    return switch (policy) {
      case COUNT -> false;
      case BYTES, COUNT_AND_BYTES -> w > maxItemBytes && oversize != Oversize.SEND_ALONE;
      case SQS_PRESET -> w > Presets.SQS_MAX_MESSAGE_BYTES;
      case KAFKA_PRESET -> w > KAFKA_MAX_REQUEST;
    };
  }

  /** The most items a batch may hold. */
  int countLimit() {
    return switch (policy) {
      case COUNT, COUNT_AND_BYTES -> count;
      case SQS_PRESET -> Presets.SQS_MAX_ENTRIES;
      case BYTES, KAFKA_PRESET -> Integer.MAX_VALUE;
    };
  }

  /** Why {@code batch} breaks the policy's limits, or null if it keeps them. */
  @org.jspecify.annotations.Nullable String limitBroken(List<Long> batch) {
    if (batch.isEmpty()) {
      return "an empty batch";
    }
    if (batch.size() > countLimit()) {
      return batch.size() + " items, above the count limit " + countLimit();
    }
    long limit = switch (policy) {
      case COUNT -> Long.MAX_VALUE;
      case BYTES, COUNT_AND_BYTES -> maxBytes;
      case SQS_PRESET -> Presets.SQS_MAX_REQUEST_BYTES;
      case KAFKA_PRESET -> KAFKA_BATCH;
    };
    long bytes = 0;
    for (long item : batch) {
      bytes += weight(item);
    }
    boolean alone = batch.size() == 1 && (policy == Policy.KAFKA_PRESET
        || (byteRule() && oversize == Oversize.SEND_ALONE && bytes > maxItemBytes));
    if (bytes > limit && !alone) {
      return bytes + " bytes, above the byte limit " + limit;
    }
    if (byteRule() && batch.size() > 1) {
      for (long item : batch) {
        if (weight(item) > maxItemBytes) {
          return "item " + item + " of " + weight(item) + " bytes, above the per-item limit "
              + maxItemBytes + ", shares a batch";
        }
      }
    }
    return null;
  }

  /** The policy of the scenario, with the veto if any. */
  FlushPolicy<Long> flushPolicy() {
    Weigher<Long> w = this::weigh;
    FlushPolicy<Long> p = switch (policy) {
      case COUNT -> FlushPolicy.count(count);
      case BYTES -> FlushPolicy.bytes(w, maxBytes, maxItemBytes, oversize);
      case COUNT_AND_BYTES -> FlushPolicy.<Long>count(count)
          .or(FlushPolicy.bytes(w, maxBytes, maxItemBytes, oversize));
      case SQS_PRESET -> Presets.sqsSendMessageBatch(w);
      case KAFKA_PRESET -> Presets.kafkaBatch(w, KAFKA_BATCH, KAFKA_MAX_REQUEST);
    };
    if (veto) {
      p = p.or(FlushPolicy.custom((batch, item) -> false, (batch, item) -> !vetoed(item),
          batch -> false));
    }
    return p;
  }
}
