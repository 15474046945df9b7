package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The lines a user writes first, exactly as they would write them: each must compile without a
 * type witness or a cast (that is most of the test), and do what it says. A new user hit each of
 * these as a compile error before the API took {@code ? super T} callbacks and let the options
 * builder take its item type from a weigher or listener.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ApiShapeTest {

  record Order(String id, String payload) {
    long sizeInBytes() {
      return payload.length();
    }
  }

  record Entry(String partitionKey, String data) {}

  /** A dead-letter sink shared by every buffer of an application: it takes anything. */
  static final List<Object> DEAD_LETTERS = new CopyOnWriteArrayList<>();

  static final Consumer<Object> DEAD_LETTER = DEAD_LETTERS::add;

  static final BiConsumer<Exception, List<?>> DEAD_BATCH = (e, batch) -> DEAD_LETTERS.addAll(batch);

  @Test
  void optionsTakeTheItemTypeFromTheMemoryWeigher() throws Exception {
    RecordingFlush<Order> flush = new RecordingFlush<>();
    try (Buffer<Order> buffer = Buffer.start(Config.builder(flush).capacity(2).build(),
        Options.builder().maxBufferedBytes(Order::sizeInBytes, 1 << 20).name("orders").build())) {
      buffer.add(new Order("a", "0123456789"));
      buffer.add(new Order("b", "0123456789"));
    }
    assertThat(flush.items()).extracting(Order::id).containsExactly("a", "b");
  }

  @Test
  void optionsTakeTheItemTypeFromTheListener() throws Exception {
    List<FlushInfo> heard = new CopyOnWriteArrayList<>();
    BufferListener<Order> listener = new BufferListener<>() {
      @Override
      public void flushed(FlushInfo info) {
        heard.add(info);
      }
    };
    try (Buffer<Order> buffer = Buffer.start(Config.builder(new RecordingFlush<Order>())
        .capacity(1).build(), Options.builder().listener(listener).maxInFlight(2).build())) {
      buffer.add(new Order("a", "x"));
    }
    assertThat(heard).hasSize(1);
  }

  @Test
  void callbacksAcceptSinksOfASupertype() throws Exception {
    FlushFunc<Order> failing = batch -> {
      throw new java.io.IOException("down");
    };
    try (Buffer<Order> buffer = Buffer.start(Config.builder(failing).capacity(1)
        .canAdd((batch, order) -> order.payload().length() < 100)
        .onReject(DEAD_LETTER)
        .onFlushError(DEAD_BATCH)
        .build())) {
      buffer.add(new Order("too big", "x".repeat(100)));
      buffer.add(new Order("fails", "x"));
    }
    KeyedFlushFunc<String, Order> keyedFailing = (key, batch) -> {
      throw new java.io.IOException("down");
    };
    try (KeyedBuffer<String, Order> keyed = KeyedBuffer.builder(Order::id, keyedFailing)
        .policy(FlushPolicy.count(1))
        .onReject(DEAD_LETTER)
        .onFlushError(DEAD_BATCH)
        .start()) {
      keyed.add(new Order("k", "x"));
    }
    assertThat(DEAD_LETTERS).hasSize(3);
    DEAD_LETTERS.clear();
  }

  @Test
  void presetsInferTheItemTypeInAChain() throws Exception {
    RecordingFlush<Entry> flush = new RecordingFlush<>();
    // In a builder, the policy's type comes from the builder: an implicit lambda is fine.
    Config<Entry> config = Config.builder(flush)
        .policy(Presets.kinesisPutRecords(r -> (long) r.data().length() + r.partitionKey().length()))
        .build();
    // In a chain of its own, a method reference (or a typed lambda) carries the type.
    FlushPolicy<Entry> lingering = Presets.kinesisPutRecords(ApiShapeTest::recordBytes)
        .or(FlushPolicy.age(Duration.ofMillis(100)));
    FlushPolicy<Entry> typed = Presets.kinesisPutRecords((Entry r) -> r.data().length())
        .or(FlushPolicy.age(Duration.ofMillis(100)));
    try (Buffer<Entry> buffer = Buffer.start(config)) {
      buffer.add(new Entry("k", "abc"));
    }
    assertThat(flush.items()).hasSize(1);
    assertThat(lingering.maxAge()).isEqualTo(Duration.ofMillis(100));
    assertThat(typed.maxItems()).isEqualTo(Presets.KINESIS_MAX_RECORDS);
  }

  @Test
  void flowControlSitsInAnOptionsChainBeforeTheItemTypedSettings() throws Exception {
    RecordingFlush<Order> flush = new RecordingFlush<>();
    try (Buffer<Order> buffer = Buffer.start(Config.builder(flush).capacity(1).build(),
        Options.builder().flowControl(FlowControl.aimd().maxLimit(4).build())
            .maxBufferedBytes(Order::sizeInBytes, 1 << 20).build())) {
      buffer.add(new Order("a", "x"));
    }
    assertThat(flush.items()).extracting(Order::id).containsExactly("a");
  }

  static long recordBytes(Entry r) {
    return (long) r.data().length() + r.partitionKey().length();
  }
}
