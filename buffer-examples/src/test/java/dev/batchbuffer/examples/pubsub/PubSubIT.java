package dev.batchbuffer.examples.pubsub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.batchbuffer.BufferStats;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.protocols.jsoncore.JsonNode;

/**
 * {@link PubSubPublisher} end to end against the Pub/Sub emulator (started once for the class by
 * {@link LocalPubSub} on 127.0.0.1, killed by its pid after; or {@code PUBSUB_EMULATOR_HOST}):
 * every message pulled back exactly once (acknowledged, deduplicated by message id, no data twice),
 * each {@code publish} body within the preset's count and byte limits measured on the bytes sent,
 * an oversize message rejected into the dead-letter hook, a deleted topic failing the later batches
 * at once (404 is not retried) into the dead-letter hook and their futures, and the buffer's
 * accounting identity. Skips itself, saying why, where no emulator can be had.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PubSubIT {
  private static @Nullable LocalPubSub emulator;

  private final List<Dead> deadLetters = new CopyOnWriteArrayList<>();
  private final List<Body> bodies = new CopyOnWriteArrayList<>();
  private final List<AutoCloseable> toClose = new ArrayList<>();

  /** One call of the dead-letter hook. */
  record Dead(Exception failure, List<PubSubMessage> messages) {}

  /** One publish body as sent: its length and its messages' data as UTF-8. */
  record Body(long bytes, List<String> data) {}

  /** One message published and its future. */
  record Published(PubSubMessage message, CompletableFuture<Void> future) {}

  @BeforeAll
  static void startEmulator() throws Exception {
    Optional<String> why = LocalPubSub.unavailable();
    assumeTrue(why.isEmpty(), () -> "PubSubIT skipped: " + why.orElse(""));
    emulator = LocalPubSub.start();
    System.out.printf(Locale.ROOT, "Pub/Sub emulator up in %.2f s (%s%s)%n",
        emulator.startupTime().toMillis() / 1000.0, emulator.hostPort(),
        emulator.started() ? "" : ", PUBSUB_EMULATOR_HOST");
  }

  @AfterAll
  static void stopEmulator() {
    LocalPubSub e = emulator;
    if (e != null) {
      e.close();
    }
  }

  @AfterEach
  void closeClients() throws Exception {
    for (AutoCloseable c : toClose.reversed()) {
      c.close();
    }
  }

  @Test
  void everyMessageArrivesOnceInPublishBodiesWithinTheLimitsAndAnOversizeOneIsDeadLettered()
      throws Exception {
    long maxBody = 64 * 1024;
    PubSubRest rest = rest();
    rest.createTopic("arrive");
    rest.createSubscription("arrive-check", "arrive");
    PubSubPublisher publisher = publisher(rest, "arrive", PubSubPublisher.policy(maxBody), 3);

    List<Published> sent = produce(publisher, 4, 500, new Random(21), 100, 3_000);
    PubSubMessage tooBig = PubSubMessage.ofUtf8("x".repeat((int) maxBody));
    CompletableFuture<Void> tooBigFuture = publisher.publish(tooBig);
    publisher.close();

    assertThat(outcomes(sent)).as("futures").containsOnlyNulls();
    assertThat(outcome(tooBigFuture)).isInstanceOf(DeliveryException.class)
        .extracting(e -> ((DeliveryException) e).reason())
        .isEqualTo(DeliveryException.Reason.REJECTED);
    assertThat(deadLetters).singleElement()
        .satisfies(d -> assertThat(d.messages()).containsExactly(tooBig));
    assertArrivedExactlyOnce(rest, "arrive-check", sent);
    assertThat(bodies).allSatisfy(b -> {
      assertThat(b.bytes()).as("publish body bytes").isLessThanOrEqualTo(maxBody);
      assertThat(b.data().size()).isBetween(1, Presets.PUBSUB_MAX_MESSAGES);
    });
    assertThat(bodies).as("the byte limit is what ended the batches")
        .anySatisfy(b -> assertThat(b.bytes()).isGreaterThan(maxBody * 3 / 4));
    assertThat(bodies.stream().mapToInt(b -> b.data().size()).sum())
        .as("messages on the wire: each sent once").isEqualTo(2_000);
    assertSettled(publisher.stats(), 2_001, 2_000, 0, 1);
  }

  @Test
  void aDeletedTopicFailsTheLaterBatchesAtOnceIntoTheDeadLetterHook() throws Exception {
    PubSubRest rest = rest();
    rest.createTopic("doomed");
    rest.createSubscription("doomed-check", "doomed");
    PubSubPublisher publisher = publisher(rest, "doomed", PubSubPublisher.policy(), 3);

    List<Published> before = produce(publisher, 2, 150, new Random(22), 20, 200);
    CompletableFuture.allOf(before.stream().map(Published::future)
        .toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
    int bodiesBefore = bodies.size();
    rest.deleteTopic("doomed");
    List<Published> after = produce(publisher, 2, 100, new Random(23), 20, 200);
    publisher.close();

    assertThat(outcomes(before)).containsOnlyNulls();
    assertThat(outcomes(after)).allSatisfy(e -> assertThat(e)
        .isInstanceOf(DeliveryException.class)
        .extracting(x -> ((DeliveryException) x).reason(), x -> status(x.getCause()))
        .containsExactly(DeliveryException.Reason.FAILED, 404));
    assertThat(deadLetters.stream().flatMap(d -> d.messages().stream()))
        .as("the dead-letter hook got exactly the messages not delivered")
        .containsExactlyInAnyOrderElementsOf(after.stream().map(Published::message).toList());
    assertThat(bodies.subList(bodiesBefore, bodies.size()).stream()
        .mapToInt(b -> b.data().size()).sum())
        .as("a 404 is not retried: each later message was sent once").isEqualTo(200);
    assertArrivedExactlyOnce(rest, "doomed-check", before);
    assertSettled(publisher.stats(), 500, 300, 200, 0);
  }

  // ----- helpers

  private PubSubRest rest() {
    PubSubRest rest = new PubSubRest(Objects.requireNonNull(emulator).settings("batchbuffer-it"),
        (uri, body) -> {
          if (uri.getPath().endsWith(":publish")) {
            bodies.add(parse(body));
          }
        });
    toClose.add(rest);
    return rest;
  }

  private static Body parse(byte[] body) {
    List<String> data = new ArrayList<>();
    JsonNode json = JsonNode.parser().parse(body);
    for (JsonNode m : json.field("messages").map(JsonNode::asArray).orElseThrow()) {
      data.add(new String(Base64.getDecoder().decode(m.field("data").orElseThrow().asString()),
          StandardCharsets.UTF_8));
    }
    return new Body(body.length, List.copyOf(data));
  }

  private static int status(@Nullable Throwable cause) {
    return cause instanceof PubSubException e ? e.status() : -1;
  }

  private PubSubPublisher publisher(PubSubRest rest, String topic,
      dev.batchbuffer.FlushPolicy<PubSubMessage> policy, int maxAttempts) {
    PubSubPublisher p = PubSubPublisher.start(rest, topic, policy, Duration.ofMillis(20),
        RetryPolicy.builder().maxAttempts(maxAttempts)
            .backoff(Duration.ofMillis(5), Duration.ofMillis(50)),
        (e, messages) -> deadLetters.add(new Dead(e, List.copyOf(messages))), TimeSource.system());
    toClose.add(p);
    return p;
  }

  /**
   * Publishes {@code perProducer} messages from each of {@code producers} virtual threads: data
   * {@code "p<N>,<seq>,"} padded to a random size, attribute {@code producer=p<N>}; a producer's
   * failure is rethrown here.
   */
  private static List<Published> produce(PubSubPublisher publisher, int producers,
      int perProducer, Random random, int minBytes, int maxBytes) throws Exception {
    List<int[]> sizes = new ArrayList<>();
    for (int p = 0; p < producers; p++) {
      sizes.add(random.ints(perProducer, minBytes, maxBytes + 1).toArray());
    }
    List<Published> all = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<List<Published>>> results = new ArrayList<>();
      for (int p = 0; p < producers; p++) {
        int producer = p;
        results.add(threads.submit(() -> {
          List<Published> mine = new ArrayList<>(perProducer);
          for (int seq = 0; seq < perProducer; seq++) {
            String head = "p" + producer + "," + seq + ",";
            String data = head + "x".repeat(Math.max(0, sizes.get(producer)[seq] - head.length()));
            PubSubMessage m = new PubSubMessage(data.getBytes(StandardCharsets.UTF_8),
                Map.of("producer", "p" + producer));
            mine.add(new Published(m, publisher.publish(m)));
          }
          return mine;
        }));
      }
      for (Future<List<Published>> r : results) {
        all.addAll(r.get(2, TimeUnit.MINUTES));
      }
    }
    return all;
  }

  /**
   * Pulls until every expected message came (acknowledging each pull, counting each message id
   * once, as redeliveries of unacknowledged messages repeat ids), then checks that no data came
   * twice and none is missing or extra.
   */
  private static void assertArrivedExactlyOnce(PubSubRest rest, String subscription,
      List<Published> expected) {
    Map<String, PubSubMessage> byId = new LinkedHashMap<>();
    await().atMost(Duration.ofSeconds(60)).until(() -> {
      List<PubSubRest.Received> got = rest.pull(subscription, 1_000);
      got.forEach(r -> byId.putIfAbsent(r.messageId(), r.message()));
      rest.acknowledge(subscription, got.stream().map(PubSubRest.Received::ackId).toList());
      return byId.size() >= expected.size();
    });
    assertThat(byId.values()).as("messages pulled, one per message id")
        .containsExactlyInAnyOrderElementsOf(expected.stream().map(Published::message).toList());
  }

  private static List<@Nullable Throwable> outcomes(List<Published> published) throws Exception {
    List<@Nullable Throwable> out = new ArrayList<>(published.size());
    for (Published p : published) {
      out.add(outcome(p.future()));
    }
    return out;
  }

  private static @Nullable Throwable outcome(CompletableFuture<Void> future) throws Exception {
    return future.handle((ok, failure) -> failure).get(60, TimeUnit.SECONDS);
  }

  private static void assertSettled(BufferStats stats, long accepted, long flushed, long failed,
      long rejected) {
    assertThat(stats.state()).isEqualTo(BufferStats.State.CLOSED);
    assertThat(stats.itemsWaiting()).as("waiting").isZero();
    assertThat(stats.itemsFlushing()).as("flushing").isZero();
    assertThat(stats.undelivered()).as("undelivered").isZero();
    assertThat(stats.accepted()).as("accepted").isEqualTo(accepted)
        .isEqualTo(stats.flushed() + stats.failed() + stats.rejected());
    assertThat(stats.flushed()).as("flushed").isEqualTo(flushed);
    assertThat(stats.failed()).as("failed").isEqualTo(failed);
    assertThat(stats.rejected()).as("rejected").isEqualTo(rejected);
  }
}
