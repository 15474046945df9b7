package dev.batchbuffer.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.Options;
import dev.batchbuffer.micrometer.BufferMetrics;
import dev.batchbuffer.testing.RecordingFlush;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The example of {@link BufferMetrics}, run. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BufferMetricsSnippetsTest {

  @Test
  void bindTheMetersOfABuffer() throws Exception {
    MeterRegistry registry = new SimpleMeterRegistry();
    RecordingFlush<String> flush = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).build(),
        Options.builder().name("orders").build())) {
      // @start region="metrics"
      BufferMetrics.of(buffer, Tags.of("app", "shop")).bindTo(registry);
      // @end
      buffer.add("a");
      flush.awaitItems(1, Duration.ofSeconds(5));
    }
    FunctionCounter accepted = registry.get("batchbuffer.items.accepted")
        .tags("buffer", "orders", "app", "shop").functionCounter();
    assertThat(accepted.count()).isEqualTo(1.0);
  }
}
