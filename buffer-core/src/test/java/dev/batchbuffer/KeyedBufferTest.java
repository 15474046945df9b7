package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KeyedBufferTest {

  /** An item with its key: "a:1" has key "a". */
  static String keyOf(String item) {
    return item.substring(0, item.indexOf(':'));
  }

  /** Records (key, batch) pairs. */
  static final class Calls implements KeyedFlushFunc<String, String> {
    final List<Map.Entry<String, List<String>>> calls = new CopyOnWriteArrayList<>();

    @Override
    public void flush(String key, List<String> batch) {
      calls.add(Map.entry(key, batch));
    }

    List<String> describe() {
      return calls.stream().map(e -> e.getKey() + "=" + e.getValue()).toList();
    }

    int items() {
      return calls.stream().mapToInt(e -> e.getValue().size()).sum();
    }
  }

  @Test
  void itemsAreBatchedPerKeyAndTheFlushGetsTheKey() throws Exception {
    Calls calls = new Calls();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(FlushPolicy.count(2)).flushInterval(HOURS).start()) {
      for (String s : List.of("a:1", "b:1", "a:2", "b:2", "a:3")) {
        buffer.add(s);
      }
      await().until(() -> calls.calls.size() == 2);
    }
    assertThat(calls.describe()).containsExactly("a=[a:1, a:2]", "b=[b:1, b:2]", "a=[a:3]");
    assertThat(calls.calls).allSatisfy(e ->
        assertThat(e.getValue()).allSatisfy(item -> assertThat(keyOf(item)).isEqualTo(e.getKey())));
  }

  @Test
  void perKeyOrderHoldsUnderRacingProducers() throws Exception {
    Calls calls = new Calls();
    int producers = 4;
    int each = 5_000;
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(FlushPolicy.count(7)).flushInterval(Duration.ofMillis(2)).chanSize(64).start()) {
      Async.Producers threads = new Async.Producers();
      for (int p = 0; p < producers; p++) {
        int producer = p;
        threads.start("producer-" + producer, () -> {
          for (int i = 0; i < each; i++) {
            buffer.add("k" + (i % 10) + ":" + producer + ":" + i);
          }
        });
      }
      threads.joinAll(WAIT);
    }
    assertThat(calls.items()).isEqualTo(producers * each);
    // Within a key, each producer's items keep their order.
    Map<String, List<String>> byKey = new java.util.HashMap<>();
    for (var call : calls.calls) {
      byKey.computeIfAbsent(call.getKey(), k -> new ArrayList<>()).addAll(call.getValue());
    }
    for (List<String> items : byKey.values()) {
      Map<String, List<Integer>> byProducer = items.stream().collect(Collectors.groupingBy(
          s -> part(s, 1), Collectors.mapping(s -> Integer.parseInt(part(s, 2)), Collectors.toList())));
      byProducer.values().forEach(seq -> assertThat(seq).isSorted());
    }
  }

  static String part(String s, int index) {
    return List.of(s.split(":", -1)).get(index);
  }

  @Test
  void eachKeyHasItsOwnPolicy() throws Exception {
    Calls calls = new Calls();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(key -> key.equals("big") ? FlushPolicy.count(3) : FlushPolicy.count(1))
        .flushInterval(HOURS).start()) {
      for (String s : List.of("big:1", "small:1", "big:2", "small:2", "big:3")) {
        buffer.add(s);
      }
    }
    assertThat(calls.describe())
        .containsExactly("small=[small:1]", "small=[small:2]", "big=[big:1, big:2, big:3]");
  }

  @Test
  void eachKeyLingersFromItsOwnFirstItem() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Calls calls = new Calls();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(FlushPolicy.count(100)).flushInterval(Duration.ofSeconds(5)).timeSource(time).start()) {
      buffer.add("a:1");
      await().until(() -> time.timedWaiters() == 1 && buffer.itemsInChannel() == 0);
      time.advance(Duration.ofSeconds(2));
      buffer.add("b:1");
      await().until(() -> buffer.itemsInChannel() == 0 && buffer.liveKeys() == 2);
      await().until(() -> time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(3)); // t=5: a's deadline
      await().until(() -> calls.calls.size() == 1);
      assertThat(calls.describe()).containsExactly("a=[a:1]");
      await().until(() -> time.timedWaiters() == 1);
      time.advance(Duration.ofSeconds(2)); // t=7: b's deadline
      await().until(() -> calls.calls.size() == 2);
    }
    assertThat(calls.describe()).containsExactly("a=[a:1]", "b=[b:1]");
  }

  @Test
  void aNewKeyBeyondMaxKeysFlushesTheOldestBatch() throws Exception {
    Calls calls = new Calls();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(FlushPolicy.count(100)).flushInterval(HOURS).maxKeys(2).start()) {
      buffer.add("a:1");
      buffer.add("b:1");
      buffer.add("a:2");
      buffer.add("c:1"); // third key: a's batch is the oldest
      await().until(() -> calls.calls.size() == 1);
      assertThat(calls.describe()).containsExactly("a=[a:1, a:2]");
      assertThat(buffer.liveKeys()).isEqualTo(2);
    }
    assertThat(calls.describe()).containsExactlyInAnyOrder("a=[a:1, a:2]", "b=[b:1]", "c=[c:1]");
  }

  @Test
  void maxBufferedItemsAcrossKeysFlushesTheOldestBatches() throws Exception {
    Calls calls = new Calls();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(FlushPolicy.count(100)).flushInterval(HOURS).maxBufferedItems(3).start()) {
      for (String s : List.of("a:1", "b:1", "a:2", "c:1")) {
        buffer.add(s);
      }
      await().until(() -> calls.calls.size() == 1);
      assertThat(calls.describe()).containsExactly("a=[a:1, a:2]");
    }
  }

  @Test
  void idleKeysExpire() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Calls calls = new Calls();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(FlushPolicy.count(1)).keyIdleTimeout(Duration.ofSeconds(10)).timeSource(time).start()) {
      buffer.add("a:1");
      await().until(() -> calls.calls.size() == 1 && buffer.liveKeys() == 1);
      for (int i = 0; i < 3 && buffer.liveKeys() == 1; i++) {
        time.awaitTimedWaiters(1, WAIT); // the loop waits for the idle sweep
        time.advance(Duration.ofSeconds(10));
        // Woken by the advance, it swept what was idle and parked again: liveKeys is settled.
        time.awaitWaiters(1, WAIT);
      }
      assertThat(buffer.liveKeys()).isZero();
    }
  }

  @Test
  void closeDrainsEveryKey() throws Exception {
    Calls calls = new Calls();
    KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(FlushPolicy.count(1000)).flushInterval(HOURS).start();
    for (int i = 0; i < 3000; i++) {
      buffer.add("k" + (i % 30) + ":" + i);
    }
    buffer.close();
    assertThat(calls.items()).isEqualTo(3000);
    assertThat(calls.calls).hasSize(30);
    assertThatThrownBy(() -> buffer.add("a:1")).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void anItemWhoseKeyCannotBeComputedIsRejected() throws Exception {
    Calls calls = new Calls();
    List<String> rejected = new CopyOnWriteArrayList<>();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .onReject(rejected::add).flushInterval(HOURS).start()) {
      buffer.add("a:1");
      buffer.add("no-key"); // substring throws
      buffer.add("a:2");
    }
    assertThat(rejected).containsExactly("no-key");
    assertThat(calls.describe()).containsExactly("a=[a:1, a:2]");
  }

  @Test
  void byteLimitsApplyPerKey() throws Exception {
    Calls calls = new Calls();
    try (KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, calls)
        .policy(FlushPolicy.bytes(String::length, 8)).flushInterval(HOURS).start()) {
      for (String s : List.of("a:11", "b:22", "a:33", "a:44")) {
        buffer.add(s);
      }
    }
    assertThat(calls.describe()).containsExactly("a=[a:11, a:33]", "b=[b:22]", "a=[a:44]");
  }

  @Test
  @SuppressWarnings("NullAway")
  void badSettingsAreRejectedNamingTheField() {
    var b = KeyedBuffer.builder(KeyedBufferTest::keyOf, new Calls());
    assertThatThrownBy(() -> b.maxKeys(0)).hasMessage("maxKeys must be >= 1 (was 0)");
    assertThatThrownBy(() -> b.maxBufferedItems(0)).hasMessage("maxBufferedItems must be >= 1 (was 0)");
    assertThatThrownBy(() -> b.chanSize(0)).hasMessage("chanSize must be in [1, 1073741824] (was 0)");
    assertThatThrownBy(() -> b.flushInterval(Duration.ZERO))
        .hasMessage("flushInterval must be in (0, PT876000H] (was PT0S)");
    assertThatThrownBy(() -> b.keyIdleTimeout(Duration.ofSeconds(-1)))
        .hasMessage("keyIdleTimeout must be in (0, PT876000H] (was PT-1S)");
    assertThatThrownBy(() -> b.policy((FlushPolicy<String>) null)).hasMessage("policy must not be null");
    assertThatThrownBy(() -> KeyedBuffer.builder(null, new Calls())).hasMessage("keyOf must not be null");
  }
}
