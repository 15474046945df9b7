package dev.batchbuffer.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Presets;
import dev.batchbuffer.snippets.Backends.Kinesis;
import dev.batchbuffer.snippets.Backends.Reading;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The examples of {@link FlushPolicy} and {@link Presets}, run. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FlushPolicySnippetsTest {

  @Test
  void countOrBytesOrAge() throws Exception {
    Kinesis kinesis = new Kinesis();
    // @start region="policy"
    FlushPolicy<Reading> policy = FlushPolicy.<Reading>count(500)
        .or(FlushPolicy.bytes(Reading::sizeInBytes, 5 * 1024 * 1024))
        .or(FlushPolicy.age(Duration.ofMillis(200)));
    Config<Reading> config = Config.builder(kinesis::putRecords).policy(policy).build();
    // @end
    try (Buffer<Reading> buffer = Buffer.start(config)) {
      for (int i = 0; i < 12; i++) {
        buffer.add(new Reading("device-" + i, new byte[512 * 1024]));
      }
    }
    // 12 x 512 KiB (keys included) is more than 5 MiB: at least two requests, none above it.
    assertThat(kinesis.requests.stream().mapToInt(List::size).sum()).isEqualTo(12);
    assertThat(kinesis.requests).hasSizeGreaterThanOrEqualTo(2).allSatisfy(request ->
        assertThat(request.stream().mapToLong(Reading::sizeInBytes).sum())
            .isLessThanOrEqualTo(5 * 1024 * 1024));
  }

  @Test
  void kinesisPreset() throws Exception {
    Kinesis kinesis = new Kinesis();
    // @start region="presets"
    Config<Reading> config = Config.builder(kinesis::putRecords)
        .policy(Presets.kinesisPutRecords(r -> r.payload().length                // data
            + r.deviceId().getBytes(StandardCharsets.UTF_8).length))             // plus partition key
        .build();
    // @end
    try (Buffer<Reading> buffer = Buffer.start(config)) {
      for (int i = 0; i < 25; i++) {
        buffer.add(new Reading("device-" + i, new byte[512 * 1024]));
      }
    }
    // At most 19 records of 512 KiB plus key fit in the 10 MiB of one PutRecords request.
    assertThat(kinesis.requests.stream().mapToInt(List::size).sum()).isEqualTo(25);
    assertThat(kinesis.requests).hasSizeGreaterThanOrEqualTo(2).allSatisfy(request ->
        assertThat(request.stream().mapToLong(Reading::sizeInBytes).sum())
            .isLessThanOrEqualTo(Presets.KINESIS_MAX_REQUEST_BYTES));
  }
}
