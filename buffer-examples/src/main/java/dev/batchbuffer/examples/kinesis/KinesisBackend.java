package dev.batchbuffer.examples.kinesis;

import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.examples.demo.DemoBackend;
import dev.batchbuffer.examples.demo.Order;
import java.io.IOException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.Record;

/**
 * The demo's {@code --backend kinesis}: kinesalite started on 127.0.0.1 ({@link LocalKinesis}), a
 * stream of four shards for the batched run and one for the one-at-a-time comparison. A batch is
 * one {@code PutRecords} request, its throttled records retried alone
 * ({@link KinesisPublisher#putRecords} under {@link FlushMiddleware#retry}); the partition key is
 * the producer, so each producer's orders keep their order.
 */
public final class KinesisBackend implements DemoBackend {
  private static final String STREAM = "orders";
  private static final String SINGLE = "orders-single";
  private static final int SHARDS = 4;

  private final LocalKinesis server;
  private final KinesisClient kinesis;
  private final FlushFunc<KinesisRecord> put;

  /**
   * Starts kinesalite and creates the streams.
   *
   * @throws IllegalStateException if node or npm is missing ({@link LocalKinesis#unavailable()})
   * @throws IOException if kinesalite cannot be started
   * @throws InterruptedException if interrupted while it starts
   */
  public KinesisBackend() throws IOException, InterruptedException {
    server = LocalKinesis.start();
    KinesisClient client = null;
    try {
      client = KinesisSettings.local(server.endpoint()).client(List.of());
      KinesisStreams.create(client, STREAM, SHARDS);
      KinesisStreams.create(client, SINGLE, 1);
    } catch (RuntimeException | Error e) { // nothing started may outlive a failed start
      if (client != null) {
        client.close();
      }
      server.close();
      throw e;
    }
    kinesis = client;
    put = FlushMiddleware.chain(KinesisPublisher.putRecords(kinesis, STREAM),
        FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(5)
            .backoff(Duration.ofMillis(50), Duration.ofSeconds(2))
            .retryOn(KinesisPublisher::retryable).build(), TimeSource.system()));
  }

  @Override
  public String describe() {
    return "Kinesis (kinesalite, " + SHARDS + " shards) on " + server.endpoint().getAuthority()
        + ", up in " + server.startupTime().toMillis() + " ms";
  }

  @Override
  public String arrivedPlace() {
    return "stream";
  }

  @Override
  public String arrivedUnit() {
    return "records";
  }

  @Override
  public String batchUnit() {
    return "one PutRecords request";
  }

  @Override
  public FlushPolicy<Order> policy(int capacity) {
    return FlushPolicy.<Order>count(Math.min(capacity, dev.batchbuffer.Presets.KINESIS_MAX_RECORDS))
        .or(dev.batchbuffer.Presets.kinesisPutRecords(KinesisBackend::bytes));
  }

  private static long bytes(Order order) {
    return record(order).bytes();
  }

  private static KinesisRecord record(Order order) {
    return KinesisRecord.ofUtf8("producer-" + order.producer(), order.encode());
  }

  @Override
  public void writeBatch(List<Order> batch) throws Exception {
    put.flush(batch.stream().map(KinesisBackend::record).toList());
  }

  /** One {@code PutRecord} request per order, to a stream of its own. */
  @Override
  public void writeOneByOne(List<Order> orders) {
    for (Order o : orders) {
      KinesisRecord r = record(o);
      kinesis.putRecord(b -> b.streamName(SINGLE).partitionKey(r.partitionKey()).data(r.data()));
    }
  }

  /** Reads every shard of the batched stream back and decodes each record. */
  @Override
  public Arrived arrived() {
    List<Record> records = KinesisStreams.readAll(kinesis, STREAM);
    Set<Long> ids = new HashSet<>();
    long checksum = 0;
    long duplicates = 0;
    for (Record r : records) {
      Order o = Order.decode(r.data().asUtf8String());
      if (ids.add(o.id())) {
        checksum += o.checksum();
      } else {
        duplicates++;
      }
    }
    return new Arrived(ids.size(), checksum, duplicates);
  }

  /** Closes the client and kills kinesalite (its streams lived in its memory). */
  @Override
  public void close() {
    try {
      kinesis.close();
    } finally {
      server.close();
    }
  }
}
