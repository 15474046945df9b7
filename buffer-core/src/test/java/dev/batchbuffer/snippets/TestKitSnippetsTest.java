package dev.batchbuffer.snippets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.Options;
import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The examples of the test kit, {@code dev.batchbuffer.testing}, run. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TestKitSnippetsTest {

  @Test
  void aLingerTestWithoutSleeping() throws Exception {
    // @start region="test-kit"
    ManualTimeSource time = new ManualTimeSource();
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).capacity(100).flushInterval(Duration.ofSeconds(1)).build();
    try (Buffer<String> buffer = Buffer.start(config, Options.builder().timeSource(time).build())) {
      buffer.add("login");
      time.awaitTimedWaiters(1, Duration.ofSeconds(5));  // the loop armed the 1 s linger deadline
      time.advance(Duration.ofSeconds(1));               // no sleep: the linger is over now
      assertEquals(List.of(List.of("login")), flush.awaitBatches(1, Duration.ofSeconds(5)));
    }
    // @end
  }

  @Test
  void manualTimeSource() throws Exception {
    RecordingFlush<String> flush = new RecordingFlush<>();
    Config<String> config = Config.builder(flush).flushInterval(Duration.ofSeconds(1)).build();
    // @start region="manual-time"
    ManualTimeSource time = new ManualTimeSource();
    Buffer<String> buffer = Buffer.start(config, Options.builder().timeSource(time).build());
    buffer.add("a");
    time.awaitTimedWaiters(1, Duration.ofSeconds(5));  // the loop armed its linger deadline
    time.advance(config.flushInterval());              // the partial batch is flushed now
    // @end
    assertThat(flush.awaitBatches(1, Duration.ofSeconds(5))).containsExactly(List.of("a"));
    buffer.close();
  }

  @Test
  void recordingFlush() throws Exception {
    // @start region="recording-flush"
    RecordingFlush<String> flush = new RecordingFlush<>();
    try (Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).build())) {
      buffer.add("a");
      buffer.add("b");
      flush.awaitBatches(1, Duration.ofSeconds(5));
    }
    assertEquals(List.of(List.of("a", "b")), flush.batches());
    // @end
  }

  @Test
  void scriptedFlush() throws Exception {
    // @start region="scripted-flush"
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
        .fail(new IOException("503"))    // the first call fails
        .succeed()                       // the second succeeds, and every later one
        .build();
    // @end
    assertThatThrownBy(() -> flush.flush(List.of("a"))).isInstanceOf(IOException.class)
        .hasMessage("503");
    flush.flush(List.of("b"));
    flush.flush(List.of("c"));
    assertThat(flush.calls()).extracting(ScriptedFlush.Call::succeeded)
        .containsExactly(false, true, true);
    assertThat(flush.delivered()).containsExactly("b", "c");
  }
}
