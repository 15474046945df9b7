package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.micrometer.BufferMetrics;
import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Every Java block of the README, compiled here (or in {@link ReadmeExampleTest}, or in the
 * {@code CollapsingLoader} of {@code buffer-examples}, whose tests run it, or in its
 * {@code ThrottledKinesisExampleTest}) between
 * {@code // --- README <name> ---} and {@code // --- end ---} markers, and a check that each block
 * of the README appears in one of those regions verbatim (up to indentation), so no README example
 * can stop compiling or drift from the code that is compiled.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ReadmeBlocksTest {
  static final String COLLAPSING_LOADER =
      "buffer-examples/src/main/java/dev/batchbuffer/examples/results/CollapsingLoader.java";
  static final String THROTTLED_KINESIS = "buffer-examples/src/test/java/dev/batchbuffer/examples/"
      + "kinesis/ThrottledKinesisExampleTest.java";

  @Test
  void everyJavaBlockOfTheReadmeIsACompiledRegion() throws IOException {
    Path root = Path.of("").toAbsolutePath();
    Path readme = root.resolve("README.md");
    if (!Files.exists(readme)) {
      readme = root.resolveSibling("README.md"); // run from buffer-core
    }
    Path tests = Path.of("src/test/java/dev/batchbuffer");
    List<List<String>> regions = new ArrayList<>();
    for (String file : List.of("ReadmeExampleTest.java", "ReadmeBlocksTest.java")) {
      regions.addAll(regions(Files.readAllLines(tests.resolve(file))));
    }
    // The collapsing example is the code of buffer-examples' CollapsingLoader, tested there.
    regions.addAll(regions(Files.readAllLines(readme.resolveSibling(COLLAPSING_LOADER))));
    // The worked Kinesis example runs in buffer-examples, against a throttling stream.
    regions.addAll(regions(Files.readAllLines(readme.resolveSibling(THROTTLED_KINESIS))));
    List<List<String>> blocks = blocks(Files.readAllLines(readme));
    assertThat(blocks).as("README java blocks").isNotEmpty();
    for (List<String> block : blocks) {
      assertThat(regions).as("a compiled region equal to this README block:%n%s",
          String.join("\n", block)).contains(block);
    }
  }

  /** The README's ```java blocks, each normalized. */
  static List<List<String>> blocks(List<String> lines) {
    List<List<String>> out = new ArrayList<>();
    List<String> current = null;
    for (String line : lines) {
      if (current == null && line.startsWith("```java")) {
        current = new ArrayList<>();
      } else if (current != null && line.startsWith("```")) {
        out.add(normalize(current));
        current = null;
      } else if (current != null) {
        current.add(line);
      }
    }
    return out;
  }

  /** The regions between the README markers of a test source, each normalized. */
  static List<List<String>> regions(List<String> lines) {
    List<List<String>> out = new ArrayList<>();
    List<String> current = null;
    for (String line : lines) {
      String t = line.strip();
      if (t.startsWith("// --- README ")) {
        current = new ArrayList<>();
      } else if (current != null && t.equals("// --- end ---")) {
        out.add(normalize(current));
        current = null;
      } else if (current != null) {
        current.add(line);
      }
    }
    return out;
  }

  /** Drops blank lines and trailing spaces, and the indentation common to all lines. */
  static List<String> normalize(List<String> lines) {
    List<String> kept = lines.stream().map(String::stripTrailing).filter(l -> !l.isEmpty()).toList();
    int indent = kept.stream().mapToInt(l -> l.length() - l.stripLeading().length()).min().orElse(0);
    return kept.stream().map(l -> l.substring(indent)).toList();
  }

  // ---- the blocks ---------------------------------------------------------------------------

  record Entry(String id, String body) {
    long sizeInBytes() {
      return body.length();
    }
  }

  static final class RecordBackend {
    final List<List<Entry>> sent = new CopyOnWriteArrayList<>();

    void send(List<Entry> batch) {
      sent.add(batch);
    }
  }

  @Test
  void flushPolicies() throws Exception {
    RecordBackend backend = new RecordBackend();
    // --- README flush policies ---
    FlushPolicy<Entry> policy = FlushPolicy.<Entry>count(500)              // at 500 entries
        .or(FlushPolicy.bytes(Entry::sizeInBytes, 5 * 1024 * 1024))         // or before 5 MiB would be passed
        .or(FlushPolicy.age(Duration.ofMillis(200)));                       // or 200 ms after the first entry
    Config<Entry> config = Config.builder(backend::send).policy(policy).build();
    // --- end ---
    try (Buffer<Entry> buffer = Buffer.start(config)) {
      for (int i = 0; i < 1_000; i++) {
        buffer.add(new Entry("r" + i, "x"));
      }
    }
    assertThat(backend.sent).allSatisfy(b -> assertThat(b).hasSizeLessThanOrEqualTo(500));
    assertThat(backend.sent.stream().mapToInt(List::size).sum()).isEqualTo(1_000);
  }

  record Message(String queueUrl, String body) {
    long sizeInBytes() {
      return body.length();
    }
  }

  static final class Sqs {
    final List<String> queues = new CopyOnWriteArrayList<>();

    void sendBatch(String queueUrl, List<Message> batch) {
      queues.add(queueUrl + ":" + batch.size());
    }

    void sendBatch(List<Msg> batch) {
      queues.add("msgs:" + batch.size());
    }
  }

  @Test
  void keyedBuffers() throws Exception {
    Sqs sqs = new Sqs();
    // --- README keyed buffers ---
    KeyedBuffer<String, Message> buffer = KeyedBuffer.builder(Message::queueUrl, sqs::sendBatch)
        .policy(Presets.sqsSendMessageBatch(Message::sizeInBytes))   // or .policy(key -> policyFor(key))
        .flushInterval(Duration.ofMillis(100))
        .maxKeys(1_000)                     // a new key beyond this drops the longest-idle key or flushes the oldest batch
        .maxBufferedItems(50_000)           // across keys: the oldest batches are flushed early to stay under
        .keyIdleTimeout(Duration.ofMinutes(1))
        .start();
    // --- end ---
    try (buffer) {
      for (int i = 0; i < 25; i++) {
        buffer.add(new Message("q" + (i % 2), "m" + i));
      }
    }
    assertThat(sqs.queues).allSatisfy(q -> assertThat(Integer.parseInt(q.substring(q.indexOf(':') + 1)))
        .isLessThanOrEqualTo(Presets.SQS_MAX_ENTRIES));
  }

  @Test
  void perKeyRateLimits() throws Exception {
    Sqs sqs = new Sqs();
    // --- README per-key rate limits ---
    KeyedBuffer<String, Message> buffer = KeyedBuffer.builder(Message::queueUrl, sqs::sendBatch)
        .policy(FlushPolicy.count(10))
        .keyRateLimit(1_000)                                  // items per second per key (KPL: per shard)
        .keyByteRateLimit(Message::sizeInBytes, 1_000_000)    // bytes per second per key (Pub/Sub: ~1 MB/s per ordering key)
        .maxBufferedItems(50_000)                             // held batches count here: beyond it, add waits
        .start();
    // --- end ---
    try (buffer) {
      for (int i = 0; i < 100; i++) {
        buffer.add(new Message("q" + (i % 2), "m" + i));
      }
    }
    assertThat(sqs.queues).hasSize(10);
    assertThat(buffer.stats().flushed()).isEqualTo(100);
  }

  static final class Publisher {
    final List<String> published = new CopyOnWriteArrayList<>();

    void publish(String orderingKey, List<Message> batch) throws IOException {
      for (Message m : batch) {
        if (m.body().startsWith("bad")) {
          throw new IOException("publish failed for " + orderingKey);
        }
      }
      batch.forEach(m -> published.add(m.body()));
    }
  }

  @Test
  void orderedKeys() throws Exception {
    Publisher publisher = new Publisher();
    List<Message> deadLetters = new CopyOnWriteArrayList<>();
    // --- README ordered keys ---
    KeyedBuffer<String, Message> buffer = KeyedBuffer.builder(Message::queueUrl, publisher::publish)
        .policy(FlushPolicy.count(1))
        .pauseKeyOnFailure(PauseMode.FAIL_FAST)               // or WAIT: later items of the key wait for resume
        .onFlushError((e, items) -> deadLetters.addAll(items))
        .start();
    // --- end ---
    try (buffer) {
      assertThat(buffer.submit(new Message("order-42", "bad")))
          .failsWithin(Duration.ofSeconds(10));
      CompletableFuture<Void> later = buffer.submit(new Message("order-42", "next"));
      assertThat(later).failsWithin(Duration.ofSeconds(10)).withThrowableThat()
          .havingCause().isInstanceOf(DeliveryException.class);
      assertThat(buffer.pausedKeys()).containsExactly("order-42");
      buffer.resume("order-42");
      buffer.submit(new Message("order-42", "again")).get(10, TimeUnit.SECONDS);
    }
    assertThat(publisher.published).containsExactly("again");
    assertThat(deadLetters).extracting(Message::body).containsExactly("bad", "next");
  }

  record Order(String id) {}

  /** A stream record. */
  record Reading(String deviceId, String data) {
    long sizeInBytes() {
      return (long) data.length() + deviceId.length();
    }
  }

  /** A stream's answer for one record: a sequence number, or an error code. */
  record PutResult(String sequenceNumber, String errorCode) {
    boolean ok() {
      return errorCode.isEmpty();
    }
  }

  /** A stream whose batch put answers each record in order; it throttles a "hot" record once. */
  static final class Stream {
    final List<List<String>> requests = new CopyOnWriteArrayList<>();
    private final java.util.Set<Reading> throttled = new java.util.HashSet<>();
    private long next = 1;

    synchronized List<PutResult> putRecords(List<Reading> batch) {
      requests.add(batch.stream().map(Reading::deviceId).toList());
      List<PutResult> out = new ArrayList<>();
      for (Reading r : batch) {
        out.add(r.deviceId().startsWith("hot") && throttled.add(r)
            ? new PutResult("", "ProvisionedThroughputExceededException")
            : new PutResult(Long.toString(next++), ""));
      }
      return out;
    }
  }

  @Test
  void perItemResults() throws Exception {
    Stream stream = new Stream();
    Reading reading = new Reading("sensor-1", "21.5");
    // --- README per-item results ---
    ResultBuffer<Reading, String> buffer = ResultBuffer.<Reading, String>builder((batch, results) -> {
          List<PutResult> answers = stream.putRecords(batch);         // one answer per record, in order
          for (int i = 0; i < batch.size(); i++) {
            PutResult answer = answers.get(i);
            if (answer.ok()) {
              results.succeed(i, answer.sequenceNumber());
            } else {
              results.fail(i, new IOException(answer.errorCode()));   // this record only
            }
          }
        })
        .config(c -> c.policy(Presets.kinesisPutRecords(Reading::sizeInBytes))
            .flushInterval(Duration.ofMillis(100)))
        .middleware(FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(3)  // resends only the failed records
            .backoff(Duration.ofMillis(50), Duration.ofSeconds(2)).build(), TimeSource.system()))
        .start();
    CompletableFuture<String> sequenceNumber = buffer.submit(reading);
    // --- end ---
    CompletableFuture<String> hot = buffer.submit(new Reading("hot-7", "99.0"));
    CompletableFuture<String> other = buffer.submit(new Reading("sensor-2", "20.1"));
    buffer.close();
    // One request unless the 100 ms linger ended a batch early; the retry sends the hot record alone.
    assertThat(stream.requests).contains(List.of("hot-7"));
    assertThat(stream.requests.stream().flatMap(List::stream))
        .containsExactlyInAnyOrder("sensor-1", "hot-7", "hot-7", "sensor-2");
    assertThat(List.of(sequenceNumber.get(), hot.get(), other.get()))  // hot's is the retry's answer
        .doesNotHaveDuplicates().allSatisfy(n -> assertThat(n).isNotEmpty());
  }

  @Test
  void deliveryGuarantees() throws Exception {
    RecordingFlush<Order> flush = new RecordingFlush<>();
    List<Order> deadLetters = new CopyOnWriteArrayList<>();
    Order order = new Order("o1");
    Buffer<Order> buffer = Buffer.start(Config.builder(flush).build());
    // --- README delivery guarantees ---
    CompletableFuture<Void> sent = buffer.submit(order);      // like add, plus a future for this item
    buffer.flush().get(5, TimeUnit.SECONDS);                  // everything accepted so far, now
    CloseResult<Order> result = buffer.close(Duration.ofSeconds(10));  // bounded drain
    if (!result.drained()) {
      deadLetters.addAll(result.undelivered());               // never flushed; their futures failed
    }
    // --- end ---
    assertThat(sent).isCompleted();
    assertThat(result.drained()).isTrue();
    assertThat(deadLetters).isEmpty();
    assertThat(flush.items()).containsExactly(order);
  }

  record Msg(String body) {}

  /** Stands in for a logger. */
  static final class Log {
    final List<String> lines = new CopyOnWriteArrayList<>();

    void info(String line) {
      lines.add(line);
    }
  }

  @Test
  void flushMiddleware() throws Exception {
    Sqs sqs = new Sqs();
    ManualTimeSource time = new ManualTimeSource();
    Log log = new Log();
    // --- README middleware ---
    RetryPolicy policy = RetryPolicy.builder().maxAttempts(5)
        .backoff(Duration.ofMillis(100), Duration.ofSeconds(5)).jitter(0.2)
        .maxElapsed(Duration.ofSeconds(30)).retryOn(e -> !(e instanceof IllegalArgumentException)).build();
    FlushFunc<Msg> flush = FlushMiddleware.chain(sqs::sendBatch,
        FlushMiddleware.circuitBreaker(5, Duration.ofSeconds(30), false, time), // one outcome per batch
        FlushMiddleware.retry(policy, time),                                   // retries each batch
        FlushMiddleware.rateLimit(10, 1_000, time),                            // paces every attempt
        FlushMiddleware.timeout(Duration.ofSeconds(5), time));                 // bounds every attempt
    FlushMiddleware<Msg> logging = next -> batch -> {                          // your own, in three lines
      log.info("sending " + batch.size());
      next.flush(batch);
    };
    // --- end ---
    logging.wrap(flush).flush(List.of(new Msg("a"), new Msg("b")));
    assertThat(log.lines).containsExactly("sending 2");
    assertThat(sqs.queues).containsExactly("msgs:2");
  }

  /** Stands in for a queue that refuses every batch. */
  static final class DownQueue {
    final AtomicInteger calls = new AtomicInteger();

    void sendBatch(List<Msg> batch) throws IOException {
      calls.incrementAndGet();
      throw new IOException("throttled");
    }
  }

  @Test
  void deliveryTimeout() throws Exception {
    DownQueue sqs = new DownQueue();
    ManualTimeSource time = new ManualTimeSource();
    List<Msg> deadLetters = new CopyOnWriteArrayList<>();
    // --- README delivery timeout ---
    Buffer<Msg> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(sqs::sendBatch,
            FlushMiddleware.<Msg>retry(RetryPolicy.builder().maxAttempts(1_000).build(), time)))
        .flushInterval(Duration.ofMillis(200))
        .onFlushError((e, msgs) -> deadLetters.addAll(msgs))     // expired items land here too
        .build(), Options.builder().timeSource(time).deliveryTimeout(Duration.ofSeconds(30)).build());
    CompletableFuture<Void> sent = buffer.submit(new Msg("m1")); // EXPIRED after 30 s of failures
    // --- end ---
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> {
      if (time.timedWaiters() > 0) {
        time.advance(Duration.ofSeconds(1));
      }
      return sent.isDone();
    });
    assertThat(sent).failsWithin(Duration.ofSeconds(5)).withThrowableOfType(
            java.util.concurrent.ExecutionException.class)
        .havingCause().isInstanceOfSatisfying(DeliveryException.class,
            d -> assertThat(d.reason()).isEqualTo(DeliveryException.Reason.EXPIRED));
    // retry gives up once the next backoff (at most RetryPolicy.DEFAULT_MAX_DELAY, 10 s) would
    // start an attempt at or after the deadline: so between 20 s and 30 s (+ one 1 s step here).
    assertThat(time.nanoTime()).as("expired within its 30 s, once the next backoff would cross them")
        .isBetween(Duration.ofSeconds(20).toNanos(), Duration.ofSeconds(31).toNanos());
    buffer.close();
    assertThat(deadLetters).containsExactly(new Msg("m1"));
    assertThat(sqs.calls.get()).isGreaterThan(1);
    assertThat(buffer.stats().expired()).isEqualTo(1);
  }

  /** Stands in for an alerting client. */
  static final class Alerts {
    final AtomicInteger raised = new AtomicInteger();

    void raise(String message, Throwable error) {
      raised.incrementAndGet();
    }
  }

  /** Stands in for a Kinesis client that throttles its first call. */
  static final class Kinesis {
    final List<Msg> sent = new CopyOnWriteArrayList<>();
    final AtomicInteger calls = new AtomicInteger();

    void putRecords(List<Msg> batch) {
      if (calls.incrementAndGet() == 1) {
        throw new software.amazon.awssdk.services.kinesis.model
            .ProvisionedThroughputExceededException();
      }
      sent.addAll(batch);
    }
  }

  @Test
  void adaptiveConcurrency() throws Exception {
    Kinesis kinesis = new Kinesis();
    ManualTimeSource time = new ManualTimeSource();
    List<Msg> deadLetters = new CopyOnWriteArrayList<>();
    // --- README adaptive concurrency ---
    FlowControl flow = FlowControl.aimd()
        .initialLimit(4).minLimit(1).maxLimit(16)     // flushes in flight: start, floor, ceiling
        .increase(1).decreaseFactor(0.5)               // +1 per window of successes, halve on throttling
        .itemsPerSecond(1_000, 100, 5_000, 100)        // optional: adapt items per second too
        .throttledWhen(e -> FlowControl.isDefaultThrottling(e)
            || String.valueOf(e.getMessage()).contains("HTTP 429"))  // plus your client's own
        .build();
    Buffer<Msg> buffer = Buffer.start(Config.builder(kinesis::putRecords).capacity(2)
            .onFlushError((e, batch) -> deadLetters.addAll(batch)).build(),
        Options.builder().timeSource(time).flowControl(flow).build());
    buffer.add(new Msg("a"));
    buffer.add(new Msg("b"));                                // throttled: the limit halves
    buffer.flush().handle((ok, e) -> null).get(5, TimeUnit.SECONDS);
    BufferStats stats = buffer.stats();                      // concurrencyLimit 2, throttled 1
    // --- end ---
    assertThat(stats.concurrencyLimit()).isEqualTo(2);
    assertThat(stats.rateLimit()).isEqualTo(500.0);
    assertThat(stats.throttled()).isEqualTo(1);
    assertThat(deadLetters).extracting(Msg::body).containsExactly("a", "b");
    buffer.close();
  }

  @Test
  void listener() throws Exception {
    Alerts alerts = new Alerts();
    // --- README listener ---
    Options<Order> options = Options.<Order>builder().name("orders")
        .listener(new BufferListener<>() {
          @Override public void flushFailed(FlushInfo info, Throwable error) {
            alerts.raise(info.buffer() + ": " + info.failed() + " rows failed (" + info.reason() + ")", error);
          }
        })
        .build();
    // --- end ---
    FlushFunc<Order> failing = batch -> {
      throw new IOException("down");
    };
    try (Buffer<Order> buffer = Buffer.start(Config.builder(failing).capacity(1)
        .onFlushError((e, b) -> { }).build(), options)) {
      buffer.add(new Order("o1"));
    }
    assertThat(alerts.raised).hasValue(1);
  }

  @Test
  void micrometer() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (Buffer<Order> buffer = Buffer.start(Config.builder(new RecordingFlush<Order>()).build())) {
      // --- README micrometer ---
      BufferMetrics.of(buffer, Tags.of("app", "shop")).bindTo(registry);
      // --- end ---
      buffer.add(new Order("o1"));
    }
    assertThat(registry.getMeters()).isNotEmpty();
  }

  record Line(String text) {}

  /** Stands in for a file channel and a token cache. */
  static final class Resource {
    final AtomicInteger calls = new AtomicInteger();

    void force() {
      calls.incrementAndGet();
    }

    void refresh() {
      calls.incrementAndGet();
    }
  }

  @Test
  void periodicTasks() throws Exception {
    Resource channel = new Resource();
    Resource tokens = new Resource();
    Options<Line> options =
        // --- README periodic tasks ---
        Options.<Line>builder()
            .periodic(Duration.ofSeconds(1), channel::force)          // on the loop, never during a flush
            .periodicAsync(Duration.ofMinutes(5), tokens::refresh)    // on its own virtual thread
            .build();
        // --- end ---
    try (Buffer<Line> buffer = Buffer.start(Config.builder(new RecordingFlush<Line>()).build(),
        options)) {
      buffer.add(new Line("x"));
    }
    assertThat(channel.calls).hasValue(1); // once more at close, after the final flush
  }
}
