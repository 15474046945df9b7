package dev.batchbuffer.examples.results;

import static dev.batchbuffer.examples.results.CollapsingLoaderTest.failure;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.examples.sqs.SqsEntryException;
import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequest;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequestEntry;
import software.amazon.awssdk.services.sqs.model.SqsException;

/**
 * {@link SqsSender} answers each message with the id the queue gave it, fails a refused entry with
 * its own code, retries only the failed entries (and the ids of the retry complete their futures),
 * never retries an entry refused by the sender's fault, retries a request that failed as a whole
 * for a server error and not one refused for a client error. The linger runs on a manual clock that is never advanced: batches end by count or close.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SqsSenderTest {
  static final String QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders";

  final ManualTimeSource time = new ManualTimeSource();
  final FakeSqs sqs = new FakeSqs();

  SqsSender sender(int maxAttempts) {
    return SqsSender.start(sqs, QUEUE, Duration.ofMillis(100), maxAttempts, Duration.ZERO, time);
  }

  static SqsException unavailable() {
    return (SqsException) SqsException.builder().statusCode(503).message("Service Unavailable")
        .build();
  }

  static List<String> bodies(SendMessageBatchRequest request) {
    return request.entries().stream().map(SendMessageBatchRequestEntry::messageBody).toList();
  }

  @Test
  void eachMessageIsAnsweredWithTheIdTheQueueGaveIt() throws Exception {
    List<CompletableFuture<String>> ids = new ArrayList<>();
    List<String> sent = new ArrayList<>();
    try (SqsSender sender = sender(3)) {
      for (int i = 0; i < 25; i++) {
        sent.add("order-" + i);
        ids.add(sender.send("order-" + i));
      }
    }
    assertThat(sqs.requests()).extracting(r -> r.entries().size()).containsExactly(10, 10, 5);
    assertThat(sqs.requests()).allSatisfy(r -> assertThat(r.queueUrl()).isEqualTo(QUEUE));
    assertThat(sqs.queued()).isEqualTo(sent);
    for (int i = 0; i < 25; i++) {
      assertThat(ids.get(i).get()).isEqualTo("msg-" + i);
    }
  }

  @Test
  void aThrottledEntryIsRetriedAloneAndGetsTheIdOfTheRetry() throws Exception {
    sqs.throttleOnce("b");
    CompletableFuture<String> a;
    CompletableFuture<String> b;
    CompletableFuture<String> c;
    try (SqsSender sender = sender(3)) {
      a = sender.send("a");
      b = sender.send("b");
      c = sender.send("c");
    }
    assertThat(sqs.requests()).extracting(SqsSenderTest::bodies)
        .containsExactly(List.of("a", "b", "c"), List.of("b"));
    assertThat(a.get()).isEqualTo("msg-0");
    assertThat(c.get()).isEqualTo("msg-1");
    assertThat(b.get()).isEqualTo("msg-2");
  }

  @Test
  void aSenderFaultEntryFailsWithItsOwnCauseAndIsNotRetried() throws Exception {
    CompletableFuture<String> a;
    CompletableFuture<String> empty;
    CompletableFuture<String> c;
    try (SqsSender sender = sender(3)) {
      a = sender.send("a");
      empty = sender.send("");
      c = sender.send("c");
    }
    assertThat(sqs.requests()).hasSize(1);
    DeliveryException e = failure(empty);
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
    assertThat(e.getCause()).isInstanceOfSatisfying(SqsEntryException.class, cause -> {
      assertThat(cause.code()).isEqualTo("InvalidMessageContents");
      assertThat(cause.getMessage()).isEqualTo("InvalidMessageContents: empty body (sender fault)");
      assertThat(cause.senderFault()).isTrue();
    });
    assertThat(a.get()).isEqualTo("msg-0");
    assertThat(c.get()).isEqualTo("msg-1");
  }

  @Test
  void aRequestThatFailedAsAWholeIsRetriedWhole() throws Exception {
    sqs.failNextRequest(unavailable());
    CompletableFuture<String> a;
    CompletableFuture<String> b;
    try (SqsSender sender = sender(3)) {
      a = sender.send("a");
      b = sender.send("b");
    }
    assertThat(sqs.requests()).extracting(SqsSenderTest::bodies)
        .containsExactly(List.of("a", "b"), List.of("a", "b"));
    assertThat(a.get()).isEqualTo("msg-0");
    assertThat(b.get()).isEqualTo("msg-1");
  }

  @Test
  void aRequestRefusedForAClientErrorIsNotRetried() throws Exception {
    SqsException noQueue = (SqsException) SqsException.builder().statusCode(400)
        .message("The specified queue does not exist").build();
    sqs.failNextRequest(noQueue);
    CompletableFuture<String> a;
    try (SqsSender sender = sender(3)) {
      a = sender.send("a");
    }
    assertThat(sqs.requests()).hasSize(1);
    assertThat(failure(a).getCause()).isSameAs(noQueue);
  }

  @Test
  void aRequestFailingEveryAttemptFailsEveryEntryOfItWithTheRequestsFailure() throws Exception {
    SqsException down = unavailable();
    sqs.failNextRequest(down);
    sqs.failNextRequest(down);
    List<CompletableFuture<String>> ids = new ArrayList<>();
    try (SqsSender sender = sender(2)) {
      ids.add(sender.send("a"));
      ids.add(sender.send("b"));
    }
    assertThat(sqs.requests()).hasSize(2);
    for (CompletableFuture<String> id : ids) {
      DeliveryException e = failure(id);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(e.getCause()).isSameAs(down);
    }
    assertThat(sqs.queued()).isEmpty();
  }
}
