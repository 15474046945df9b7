package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Each FlushPolicy factory and combinator, through a real buffer. */
@ExtendWith(RecordingLoggerFinder.Reset.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FlushPolicyUnitTest {
  static final Weigher<String> LENGTH = String::length;

  static List<List<String>> run(FlushPolicy<String> policy, String... items) throws Exception {
    Ledger<String> ledger = new Ledger<>();
    Config<String> config = Config.builder(ledger.flushed).policy(policy).flushInterval(HOURS)
        .onReject(ledger::onReject).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String s : items) {
        buffer.add(s);
        ledger.accepted.incrementAndGet();
      }
    }
    ledger.assertBalanced();
    return ledger.flushed.batches();
  }

  @Test
  void countPolicyFlushesAtTheCount() throws Exception {
    assertThat(run(FlushPolicy.count(2), "a", "b", "c"))
        .containsExactly(List.of("a", "b"), List.of("c"));
  }

  @Test
  void bytesPolicyFlushesBeforeAnItemThatWouldOverflow() throws Exception {
    assertThat(run(FlushPolicy.bytes(LENGTH, 5), "ab", "cd", "ef", "g"))
        .containsExactly(List.of("ab", "cd"), List.of("ef", "g"));
  }

  @Test
  void bytesPolicyFlushesABatchThatReachesTheLimitExactly() throws Exception {
    assertThat(run(FlushPolicy.bytes(LENGTH, 4), "ab", "cd", "e"))
        .containsExactly(List.of("ab", "cd"), List.of("e"));
  }

  @Test
  void aBatchThatReachesItsByteLimitIsFlushedWithoutWaitingForTheLinger() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).policy(FlushPolicy.bytes(LENGTH, 4))
        .flushInterval(HOURS).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("ab");
      buffer.add("cd");
      assertThat(flush.awaitBatches(1, Duration.ofSeconds(10))).containsExactly(List.of("ab", "cd"));
    }
  }

  @Test
  void anItemHeavierThanAnySeenFillsTheBatchWithinOneRecheck() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).policy(FlushPolicy.bytes(LENGTH, 4))
        .flushInterval(HOURS).build();
    try (Buffer<String> buffer = Buffer.start(config, Options.builder().timeSource(time).build())) {
      buffer.add("a"); // the heaviest seen is 1 byte: the loop expects 3 more before the batch fills
      org.awaitility.Awaitility.await().until(() -> time.timedWaiters() == 1);
      buffer.add("abc"); // 3 bytes at once fill it
      time.advance(Duration.ofMillis(1));
      assertThat(flush.awaitBatches(1, Duration.ofSeconds(10))).containsExactly(List.of("a", "abc"));
    }
  }

  @Test
  void zeroWeightItemsNeverOverflow() throws Exception {
    assertThat(run(FlushPolicy.bytes(LENGTH, 3), "", "", "abc", ""))
        .containsExactly(List.of("", "", "abc"), List.of(""));
  }

  @Test
  void anyOfFlushesWhenEitherLimitIsReached() throws Exception {
    FlushPolicy<String> policy = FlushPolicy.anyOf(FlushPolicy.count(3), FlushPolicy.bytes(LENGTH, 6));
    assertThat(run(policy, "a", "b", "c", "dddd", "ee", "f"))
        .containsExactly(List.of("a", "b", "c"), List.of("dddd", "ee"), List.of("f"));
  }

  @Test
  void orTakesTheStricterOfTwoLimitsOfAKind() {
    FlushPolicy<String> p = FlushPolicy.<String>count(10).or(FlushPolicy.count(3))
        .or(FlushPolicy.bytes(LENGTH, 100)).or(FlushPolicy.bytes(LENGTH, 50));
    assertThat(p.maxItems()).isEqualTo(3);
    assertThat(p.maxBytes()).isEqualTo(50);
    assertThat(p.toString()).isEqualTo("anyOf[count(3), bytes(50, REJECT)]");
  }

  @Test
  void customPolicyFlushesWhenItsPredicateHolds() throws Exception {
    FlushPolicy<String> policy = FlushPolicy.custom(batch -> batch.contains("!"));
    assertThat(run(policy, "a", "!", "b")).containsExactly(List.of("a", "!"), List.of("b"));
  }

  @Test
  void customThreePartPolicyCanOverflowVetoAndFlush() throws Exception {
    FlushPolicy<String> policy = FlushPolicy.custom(
        (batch, item) -> item.startsWith("new"), (batch, item) -> !item.equals("x"),
        batch -> batch.size() == 3);
    assertThat(run(policy, "a", "x", "b", "new1", "c", "d"))
        .containsExactly(List.of("a", "b"), List.of("new1", "c", "d"));
  }

  @Test
  void ageOfAPolicyBecomesTheLinger() throws Exception {
    Config<String> config = Config.builder(new RecordingFlush<String>())
        .policy(FlushPolicy.<String>count(10).or(FlushPolicy.age(Duration.ofMillis(200)))).build();
    assertThat(config.flushInterval()).isEqualTo(Duration.ofMillis(200));
    assertThat(config.capacity()).isEqualTo(10);
    Config<String> shorter = Config.builder(new RecordingFlush<String>()).flushInterval(Duration.ofMillis(50))
        .policy(FlushPolicy.age(Duration.ofMillis(200))).build();
    assertThat(shorter.flushInterval()).isEqualTo(Duration.ofMillis(50));
  }

  @Test
  void agePolicyFlushesAPartialBatchOnTheManualClock() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush)
        .policy(FlushPolicy.<String>bytes(LENGTH, 1000).or(FlushPolicy.age(Duration.ofSeconds(2)))).build();
    try (Buffer<String> buffer = Buffer.start(config, Options.builder().timeSource(time).build())) {
      buffer.add("a");
      org.awaitility.Awaitility.await().until(() -> time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(2));
      assertThat(flush.awaitBatches(1, Duration.ofSeconds(10))).containsExactly(List.of("a"));
    }
  }

  @Test
  void oversizeRejectHandsTheItemToOnRejectAndKeepsTheBatch() throws Exception {
    Ledger<String> ledger = new Ledger<>();
    Config<String> config = Config.builder(ledger.flushed).policy(FlushPolicy.bytes(LENGTH, 4))
        .flushInterval(HOURS).onReject(ledger::onReject).build();
    try (Buffer<String> buffer = Buffer.start(config, Options.builder().name("oversize-probe").build())) {
      for (String s : List.of("ab", "toolong", "cd")) {
        buffer.add(s);
        ledger.accepted.incrementAndGet();
      }
    }
    assertThat(ledger.rejected).containsExactly("toolong");
    assertThat(ledger.flushed.batches()).containsExactly(List.of("ab", "cd"));
    assertThat(RecordingLoggerFinder.linesContaining("oversize-probe: the item weighs 7 bytes, above the per-item limit of 4"))
        .hasSize(1);
    ledger.assertBalanced();
  }

  @Test
  void oversizeSendAloneFlushesTheItemInItsOwnBatch() throws Exception {
    FlushPolicy<String> policy = FlushPolicy.bytes(LENGTH, 4).onOversize(Oversize.SEND_ALONE);
    assertThat(run(policy, "ab", "toolong", "cd"))
        .containsExactly(List.of("ab"), List.of("toolong"), List.of("cd"));
  }

  @Test
  void oversizeFailFastThrowsFromAddAndEnqueuesNothing() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush)
        .policy(FlushPolicy.bytes(LENGTH, 4).onOversize(Oversize.FAIL_FAST)).flushInterval(HOURS).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      buffer.add("ab");
      assertThatThrownBy(() -> buffer.add("toolong")).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("item weighs 7 bytes, above the per-item limit of 4 (Oversize.FAIL_FAST): not added");
      assertThatThrownBy(() -> buffer.offer("toolong")).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> buffer.offer("toolong", Duration.ofSeconds(1)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(buffer.itemsInChannel()).isLessThanOrEqualTo(1);
      buffer.add("cd");
    }
    assertThat(flush.items()).containsExactly("ab", "cd");
  }

  @Test
  void perItemLimitBelowTheBatchLimitIsEnforced() throws Exception {
    FlushPolicy<String> policy = FlushPolicy.bytes(LENGTH, 10, 3, Oversize.REJECT);
    assertThat(run(policy, "abc", "abcd", "abc", "abc", "abc"))
        .containsExactly(List.of("abc", "abc", "abc"), List.of("abc"));
  }

  @Test
  void faceCalledDirectlyEvaluatesThePolicyStatelessly() {
    FlushPolicy<String> p = FlushPolicy.<String>bytes(LENGTH, 5).or(FlushPolicy.count(3));
    assertThat(p.asWillOverflow().test(List.of("abc"), "abc")).isTrue();
    assertThat(p.asWillOverflow().test(List.of("ab"), "abc")).isFalse();
    assertThat(p.asWillOverflow().test(List.of(), "abcdef")).isFalse();
    assertThat(p.asCanAdd().test(List.of(), "abcdef")).isFalse();
    assertThat(p.asShouldFlush().test(List.of("a", "b", "c"))).isTrue();
    assertThat(p.asShouldFlush().test(List.of("abcde"))).isTrue();
    assertThat(p.asShouldFlush().test(List.of("a"))).isFalse();
  }

  @Test
  void nineArgumentConfigAcceptsPolicyFaces() throws Exception {
    FlushPolicy<String> p = FlushPolicy.bytes(LENGTH, 4);
    RecordingFlush<String> flush = new RecordingFlush<>();
    @SuppressWarnings("NullAway")
    Config<String> config = new Config<>(flush, p.asWillOverflow(), p.asCanAdd(), null,
        p.asShouldFlush(), null, 0, 0, HOURS);
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String s : List.of("ab", "cd", "e")) {
        buffer.add(s);
      }
    }
    assertThat(flush.batches()).containsExactly(List.of("ab", "cd"), List.of("e"));
  }

  @Test
  void invalidLimitsAreRejectedNamingTheField() {
    assertThatThrownBy(() -> FlushPolicy.count(0)).hasMessage("maxItems must be >= 1 (was 0)");
    assertThatThrownBy(() -> FlushPolicy.bytes(LENGTH, 0)).hasMessage("maxBytes must be >= 1 (was 0)");
    assertThatThrownBy(() -> FlushPolicy.bytes(LENGTH, 10, 11, Oversize.REJECT))
        .hasMessage("maxItemBytes must be in [1, maxBytes=10] (was 11)");
    assertThatThrownBy(() -> FlushPolicy.age(Duration.ZERO))
        .hasMessage("maxAge must be in (0, PT876000H] (was PT0S)");
    assertThatThrownBy(() -> FlushPolicy.anyOf()).hasMessage("anyOf needs at least one policy (was 0)");
    assertThatThrownBy(() -> FlushPolicy.<String>count(3).onOversize(Oversize.SEND_ALONE))
        .isInstanceOf(IllegalStateException.class).hasMessage("onOversize needs a byte limit: this policy has none");
    Weigher<String> other = s -> 2L * s.length();
    assertThatThrownBy(() -> FlushPolicy.bytes(LENGTH, 5)
        .or(FlushPolicy.bytes(other, 5, 2, Oversize.SEND_ALONE)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cannot use Oversize.SEND_ALONE")
        .hasMessageContaining("give both byte limits the same Weigher object");
  }

  @Test
  void anyOfHonoursByteLimitsWrittenWithTwoWeigherObjects() throws Exception {
    // Two method references to one method are two objects; a user writes them naturally.
    FlushPolicy<String> twice = FlushPolicy.anyOf(
        FlushPolicy.<String>bytes(String::length, 10), FlushPolicy.<String>bytes(String::length, 6));
    FlushPolicy<String> doubled = FlushPolicy.<String>bytes(String::length, 10)
        .or(FlushPolicy.bytes(s -> 2L * s.length(), 8, 4, Oversize.REJECT));
    for (FlushPolicy<String> policy : List.of(twice, doubled)) {
      Ledger<String> ledger = new Ledger<>();
      try (Buffer<String> buffer = Buffer.start(Config.builder(ledger.flushed).policy(policy)
          .flushInterval(HOURS).onReject(ledger::onReject).build())) {
        for (String s : List.of("ab", "cd", "ef", "g", "hijkl", "m", "no")) {
          buffer.add(s);
          ledger.accepted.incrementAndGet();
        }
      }
      ledger.assertBalanced();
      if (policy == twice) {
        assertThat(ledger.flushed.batches()).allSatisfy(b ->
            assertThat(b.stream().mapToInt(String::length).sum()).isLessThanOrEqualTo(6));
        assertThat(ledger.rejected).isEmpty();
      } else {
        assertThat(ledger.flushed.batches()).allSatisfy(b ->
            assertThat(2 * b.stream().mapToInt(String::length).sum()).isLessThanOrEqualTo(8));
        assertThat(ledger.rejected).as("above the second limit's 4 per item").containsExactly("hijkl");
      }
    }
  }

  @Test
  void throwingWeigherRejectsTheItem() throws Exception {
    Weigher<String> picky = s -> {
      if (s.equals("bad")) {
        throw new IllegalStateException("cannot serialize");
      }
      return s.length();
    };
    Ledger<String> ledger = new Ledger<>();
    Config<String> config = Config.builder(ledger.flushed).policy(FlushPolicy.bytes(picky, 100))
        .flushInterval(HOURS).onReject(ledger::onReject).build();
    try (Buffer<String> buffer = Buffer.start(config)) {
      for (String s : List.of("a", "bad", "b")) {
        buffer.add(s);
        ledger.accepted.incrementAndGet();
      }
    }
    assertThat(ledger.rejected).containsExactly("bad");
    assertThat(ledger.flushed.items()).containsExactly("a", "b");
    ledger.assertBalanced();
  }
}
