package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded randomized properties of count and byte policies, for Buffer and per key for KeyedBuffer.
 * Each case's seed is in its name and in every assertion message; to replay one, run
 * {@code ./mvnw -pl buffer-core test -Dtest=PolicyPropertyTest -Dbatchbuffer.seed=<seed>}.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PolicyPropertyTest {

  static LongStream seeds() {
    String replay = System.getProperty("batchbuffer.seed");
    if (replay != null) {
      return LongStream.of(Long.parseLong(replay));
    }
    long base = 0x5eed_2026L;
    return LongStream.range(0, 40).map(i -> base + i * 7919);
  }

  /** An item: its position in the input, its key and its weight. */
  record Item(int seq, int key, int weight) {}

  /** A random scenario. */
  record Scenario(long seed, int maxItems, long maxBytes, Oversize oversize, List<Item> input) {
    static Scenario random(long seed, int keys) {
      SplittableRandom r = new SplittableRandom(seed);
      int maxItems = r.nextInt(4) == 0 ? Integer.MAX_VALUE : 1 + r.nextInt(40);
      long maxBytes = 1L + r.nextInt(200);
      Oversize oversize = r.nextBoolean() ? Oversize.REJECT : Oversize.SEND_ALONE;
      int n = 200 + r.nextInt(2000);
      List<Item> input = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        int w = r.nextInt(10) == 0 ? (int) maxBytes + r.nextInt(50) : r.nextInt((int) Math.min(maxBytes, 60) + 1);
        input.add(new Item(i, r.nextInt(keys), w));
      }
      return new Scenario(seed, maxItems, maxBytes, oversize, input);
    }

    FlushPolicy<Item> policy() {
      FlushPolicy<Item> bytes = FlushPolicy.bytes(Item::weight, maxBytes, maxBytes, oversize);
      return maxItems == Integer.MAX_VALUE ? bytes : FlushPolicy.<Item>count(maxItems).or(bytes);
    }

    boolean oversized(Item item) {
      return item.weight() > maxBytes;
    }

    /** Checks one stream of batches (a whole buffer, or one key) against its input. */
    void check(List<List<Item>> batches, List<Item> input, List<Item> rejected) {
      String why = "seed " + seed + " (" + this.policy() + ")";
      List<Item> expectedFlushed = input.stream()
          .filter(i -> !(oversized(i) && oversize == Oversize.REJECT)).toList();
      assertThat(batches.stream().flatMap(List::stream).toList()).as(why).isEqualTo(expectedFlushed);
      assertThat(rejected).as(why)
          .isEqualTo(input.stream().filter(i -> oversized(i) && oversize == Oversize.REJECT).toList());
      for (int b = 0; b < batches.size(); b++) {
        List<Item> batch = batches.get(b);
        long weight = batch.stream().mapToLong(Item::weight).sum();
        boolean lone = batch.size() == 1 && oversized(batch.get(0));
        assertThat(batch.size()).as(why).isLessThanOrEqualTo(maxItems);
        if (!lone) {
          assertThat(weight).as(why + ", batch " + b).isLessThanOrEqualTo(maxBytes);
        }
        // The running weight is exact: a batch closed before the input ran out was closed for a
        // reason the recomputed weight confirms (full count, full bytes, the next item would not
        // fit, or a lone oversize item on either side).
        if (b + 1 < batches.size()) {
          Item next = batches.get(b + 1).get(0);
          boolean reason = batch.size() == maxItems || weight >= maxBytes || lone || oversized(next)
              || weight + next.weight() > maxBytes;
          assertThat(reason).as(why + ": batch " + b + " " + batch + " closed early before " + next)
              .isTrue();
        }
      }
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void bufferBatchesRespectTheLimitsAndKeepTheInputInOrder(long seed) throws Exception {
    Scenario s = Scenario.random(seed, 1);
    Ledger<Item> ledger = new Ledger<>();
    Config<Item> config = Config.builder(ledger.flushed).policy(s.policy())
        .flushInterval(Duration.ofHours(1)).chanSize(1 + (int) (seed % 64)).onReject(ledger::onReject).build();
    try (Buffer<Item> buffer = Buffer.start(config)) {
      for (Item item : s.input()) {
        buffer.add(item);
        ledger.accepted.incrementAndGet();
      }
    }
    s.check(ledger.flushed.batches(), s.input(), List.copyOf(ledger.rejected));
    ledger.assertBalanced();
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void keyedBatchesRespectTheLimitsPerKey(long seed) throws Exception {
    Scenario s = Scenario.random(seed, 1 + (int) (seed % 5));
    Map<Integer, List<List<Item>>> batchesByKey = new HashMap<>();
    List<Item> rejected = new CopyOnWriteArrayList<>();
    KeyedFlushFunc<Integer, Item> flush = (key, batch) -> {
      synchronized (batchesByKey) {
        batchesByKey.computeIfAbsent(key, k -> new ArrayList<>()).add(batch);
      }
    };
    try (KeyedBuffer<Integer, Item> buffer = KeyedBuffer.builder(Item::key, flush).policy(s.policy())
        .flushInterval(Duration.ofHours(1)).onReject(rejected::add).start()) {
      for (Item item : s.input()) {
        buffer.add(item);
      }
    }
    synchronized (batchesByKey) {
      for (int key : s.input().stream().map(Item::key).distinct().toList()) {
        List<Item> keyInput = s.input().stream().filter(i -> i.key() == key).toList();
        List<Item> keyRejected = rejected.stream().filter(i -> i.key() == key).toList();
        s.check(batchesByKey.getOrDefault(key, List.of()), keyInput, keyRejected);
      }
    }
  }
}
