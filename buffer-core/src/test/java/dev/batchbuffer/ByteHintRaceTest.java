package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded races against the byte hint: producers weigh each item (some weighers throw, return a
 * negative or oversize weight, or are slow) and the loop sleeps through arrivals that cannot end
 * the batch. Every byte decision (overflow, full by bytes, oversize reject or send-alone, a failing
 * weigher) must be taken on a still {@link ManualTimeSource}, and no item may be lost, duplicated or
 * reordered. Each case's seed is in its name and every message; replay one with
 * {@code ./mvnw -pl buffer-core test -Dtest=ByteHintRaceTest -Dbatchbuffer.seed=<seed>}.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ByteHintRaceTest {
  static final Duration WAIT = Duration.ofSeconds(20);
  /** The weight of an item whose weigher throws. */
  static final long THROWS = Long.MIN_VALUE;

  static LongStream seeds() {
    String replay = System.getProperty("batchbuffer.seed");
    if (replay != null) {
      return LongStream.of(Long.parseLong(replay));
    }
    long base = Long.getLong("batchbuffer.seedBase", System.nanoTime());
    System.out.println("ByteHintRaceTest seed base " + base);
    return LongStream.range(0, 12).map(i -> base + i * 7919);
  }

  /** An item: its producer, its position among that producer's items, and its weight. */
  record Item(int producer, int seq, long weight) {}

  /** The weigher: throws for THROWS, returns the weight as given (negative ones too), some slowly. */
  static long weigh(Item item) {
    if (item.weight() == THROWS) {
      throw new IllegalStateException("no weight for " + item);
    }
    if (item.seq() % 61 == 7) { // a slow weigher, on both sides
      long until = System.nanoTime() + 20_000;
      while (System.nanoTime() - until < 0) {
        Thread.onSpinWait();
      }
    }
    return item.weight();
  }

  /** A random buffer shape. */
  record Shape(long seed, int count, long maxBytes, long maxItemBytes, Oversize oversize,
      int chanSize, int maxInFlight) {
    static Shape random(long seed) {
      SplittableRandom r = new SplittableRandom(seed);
      int count = r.nextInt(5) == 0 ? Integer.MAX_VALUE : 1 + r.nextInt(40);
      long maxBytes = 1L + r.nextInt(300);
      long maxItemBytes = 1L + r.nextLong(maxBytes);
      Oversize oversize = r.nextBoolean() ? Oversize.REJECT : Oversize.SEND_ALONE;
      int chanSize = r.nextInt(3) == 0 ? 64 + r.nextInt(2000) : 1 + r.nextInt(8);
      int maxInFlight = r.nextBoolean() ? 1 : 3;
      return new Shape(seed, count, maxBytes, maxItemBytes, oversize, chanSize, maxInFlight);
    }

    FlushPolicy<Item> policy() {
      FlushPolicy<Item> bytes =
          FlushPolicy.bytes(ByteHintRaceTest::weigh, maxBytes, maxItemBytes, oversize);
      return count == Integer.MAX_VALUE ? bytes : FlushPolicy.<Item>count(count).or(bytes);
    }

    /** Mostly light items, now and then a heavier one, an oversize one, or one that fails. */
    long weight(SplittableRandom r) {
      int dice = r.nextInt(100);
      if (dice < 2) {
        return THROWS;
      }
      if (dice < 4) {
        return -1L - r.nextInt(5);
      }
      if (dice < 7) {
        return maxItemBytes + 1 + r.nextInt(50);
      }
      if (dice < 17) {
        return 1 + r.nextLong(maxItemBytes);
      }
      return r.nextInt(3);
    }

    boolean refused(Item item) {
      return item.weight() < 0 || (item.weight() > maxItemBytes && oversize == Oversize.REJECT);
    }

    @Override
    public String toString() {
      return "seed " + seed + " (count " + count + ", maxBytes " + maxBytes + ", maxItemBytes "
          + maxItemBytes + ", " + oversize + ", chanSize " + chanSize + ", maxInFlight "
          + maxInFlight + ")";
    }
  }

  /** The per-item contract, sequentially: the batches it completes and the items it refuses. */
  static final class Model {
    final Shape shape;
    final List<List<Item>> complete = new ArrayList<>();
    final List<Item> refused = new ArrayList<>();
    List<Item> batch = new ArrayList<>();
    long bytes;

    Model(Shape shape) {
      this.shape = shape;
    }

    void accept(Item item) {
      long w = item.weight();
      if (shape.refused(item)) {
        refused.add(item);
        return;
      }
      if (w > shape.maxItemBytes) { // SEND_ALONE
        emit();
        batch.add(item);
        emit();
        return;
      }
      if (!batch.isEmpty() && bytes + w > shape.maxBytes) {
        emit();
      }
      batch.add(item);
      bytes += w;
      if (batch.size() >= shape.count || bytes >= shape.maxBytes) {
        emit();
      }
    }

    void emit() {
      if (!batch.isEmpty()) {
        complete.add(batch);
      }
      batch = new ArrayList<>();
      bytes = 0;
    }
  }

  /**
   * One producer, many checkpoints: at each, with the clock never advanced, the flushed batches and
   * the refused items must be exactly those the contract has completed so far.
   */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void oneProducersBatchesAreTheModelsWithoutTheClock(long seed) throws Exception {
    Shape shape = Shape.random(seed);
    SplittableRandom r = new SplittableRandom(seed ^ 0x9e3779b97f4a7c15L);
    RecordingFlush<Item> flush = new RecordingFlush<>();
    List<Item> rejected = new CopyOnWriteArrayList<>();
    ManualTimeSource time = new ManualTimeSource();
    Model model = new Model(shape);
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    int n = 200 + r.nextInt(1500);
    try (Buffer<Item> buffer = Buffer.start(Config.builder(flush).policy(shape.policy())
        .chanSize(shape.chanSize).flushInterval(HOURS).onReject(rejected::add).build(),
        Options.<Item>builder().timeSource(time).maxInFlight(shape.maxInFlight).build())) {
      for (int i = 0; i < n; i++) {
        Item item = new Item(0, i, shape.weight(r));
        switch (r.nextInt(4)) {
          case 0 -> futures.add(buffer.submit(item));
          case 1 -> assertThat(buffer.offer(item, HOURS)).as("%s", shape).isTrue();
          default -> buffer.add(item);
        }
        model.accept(item);
        if (r.nextInt(200) == 0) { // a flush() request, too, is answered on a still clock
          buffer.flush().get(WAIT.toSeconds(), TimeUnit.SECONDS);
          model.emit();
        }
        if (r.nextInt(150) == 0 || i == n - 1) {
          int batches = model.complete.size();
          int refusedSoFar = model.refused.size();
          await().atMost(WAIT).untilAsserted(() -> {
            assertThat(rejected).as("%s: refused at item %s", shape, item)
                .hasSize(refusedSoFar);
            assertThat(flush.batches()).as("%s: batches at item %s", shape, item)
                .hasSize(batches);
          });
          assertThat(bySeq(flush.batches())).as("%s", shape).isEqualTo(model.complete);
          assertThat(rejected).as("%s", shape).isEqualTo(model.refused);
        }
      }
    }
    model.emit();
    assertThat(bySeq(flush.batches())).as("%s", shape).isEqualTo(model.complete);
    assertThat(rejected).as("%s", shape).isEqualTo(model.refused);
    for (CompletableFuture<Void> f : futures) {
      assertThat(f).as("%s", shape).isDone();
    }
  }

  /**
   * Three producers racing with light and heavy items, flush() and a close (plain or timed) that
   * may come while they still add: every accepted item is flushed or refused exactly once, each
   * producer's items keep their order, each batch keeps the limits, and the stats balance.
   */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void racingProducersLoseNothingAndKeepTheirOrder(long seed) throws Exception {
    Shape shape = Shape.random(seed);
    SplittableRandom root = new SplittableRandom(seed ^ 0x5deece66dL);
    boolean closeWhileAdding = root.nextBoolean();
    boolean timedClose = root.nextBoolean();
    int producers = 3;
    int perProducer = 300 + root.nextInt(1500);
    RecordingFlush<Item> flush = new RecordingFlush<>();
    List<Item> rejected = new CopyOnWriteArrayList<>();
    ManualTimeSource time = new ManualTimeSource();
    ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
    List<List<Item>> accepted = new ArrayList<>();
    List<CompletableFuture<Void>> futures = new CopyOnWriteArrayList<>();
    Buffer<Item> buffer = Buffer.start(Config.builder(flush).policy(shape.policy())
        .chanSize(shape.chanSize).flushInterval(HOURS).onReject(rejected::add).build(),
        Options.<Item>builder().timeSource(time).maxInFlight(shape.maxInFlight).build());
    List<Thread> threads = new ArrayList<>();
    for (int p = 0; p < producers; p++) {
      int producer = p;
      List<Item> mine = new ArrayList<>();
      accepted.add(mine);
      SplittableRandom r = root.split();
      threads.add(Thread.ofPlatform().name("producer-" + p).start(() -> {
        try {
          for (int i = 0; i < perProducer; i++) {
            Item item = new Item(producer, i, shape.weight(r));
            boolean in;
            try {
              switch (r.nextInt(5)) {
                case 0 -> {
                  futures.add(buffer.submit(item));
                  in = true;
                }
                case 1 -> in = buffer.offer(item, HOURS);
                case 2 -> {
                  if (r.nextInt(20) == 0) {
                    futures.add(buffer.flush());
                  }
                  buffer.add(item);
                  in = true;
                }
                default -> {
                  buffer.add(item);
                  in = true;
                }
              }
            } catch (IllegalStateException closed) {
              assertThat(buffer.isClosed()).as("%s: %s", shape, closed).isTrue();
              return;
            }
            assertThat(in).as("%s: a timed offer on a still clock", shape).isTrue();
            mine.add(item);
          }
        } catch (Throwable t) {
          errors.add(t);
        }
      }));
    }
    if (closeWhileAdding) {
      await().atMost(WAIT).until(() -> buffer.stats().accepted() >= perProducer / 2);
    } else {
      for (Thread t : threads) {
        t.join(WAIT);
      }
      // Quiescent before the close: a flush() request settles everything accepted.
      buffer.flush().get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertBalanced(shape, buffer.stats(), flush, rejected);
    }
    if (timedClose) {
      CloseResult<Item> result = buffer.close(Duration.ofDays(1)); // a still clock never gives up
      assertThat(result.drained()).as("%s", shape).isTrue();
      assertThat(result.undelivered()).as("%s", shape).isEmpty();
    } else {
      buffer.close();
    }
    for (Thread t : threads) {
      t.join(WAIT);
      assertThat(t.isAlive()).as("%s: %s still adding", shape, t).isFalse();
    }
    if (!errors.isEmpty()) {
      AssertionError all = new AssertionError(shape + ": producer failures");
      errors.forEach(all::addSuppressed);
      throw all;
    }
    BufferStats stats = buffer.stats();
    assertBalanced(shape, stats, flush, rejected);

    // Exactly the accepted items, each once: flushed if the contract admits it, else refused.
    Map<Item, Integer> seen = new HashMap<>();
    for (Item item : flush.items()) {
      seen.merge(item, 1, Integer::sum);
      assertThat(shape.refused(item)).as("%s: flushed a refused item %s", shape, item).isFalse();
    }
    for (Item item : rejected) {
      seen.merge(item, 1, Integer::sum);
      assertThat(shape.refused(item)).as("%s: refused an admissible item %s", shape, item).isTrue();
    }
    Set<Item> all = new HashSet<>();
    accepted.forEach(all::addAll);
    assertThat(seen.keySet()).as("%s", shape).isEqualTo(all);
    assertThat(seen.values()).as("%s: duplicates", shape).allMatch(c -> c == 1);
    assertThat(stats.accepted()).as("%s", shape).isEqualTo(all.size());

    // Order per producer: across all flushes with one in flight, within each batch otherwise.
    List<List<Item>> batches = flush.batches();
    List<List<Item>> orderedRuns = shape.maxInFlight == 1 ? List.of(flush.items()) : batches;
    for (List<Item> run : orderedRuns) {
      int[] last = new int[producers];
      java.util.Arrays.fill(last, -1);
      for (Item item : run) {
        assertThat(item.seq()).as("%s: order of producer %d", shape, item.producer())
            .isGreaterThan(last[item.producer()]);
        last[item.producer()] = item.seq();
      }
    }
    int[] lastRefused = new int[producers];
    java.util.Arrays.fill(lastRefused, -1);
    for (Item item : rejected) {
      assertThat(item.seq()).as("%s: refusal order", shape).isGreaterThan(lastRefused[item.producer()]);
      lastRefused[item.producer()] = item.seq();
    }

    // Limits: no batch above the count, none above the bytes unless it is one item sent alone.
    for (List<Item> batch : batches) {
      assertThat(batch.size()).as("%s", shape).isLessThanOrEqualTo(shape.count);
      long bytes = batch.stream().mapToLong(Item::weight).sum();
      if (batch.size() > 1) {
        assertThat(bytes).as("%s: %s", shape, batch).isLessThanOrEqualTo(shape.maxBytes);
        assertThat(batch).as("%s", shape).allMatch(i -> i.weight() <= shape.maxItemBytes);
      }
    }
    for (CompletableFuture<Void> f : futures) {
      assertThat(f).as("%s", shape).isDone();
    }
  }

  /** Batches by their first item: flushes in flight at once (maxInFlight 3) record in any order. */
  static List<List<Item>> bySeq(List<List<Item>> batches) {
    List<List<Item>> sorted = new ArrayList<>(batches);
    sorted.sort(java.util.Comparator.comparingInt(b -> b.get(0).seq()));
    return sorted;
  }

  static void assertBalanced(Shape shape, BufferStats s, RecordingFlush<Item> flush,
      List<Item> rejected) {
    assertThat(s.accepted()).as("%s: identity in %s", shape, s).isEqualTo(s.flushed() + s.failed()
        + s.rejected() + s.undelivered() + s.itemsWaiting() + s.itemsFlushing());
    assertThat(s.itemsWaiting() + s.itemsFlushing()).as("%s: %s", shape, s).isZero();
    assertThat(s.flushed()).as("%s", shape).isEqualTo(flush.itemCount());
    assertThat(s.rejected()).as("%s", shape).isEqualTo(rejected.size());
  }
}
