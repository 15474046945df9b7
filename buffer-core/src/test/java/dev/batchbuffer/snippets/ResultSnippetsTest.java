package dev.batchbuffer.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.ResultBuffer;
import dev.batchbuffer.snippets.Backends.PutResult;
import dev.batchbuffer.snippets.Backends.Reading;
import dev.batchbuffer.snippets.Backends.SequencedStream;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The example of {@link ResultBuffer}, run: each record's future gets its sequence number. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ResultSnippetsTest {

  @Test
  void eachRecordIsAnsweredWithItsSequenceNumberOrItsOwnFailure() throws Exception {
    SequencedStream stream = new SequencedStream();
    Reading reading = new Reading("sensor-1", new byte[] {1, 2, 3});
    Reading hot = new Reading("hot-7", new byte[] {4});
    Reading other = new Reading("sensor-2", new byte[] {5});
    // @start region="ids"
    ResultBuffer<Reading, String> buffer = ResultBuffer.<Reading, String>builder((batch, results) -> {
          List<PutResult> answers = stream.putRecords(batch);  // one per record, in batch order
          for (int i = 0; i < batch.size(); i++) {
            if (answers.get(i).ok()) {
              results.succeed(i, answers.get(i).sequenceNumber());
            } else {                                           // fails this record only
              results.fail(i, new IOException(answers.get(i).errorCode()));
            }
          }
        })
        .config(c -> c.policy(Presets.kinesisPutRecords(Reading::sizeInBytes)))
        .start();
    CompletableFuture<String> sequenceNumber = buffer.submit(reading);
    // @end
    CompletableFuture<String> throttled = buffer.submit(hot);
    CompletableFuture<String> second = buffer.submit(other);
    buffer.close();
    assertThat(stream.requests).containsExactly(List.of(reading, hot, other));
    assertThat(sequenceNumber.get()).isEqualTo("1");
    assertThat(second.get()).isEqualTo("2");
    try {
      throttled.get();
      throw new AssertionError("the throttled record succeeded");
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOfSatisfying(DeliveryException.class,
          d -> assertThat(d.reason()).isEqualTo(DeliveryException.Reason.FAILED))
          .cause().isInstanceOf(IOException.class)
          .hasMessage("ProvisionedThroughputExceededException");
    }
  }
}
