package dev.batchbuffer.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.KeyedBuffer;
import dev.batchbuffer.Presets;
import dev.batchbuffer.snippets.Backends.Message;
import dev.batchbuffer.snippets.Backends.SendBatch;
import dev.batchbuffer.snippets.Backends.Sqs;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The example of {@link KeyedBuffer}, run. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KeyedBufferSnippetsTest {

  @Test
  void eachQueueGetsItsOwnBatches() throws Exception {
    Sqs sqs = new Sqs();
    // @start region="keyed"
    KeyedBuffer<String, Message> buffer = KeyedBuffer.builder(Message::queueUrl, sqs::sendBatch)
        .policy(Presets.sqsSendMessageBatch(Message::sizeInBytes))
        .flushInterval(Duration.ofMillis(100))
        .maxKeys(1_000)
        .start();
    // @end
    for (int i = 0; i < 12; i++) {
      buffer.add(new Message("queue-a", "a" + i));
    }
    buffer.add(new Message("queue-b", "b0"));
    buffer.close();
    // SQS takes at most 10 entries per call: queue-a needs two calls, queue-b one.
    assertThat(sqs.requests).allSatisfy(request -> {
      assertThat(request.messages()).hasSizeLessThanOrEqualTo(Presets.SQS_MAX_ENTRIES)
          .allSatisfy(m -> assertThat(m.queueUrl()).isEqualTo(request.queueUrl()));
    });
    assertThat(sqs.requests.stream().filter(r -> r.queueUrl().equals("queue-a"))
        .flatMap(r -> r.messages().stream()).map(Message::body))
        .containsExactly("a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11");
    assertThat(sqs.requests.stream().filter(r -> r.queueUrl().equals("queue-b"))
        .map(SendBatch::messages)).containsExactly(List.of(new Message("queue-b", "b0")));
  }
}
