package dev.batchbuffer.examples.results;

import static dev.batchbuffer.examples.results.CollapsingLoaderTest.failure;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.examples.results.FakeSqs.Entry;
import dev.batchbuffer.examples.results.FakeSqs.SendMessageBatchRequest;
import dev.batchbuffer.examples.results.SqsSender.SqsEntryException;
import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link SqsSender} answers each message with the id the queue gave it, fails a refused entry with
 * its own code, retries only the failed entries (and the ids of the retry complete their futures),
 * never retries an entry refused by the sender's fault, and retries a request that failed as a
 * whole. The linger runs on a manual clock that is never advanced: batches end by count or close.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SqsSenderTest {
  static final String QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders";

  final ManualTimeSource time = new ManualTimeSource();
  final FakeSqs sqs = new FakeSqs();

  SqsSender sender(int maxAttempts) {
    return SqsSender.start(sqs, QUEUE, Duration.ofMillis(100), maxAttempts, Duration.ZERO, time);
  }

  static List<String> bodies(SendMessageBatchRequest request) {
    return request.entries().stream().map(Entry::body).toList();
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
      assertThat(cause.senderFault()).isTrue();
    });
    assertThat(a.get()).isEqualTo("msg-0");
    assertThat(c.get()).isEqualTo("msg-1");
  }

  @Test
  void aRequestThatFailedAsAWholeIsRetriedWhole() throws Exception {
    sqs.failNextRequest(new IOException("503 Service Unavailable"));
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
  void aRequestFailingEveryAttemptFailsEveryEntryOfItWithTheRequestsFailure() throws Exception {
    IOException down = new IOException("503 Service Unavailable");
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
