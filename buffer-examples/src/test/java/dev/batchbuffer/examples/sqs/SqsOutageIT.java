package dev.batchbuffer.examples.sqs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.BufferStats;
import dev.batchbuffer.DeliveryException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.sqs.SqsClient;

/**
 * What a user sees when the SQS server goes away in the middle of a run (ElasticMQ, started for
 * this class alone because the test stops it): what was sent before is there exactly once; every
 * message sent after fails its future with a {@link DeliveryException} caused by the connection
 * failure, after the retries; the dead-letter hook receives exactly those messages, in order; and
 * delivered + dead-lettered == produced, as the buffer's accounting identity says too.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@SuppressWarnings("try") // close() inside the block, to read the final stats; the try closes
// again (idempotent) only when the block failed
class SqsOutageIT {
  static @Nullable LocalSqs server;

  @BeforeAll
  static void startServer() {
    server = LocalSqs.start();
    System.out.printf(Locale.ROOT, "ElasticMQ up in %.1f s at %s%n",
        server.startupTime().toMillis() / 1000.0, server.endpoint());
  }

  @AfterAll
  static void stopServer() {
    if (server != null) {
      server.close();
    }
  }

  @Test
  void aServerStoppedMidRunFailsTheRestToTheDeadLetterHookAndLosesNothing() throws Exception {
    LocalSqs local = java.util.Objects.requireNonNull(server);
    List<SqsMessage> dead = Collections.synchronizedList(new ArrayList<>());
    List<SqsMessage> before = new ArrayList<>();
    List<SqsMessage> after = new ArrayList<>();
    List<CompletableFuture<String>> afterIds = new ArrayList<>();
    List<Received> receivedBefore;
    BufferStats stats;
    try (SqsClient sqs = local.connection().newClient(List.of())) {
      String url = sqs.createQueue(b -> b.queueName("outage")).queueUrl();
      try (SqsPublisher publisher = SqsPublisher.builder(sqs, url).maxAttempts(2)
          .backoff(Duration.ofMillis(20)).linger(Duration.ofMillis(20))
          .deadLetter((e, batch) -> dead.addAll(batch)).start()) {
        List<CompletableFuture<String>> beforeIds = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
          SqsMessage m = SqsMessage.of("before " + i);
          before.add(m);
          beforeIds.add(publisher.send(m));
        }
        CompletableFuture.allOf(beforeIds.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
        receivedBefore = Received.all(sqs, url);

        local.close();  // the server goes away; the publisher keeps running

        for (int i = 0; i < 25; i++) {
          SqsMessage m = SqsMessage.of("after " + i);
          after.add(m);
          afterIds.add(publisher.send(m));
        }
        publisher.close();
        stats = publisher.stats();
      }
    }
    Received.assertExactlyOnce(receivedBefore, before);
    for (CompletableFuture<String> id : afterIds) {
      DeliveryException e = SqsIT.failure(id);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(e.getCause()).isInstanceOf(SdkClientException.class);
    }
    assertThat(dead).containsExactlyElementsOf(after);
    assertThat(receivedBefore.size() + dead.size()).isEqualTo(before.size() + after.size());
    Received.assertBalanced(stats);
    assertThat(stats.flushed()).isEqualTo(40);
    assertThat(stats.failed()).isEqualTo(25);
  }
}
