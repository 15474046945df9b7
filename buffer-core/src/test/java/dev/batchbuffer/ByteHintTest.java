package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static dev.batchbuffer.TestConstants.HOURS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A {@code Buffer} whose batches end by count and bytes only has its producers weigh each item; the
 * loop sleeps through items that cannot end the batch and is woken by the producer of one that
 * can. The batches must be exactly those of the per-item contract, the weigher must run once on
 * each side, and whatever goes wrong on the producer is handled by the loop.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ByteHintTest {

  /**
   * The batches the per-item contract makes of {@code weights}: an oversize item is rejected (the
   * default {@link Oversize#REJECT}), otherwise overflow first, then full.
   */
  static List<List<Integer>> model(List<Integer> weights, int count, long maxBytes) {
    List<List<Integer>> batches = new ArrayList<>();
    List<Integer> batch = new ArrayList<>();
    long bytes = 0;
    for (int w : weights) {
      if (w > maxBytes) {
        continue;
      }
      if (!batch.isEmpty() && bytes + w > maxBytes) {
        batches.add(batch);
        batch = new ArrayList<>();
        bytes = 0;
      }
      batch.add(w);
      bytes += w;
      if (batch.size() >= count || bytes >= maxBytes) {
        batches.add(batch);
        batch = new ArrayList<>();
        bytes = 0;
      }
    }
    if (!batch.isEmpty()) {
      batches.add(batch);
    }
    return batches;
  }

  @RepeatedTest(30)
  void batchesAreThoseOfThePerItemContractWhateverTheLoopSleepsThrough() throws Exception {
    // -Dbatchbuffer.seed replays one (a failure names it); light items outweigh a 1-byte limit.
    long seed = Long.getLong("batchbuffer.seed", System.nanoTime());
    Random random = new Random(seed);
    int count = 1 + random.nextInt(50);
    long maxBytes = 1L + random.nextInt(400);
    int heavyEvery = 1 + random.nextInt(40);
    List<Integer> weights = new ArrayList<>();
    for (int i = 0, n = random.nextInt(3000); i < n; i++) {
      // Mostly light items, now and then one heavier than any before: the case the loop sleeps on.
      weights.add(i % heavyEvery == 0 ? 1 + random.nextInt((int) maxBytes) : random.nextInt(3));
    }
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    ManualTimeSource time = new ManualTimeSource();
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush)
        .policy(FlushPolicy.<Integer>count(count).or(FlushPolicy.bytes(w -> w, maxBytes)))
        .chanSize(1 + random.nextInt(64)).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).build())) {
      for (int w : weights) {
        buffer.add(w);
      }
    }
    assertThat(flush.batches()).as("seed %d", seed).isEqualTo(model(weights, count, maxBytes));
  }

  @Test
  void aFullBatchIsFlushedOnAStillClockWhenItsLastItemIsLight() throws Exception {
    // 5 + 3 + 2 = 10 fills the batch by bytes; the last item is lighter than the heaviest seen, so
    // only the loop's own target (computed from the heaviest) may wake it.
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush)
        .policy(FlushPolicy.<Integer>count(100).or(FlushPolicy.bytes(w -> w, 10)))
        .flushInterval(HOURS).build(), Options.builder().timeSource(time).build())) {
      buffer.add(5);
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0 && time.timedWaiters() == 1);
      buffer.add(3);
      buffer.add(2);
      assertThat(flush.awaitBatches(1, WAIT)).containsExactly(List.of(5, 3, 2));
    }
  }

  @Test
  void theWeigherRunsOnceOnTheProducerAndOnceOnTheLoopForAddOfferAndSubmit() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    RecordingFlush<String> flush = new RecordingFlush<>();
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush)
        .policy(FlushPolicy.<String>count(7).or(FlushPolicy.bytes(s -> {
          calls.incrementAndGet();
          return s.length();
        }, 20))).chanSize(1000).flushInterval(HOURS).build())) { // room for every offer
      for (int i = 0; i < 30; i++) {
        buffer.add("a" + i);
        assertThat(buffer.offer("b" + i)).isTrue();
        assertThat(buffer.offer("c" + i, Duration.ofSeconds(5))).isTrue();
        futures.add(buffer.submit("d" + i));
      }
    }
    assertThat(CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)))
        .succeedsWithin(WAIT);
    assertThat(flush.items()).hasSize(120);
    assertThat(calls).as("producer and loop, once each").hasValue(240);
  }

  @Test
  void aWeigherThatThrowsOnTheProducerRejectsTheItemOnTheLoop() throws Exception {
    List<String> rejected = new CopyOnWriteArrayList<>();
    RecordingFlush<String> flush = new RecordingFlush<>();
    CompletableFuture<Void> bad;
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush)
        .policy(FlushPolicy.<String>count(10).or(FlushPolicy.bytes(s -> {
          if (s.startsWith("bad")) {
            throw new IllegalStateException("cannot weigh " + s);
          }
          return s.length();
        }, 100))).onReject(rejected::add).flushInterval(HOURS).build())) {
      buffer.add("ok1");
      buffer.add("bad1"); // the producer is not failed: the loop weighs again and rejects it
      bad = buffer.submit("bad2");
      buffer.add("ok2");
    }
    assertThat(rejected).containsExactly("bad1", "bad2");
    assertThat(bad).failsWithin(WAIT);
    assertThat(flush.items()).containsExactly("ok1", "ok2");
  }

  @Test
  void anOversizeOrNegativeWeightOnTheProducerIsHandledByTheLoop() throws Exception {
    List<Integer> rejected = new CopyOnWriteArrayList<>();
    RecordingFlush<Integer> flush = new RecordingFlush<>();
    ManualTimeSource time = new ManualTimeSource();
    try (Buffer<Integer> buffer = Buffer.start(Config.builder(flush)
        .policy(FlushPolicy.<Integer>count(10).or(FlushPolicy.bytes(w -> w, 10)))
        .onReject(rejected::add).flushInterval(HOURS).build(),
        Options.builder().timeSource(time).build())) {
      buffer.add(1);
      await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0 && time.timedWaiters() == 1);
      buffer.add(11); // oversize: REJECT, decided at once on a still clock
      buffer.add(-1); // a negative weight is the weigher's fault: rejected
      await().atMost(WAIT).until(() -> rejected.size() == 2);
      buffer.add(2);
    }
    assertThat(rejected).containsExactly(11, -1);
    assertThat(flush.batches()).containsExactly(List.of(1, 2));
  }
}
