package dev.batchbuffer.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.Options;
import dev.batchbuffer.snippets.Backends.Event;
import dev.batchbuffer.snippets.Backends.Order;
import dev.batchbuffer.snippets.Backends.Orders;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The examples of {@link Buffer}, {@link Config} and {@link Options}, run. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BufferSnippetsTest {

  @Test
  void bufferFlushesEveryAcceptedItemOnClose() throws Exception {
    Orders orders = new Orders();
    Order order = new Order("o-1", 1_999);
    // @start region="buffer"
    try (Buffer<Order> buffer = Buffer.start(Config.builder(orders::insertAll).capacity(500).build())) {
      buffer.add(order);   // blocks while chanSize items are waiting
    }                      // close(): drains, final flush, returns when done
    // @end
    assertThat(orders.inserts).containsExactly(List.of(order));
  }

  @Test
  void flushReturnsAFutureOfTheFlushesItStarted() throws Exception {
    Orders orders = new Orders();
    Order order = new Order("o-1", 1_999);
    try (Buffer<Order> buffer = Buffer.start(Config.builder(orders::insertAll).build())) {
      // @start region="flush-and-wait"
      buffer.add(order);
      buffer.flush().get(5, TimeUnit.SECONDS);  // throws if the order failed or 5 s passed
      // @end
      assertThat(orders.inserts).containsExactly(List.of(order));
    }
  }

  @Test
  void optionsNameTheBuffer() throws Exception {
    RecordingFlush<Event> flush = new RecordingFlush<>();
    Config<Event> config = Config.builder(flush).build();
    // @start region="options"
    Buffer<Event> buffer = Buffer.start(config, Options.builder().name("events").build());
    // @end
    buffer.close();
    assertThat(buffer.name()).isEqualTo("events");
  }

  @Test
  @SuppressWarnings("NullAway") // the nine-argument call with nulls is the documented form
  void nullAndZeroMeanTheDefault() {
    FlushFunc<Event> flush = batch -> {};
    // @start region="config-defaults"
    Config<Event> config = new Config<>(flush, null, null, null, null, null, 0, 0, null);
    int capacity = config.capacity();                 // Config.DEFAULT_CAPACITY
    Duration flushInterval = config.flushInterval();  // Config.DEFAULT_FLUSH_INTERVAL
    // @end
    assertThat(capacity).isEqualTo(Config.DEFAULT_CAPACITY);
    assertThat(flushInterval).isEqualTo(Config.DEFAULT_FLUSH_INTERVAL);
  }
}
