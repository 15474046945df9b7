package dev.batchbuffer.examples.sqs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.BufferStats;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.examples.sqs.WireMeter.Sent;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.jspecify.annotations.Nullable;
import software.amazon.awssdk.services.sqs.SqsClient;

/**
 * {@link SqsPublisher} against a real SQS API (ElasticMQ, started once for the class on
 * 127.0.0.1): every message arrives exactly once and byte-identical, with the id its future
 * returned; every request sent stays within the SQS preset's limits, measured on the marshalled
 * request ({@link WireMeter}), and large messages are split by the byte limit, not the count;
 * entries the queue refuses as the sender's fault are not sent again and reach the dead-letter
 * hook; throttled entries, and only they, are sent again in their order; and the buffer's
 * accounting identity holds after each run.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@SuppressWarnings("try") // close() inside the block, to read the final stats; the try closes
// again (idempotent) only when the block failed
class SqsIT {
  static final long SEED = Long.getLong("sqs.seed", System.nanoTime());

  static @Nullable LocalSqs server;
  static final WireMeter meter = new WireMeter();
  static final EntryThrottler throttler = new EntryThrottler();
  static @Nullable SqsClient sqs;

  @BeforeAll
  static void startServer() {
    server = LocalSqs.start();
    System.out.printf(Locale.ROOT, "ElasticMQ up in %.1f s at %s%n",
        server.startupTime().toMillis() / 1000.0, server.endpoint());
    sqs = server.connection().newClient(List.of(meter, throttler));
  }

  @AfterAll
  static void stopServer() {
    try {
      if (sqs != null) {
        sqs.close();
      }
    } finally {
      if (server != null) {
        server.close();
      }
    }
  }

  static SqsClient sqs() {
    return java.util.Objects.requireNonNull(sqs, "client not started");
  }

  static String queue(String name) {
    return sqs().createQueue(b -> b.queueName(name)).queueUrl();
  }

  /** A body of {@code length} characters drawn from ASCII, 2-, 3- and 4-byte UTF-8 and tab/newline. */
  static String body(Random random, int length) {
    String[] alphabet = {"a", "Z", "7", " ", "é", "€", "😀", "\t", "\n", "{", "\""};
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < length; i++) {
      b.append(alphabet[random.nextInt(alphabet.length)]);
    }
    return b.toString();
  }

  static void assertWithinPresetLimits(List<Sent> requests) {
    assertThat(requests).isNotEmpty().allSatisfy(r -> {
      assertThat(r.entries()).as("entries").isBetween(1, Presets.SQS_MAX_ENTRIES);
      assertThat(r.payloadBytes()).as("payload").isLessThanOrEqualTo(Presets.SQS_MAX_REQUEST_BYTES);
      // SQS counts the payload, not the JSON around it; with these messages the whole body fits too.
      assertThat(r.httpBodyBytes()).as("HTTP body carries the payload")
          .isGreaterThan(r.payloadBytes()).isLessThanOrEqualTo(Presets.SQS_MAX_REQUEST_BYTES);
    });
  }

  static DeliveryException failure(CompletableFuture<String> future) {
    try {
      future.get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof DeliveryException d) {
        return d;
      }
      throw new AssertionError("expected a DeliveryException", e);
    } catch (Exception e) {
      throw new AssertionError("no answer for the future", e);
    }
    throw new AssertionError("expected a failed future, got " + future.join());
  }

  @Test
  void everyMessageArrivesExactlyOnceByteIdenticalAndEveryRequestIsWithinTheLimits()
      throws Exception {
    String url = queue("exactly-once");
    Random random = new Random(SEED);
    int producers = 4;
    int perProducer = 250;
    List<List<SqsMessage>> planned = new ArrayList<>();
    for (int p = 0; p < producers; p++) {
      List<SqsMessage> mine = new ArrayList<>();
      for (int i = 0; i < perProducer; i++) {
        String text = p + "-" + i + ":" + body(random, 1 + random.nextInt(2000));
        mine.add(i % 5 == 0 ? new SqsMessage(text, Map.of("producer", "p" + p, "n", "" + i))
            : SqsMessage.of(text));
      }
      planned.add(mine);
    }
    List<CompletableFuture<String>> ids = Collections.synchronizedList(new ArrayList<>());
    List<Throwable> producerErrors = Collections.synchronizedList(new ArrayList<>());
    BufferStats stats;
    try (SqsPublisher publisher = SqsPublisher.builder(sqs(), url).start()) {
      List<Thread> threads = new ArrayList<>();
      for (List<SqsMessage> mine : planned) {
        threads.add(Thread.ofVirtual().start(() -> {
          try {
            for (SqsMessage m : mine) {
              ids.add(publisher.send(m));
            }
          } catch (Throwable t) {
            producerErrors.add(t);
          }
        }));
      }
      for (Thread t : threads) {
        t.join();
      }
      publisher.close();
      stats = publisher.stats();
    }
    assertThat(producerErrors).as("seed %d", SEED).isEmpty();
    List<SqsMessage> sent = planned.stream().flatMap(List::stream).toList();

    List<Received> received = Received.all(sqs(), url);
    Received.assertExactlyOnce(received, sent);
    assertThat(ids.stream().map(CompletableFuture::join).toList())
        .containsExactlyInAnyOrderElementsOf(received.stream().map(Received::messageId).toList());

    List<Sent> requests = meter.sentTo(url);
    assertWithinPresetLimits(requests);
    assertThat(requests.stream().mapToInt(Sent::entries).sum()).isEqualTo(sent.size());
    assertThat(requests.stream().mapToLong(Sent::payloadBytes).sum())
        .as("the preset's weigher counts what goes on the wire")
        .isEqualTo(sent.stream().mapToLong(SqsMessage::sizeInBytes).sum());
    Received.assertBalanced(stats);
    assertThat(stats.flushed()).isEqualTo(sent.size());
  }

  @Test
  void theByteLimitNotTheCountSplitsBatchesOfLargeMessages() throws Exception {
    String url = queue("large");
    Random random = new Random(SEED);
    List<SqsMessage> sent = new ArrayList<>();
    List<CompletableFuture<String>> ids = new ArrayList<>();
    BufferStats stats;
    try (SqsPublisher publisher = SqsPublisher.builder(sqs(), url)
        .linger(java.time.Duration.ofMinutes(1)).start()) {
      for (int i = 0; i < 20; i++) {
        // 300,000 bytes each: three fit in 1 MiB, four do not, far below ten entries.
        String text = String.format(Locale.ROOT, "%02d", i) + body(random, 1_000)
            + "x".repeat(299_000 - 2);
        SqsMessage m = new SqsMessage(text, Map.of("part", Integer.toString(i)));
        sent.add(m);
        ids.add(publisher.send(m));
      }
      publisher.close();
      stats = publisher.stats();
    }
    List<Sent> requests = meter.sentTo(url);
    assertWithinPresetLimits(requests);
    long one = sent.get(0).sizeInBytes();
    assertThat(requests).extracting(Sent::entries).containsExactly(3, 3, 3, 3, 3, 3, 2);
    assertThat(requests.subList(0, 6)).allSatisfy(r -> assertThat(r.payloadBytes() + one)
        .as("one more message would pass the byte limit").isGreaterThan(Presets.SQS_MAX_REQUEST_BYTES));
    List<Received> received = Received.all(sqs(), url);
    Received.assertExactlyOnce(received, sent);
    assertThat(ids).allSatisfy(id -> assertThat(id).isCompleted());
    Received.assertBalanced(stats);
  }

  @Test
  void entriesTheQueueRefusesAsTheSendersFaultAreNotRetriedAndReachTheDeadLetterHook()
      throws Exception {
    String url = queue("refused");
    List<SqsMessage> dead = Collections.synchronizedList(new ArrayList<>());
    List<SqsMessage> good = new ArrayList<>();
    List<SqsMessage> bad = new ArrayList<>();
    List<CompletableFuture<String>> badIds = new ArrayList<>();
    List<CompletableFuture<String>> goodIds = new ArrayList<>();
    BufferStats stats;
    try (SqsPublisher publisher = SqsPublisher.builder(sqs(), url).maxAttempts(3)
        .backoff(java.time.Duration.ofMillis(10)).deadLetter((e, batch) -> dead.addAll(batch))
        .start()) {
      for (int i = 0; i < 30; i++) {
        if (i == 3 || i == 14 || i == 27) {
          SqsMessage m = SqsMessage.of("refused " + i + " \u0000");  // SQS forbids U+0000
          bad.add(m);
          badIds.add(publisher.send(m));
        } else {
          SqsMessage m = SqsMessage.of("kept " + i);
          good.add(m);
          goodIds.add(publisher.send(m));
        }
      }
      publisher.close();
      stats = publisher.stats();
    }
    for (CompletableFuture<String> id : badIds) {
      DeliveryException e = failure(id);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(e.getCause()).isInstanceOfSatisfying(SqsEntryException.class, cause -> {
        assertThat(cause.senderFault()).isTrue();
        assertThat(cause.code()).isEqualTo("InvalidAttributeValue");
      });
    }
    assertThat(dead).containsExactlyElementsOf(bad);
    assertThat(goodIds).allSatisfy(id -> assertThat(id).isCompleted().isNotCompletedExceptionally());
    List<String> everyBodySent = meter.sentTo(url).stream().flatMap(r -> r.bodies().stream()).toList();
    assertThat(everyBodySent).as("each message was sent once, none retried")
        .hasSize(30).doesNotHaveDuplicates();
    Received.assertExactlyOnce(Received.all(sqs(), url), good);
    assertThat(good.size() + dead.size()).isEqualTo(30);
    Received.assertBalanced(stats);
    assertThat(stats.failed()).isEqualTo(3);
    assertThat(stats.retried()).isZero();
  }

  @Test
  void throttledEntriesAloneAreSentAgainInTheirOrderUntilDeliveredOrDeadLettered()
      throws Exception {
    String url = queue("throttled");
    List<SqsMessage> all = new ArrayList<>();
    for (int i = 0; i < 25; i++) {
      all.add(SqsMessage.of("t" + i));
    }
    throttler.throttle("t2", 1);
    throttler.throttle("t5", 1);
    throttler.throttle("t7", 2);
    throttler.throttle("t9", Integer.MAX_VALUE);  // never passes: dead-lettered after 3 attempts
    List<SqsMessage> dead = Collections.synchronizedList(new ArrayList<>());
    AtomicInteger deadLetterCalls = new AtomicInteger();
    List<CompletableFuture<String>> ids = new ArrayList<>();
    BufferStats stats;
    try (SqsPublisher publisher = SqsPublisher.builder(sqs(), url).maxAttempts(3)
        .backoff(java.time.Duration.ofMillis(10)).linger(java.time.Duration.ofMinutes(1))
        .deadLetter((e, batch) -> {
          deadLetterCalls.incrementAndGet();
          dead.addAll(batch);
        })
        .start()) {
      for (SqsMessage m : all) {
        ids.add(publisher.send(m));
      }
      publisher.close();
      stats = publisher.stats();
    }
    assertThat(meter.sentTo(url)).extracting(Sent::bodies).containsExactly(
        List.of("t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"),
        List.of("t2", "t5", "t7", "t9"),
        List.of("t7", "t9"),
        List.of("t10", "t11", "t12", "t13", "t14", "t15", "t16", "t17", "t18", "t19"),
        List.of("t20", "t21", "t22", "t23", "t24"));
    DeliveryException e = failure(ids.get(9));
    assertThat(e.getCause()).isInstanceOfSatisfying(SqsEntryException.class, cause -> {
      assertThat(cause.code()).isEqualTo(EntryThrottler.CODE);
      assertThat(cause.senderFault()).isFalse();
    });
    assertThat(dead).containsExactly(all.get(9));
    assertThat(deadLetterCalls).hasValue(1);
    List<SqsMessage> delivered = new ArrayList<>(all);
    delivered.remove(9);
    List<Received> received = Received.all(sqs(), url);
    Received.assertExactlyOnce(received, delivered);
    for (int i : new int[] {2, 5, 7}) {
      String id = ids.get(i).join();
      assertThat(received).filteredOn(r -> r.messageId().equals(id))
          .extracting(Received::message).containsExactly(all.get(i));
    }
    Received.assertBalanced(stats);
    assertThat(stats.retried()).as("t2 t5 t7 t9, then t7 t9").isEqualTo(6);
    assertThat(stats.failed()).isEqualTo(1);
  }
}
