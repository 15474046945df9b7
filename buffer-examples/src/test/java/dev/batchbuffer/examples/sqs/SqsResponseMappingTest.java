package dev.batchbuffer.examples.sqs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.services.sqs.SqsClient;
import software.amazon.awssdk.services.sqs.model.BatchResultErrorEntry;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequest;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequestEntry;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchResponse;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchResultEntry;

/**
 * {@link SqsPublisher} maps a {@code SendMessageBatch} response back to its entries even when the
 * response is not what SQS documents: an id it never sent, an id listed twice, an entry left out.
 * An entry the response says was queued is never sent again (a duplicate on the queue), and an
 * entry it does not say was queued is retried alone, in order ({@link SqsPublisher#notQueued} names
 * those entries for a flush function without per-item results, as the demo's). The requests come
 * from a scripted client; the linger runs on a manual clock never advanced, so batches end at
 * close.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SqsResponseMappingTest {
  static final String QUEUE = "http://127.0.0.1:1/000000000000/orders";

  /** A client whose first response is scripted; later requests succeed entry by entry. */
  static final class ScriptedSqs implements SqsClient {
    final List<List<String>> requests = new CopyOnWriteArrayList<>();
    final Function<SendMessageBatchRequest, SendMessageBatchResponse> first;

    ScriptedSqs(Function<SendMessageBatchRequest, SendMessageBatchResponse> first) {
      this.first = first;
    }

    @Override
    public SendMessageBatchResponse sendMessageBatch(SendMessageBatchRequest request) {
      requests.add(request.entries().stream().map(SendMessageBatchRequestEntry::messageBody)
          .toList());
      if (requests.size() == 1) {
        return first.apply(request);
      }
      return SendMessageBatchResponse.builder().successful(request.entries().stream()
          .map(e -> ok(e.id(), "retry-" + e.messageBody())).toList()).build();
    }

    @Override
    public String serviceName() {
      return SERVICE_NAME;
    }

    @Override
    public void close() {}
  }

  static SendMessageBatchResultEntry ok(String id, String messageId) {
    return SendMessageBatchResultEntry.builder().id(id).messageId(messageId).build();
  }

  static BatchResultErrorEntry throttled(String id) {
    return BatchResultErrorEntry.builder().id(id).code("RequestThrottled").message("slow down")
        .senderFault(false).build();
  }

  final ManualTimeSource time = new ManualTimeSource();

  List<CompletableFuture<String>> sendABC(ScriptedSqs sqs) throws InterruptedException {
    List<CompletableFuture<String>> ids = new ArrayList<>();
    try (SqsPublisher publisher = SqsPublisher.builder(sqs, QUEUE).maxAttempts(3)
        .backoff(Duration.ZERO).timeSource(time).start()) {
      for (String body : List.of("a", "b", "c")) {
        ids.add(publisher.send(SqsMessage.of(body)));
      }
    }
    return ids;
  }

  @Test
  void anIdTheRequestNeverHadDoesNotResendTheEntriesThatWereQueued() throws Exception {
    ScriptedSqs sqs = new ScriptedSqs(request -> SendMessageBatchResponse.builder()
        .successful(ok("0", "m-a"), ok("1", "m-b"), ok("7", "m-ghost"))
        .failed(throttled("2")).build());
    List<CompletableFuture<String>> ids = sendABC(sqs);
    assertThat(sqs.requests).containsExactly(List.of("a", "b", "c"), List.of("c"));
    assertThat(ids).extracting(CompletableFuture::join).containsExactly("m-a", "m-b", "retry-c");
  }

  @Test
  void anIdThatIsNotANumberDoesNotResendTheEntriesThatWereQueued() throws Exception {
    ScriptedSqs sqs = new ScriptedSqs(request -> SendMessageBatchResponse.builder()
        .successful(ok("0", "m-a"), ok("b", "m-ghost"), ok("2", "m-c")).build());
    List<CompletableFuture<String>> ids = sendABC(sqs);
    assertThat(sqs.requests).containsExactly(List.of("a", "b", "c"), List.of("b"));
    assertThat(ids).extracting(CompletableFuture::join).containsExactly("m-a", "retry-b", "m-c");
  }

  @Test
  void anIdListedTwiceKeepsItsFirstAnswerAndResendsNothingQueued() throws Exception {
    ScriptedSqs sqs = new ScriptedSqs(request -> SendMessageBatchResponse.builder()
        .successful(ok("0", "m-a"), ok("0", "m-a-again"), ok("1", "m-b"), ok("2", "m-c"))
        .failed(throttled("1")).build());
    List<CompletableFuture<String>> ids = sendABC(sqs);
    assertThat(sqs.requests).containsExactly(List.of("a", "b", "c"));
    assertThat(ids).extracting(CompletableFuture::join).containsExactly("m-a", "m-b", "m-c");
  }

  @Test
  void anEntryTheResponseLeavesOutIsRetriedAloneInOrder() throws Exception {
    ScriptedSqs sqs = new ScriptedSqs(request -> SendMessageBatchResponse.builder()
        .successful(ok("1", "m-b")).build());
    List<CompletableFuture<String>> ids = sendABC(sqs);
    assertThat(sqs.requests).containsExactly(List.of("a", "b", "c"), List.of("a", "c"));
    assertThat(ids).extracting(CompletableFuture::join).containsExactly("retry-a", "m-b", "retry-c");
  }

  @Test
  void notQueuedNamesTheFailedAndTheUnmentionedEntriesOnce() {
    SendMessageBatchResponse response = SendMessageBatchResponse.builder()
        .successful(ok("0", "m-a"), ok("0", "m-a-again"), ok("9", "m-ghost"), ok("x", "m-x"),
            ok("3", "m-d"))
        .failed(throttled("2"), throttled("2")).build();
    assertThat(SqsPublisher.notQueued(response, 5)).containsExactly(1, 2, 4);
    assertThat(SqsPublisher.notQueued(SendMessageBatchResponse.builder().build(), 3))
        .containsExactly(0, 1, 2);
  }

  @Test
  void everyEntryFailingRetriesTheWholeBatchInOrder() throws Exception {
    ScriptedSqs sqs = new ScriptedSqs(request -> SendMessageBatchResponse.builder()
        .failed(throttled("2"), throttled("0"), throttled("1")).build());
    List<CompletableFuture<String>> ids = sendABC(sqs);
    assertThat(sqs.requests).containsExactly(List.of("a", "b", "c"), List.of("a", "b", "c"));
    assertThat(ids).extracting(CompletableFuture::join)
        .containsExactly("retry-a", "retry-b", "retry-c");
  }
}
