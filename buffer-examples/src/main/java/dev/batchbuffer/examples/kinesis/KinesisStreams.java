package dev.batchbuffer.examples.kinesis;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import software.amazon.awssdk.core.waiters.WaiterOverrideConfiguration;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.Shard;
import software.amazon.awssdk.services.kinesis.model.ShardIteratorType;
import software.amazon.awssdk.services.kinesis.waiters.KinesisWaiter;

/**
 * Stream administration and a read-back for the tests and the demo: create a stream and wait until
 * it is active, read every record of every shard from the start.
 */
public final class KinesisStreams {
  private KinesisStreams() {}

  /**
   * Creates a stream and waits until it exists (checking every 50 ms, for at most 10 s).
   *
   * @param kinesis the client
   * @param streamName the new stream's name
   * @param shards its shard count
   */
  public static void create(KinesisClient kinesis, String streamName, int shards) {
    kinesis.createStream(b -> b.streamName(streamName).shardCount(shards));
    try (KinesisWaiter waiter = KinesisWaiter.builder().client(kinesis)
        .overrideConfiguration(WaiterOverrideConfiguration.builder()
            .backoffStrategyV2(BackoffStrategy.fixedDelayWithoutJitter(Duration.ofMillis(50)))
            .maxAttempts(200)
            .build())
        .build()) {
      waiter.waitUntilStreamExists(b -> b.streamName(streamName))
          .matched().exception().ifPresent(e -> {
            throw new IllegalStateException("stream " + streamName + " did not become active", e);
          });
    }
  }

  /**
   * Reads every record of the stream, shard after shard, each shard from its start
   * ({@code TRIM_HORIZON}) until a read returns nothing. Records of one partition key are in one
   * shard, so they come back in the order the stream holds them.
   *
   * @param kinesis the client
   * @param streamName the stream
   * @return the records
   */
  public static List<Record> readAll(KinesisClient kinesis, String streamName) {
    List<Record> all = new ArrayList<>();
    for (Shard shard : kinesis.listShards(b -> b.streamName(streamName)).shards()) {
      String iterator = kinesis.getShardIterator(b -> b.streamName(streamName)
          .shardId(shard.shardId())
          .shardIteratorType(ShardIteratorType.TRIM_HORIZON)).shardIterator();
      while (iterator != null) {
        String from = iterator;
        GetRecordsResponse page = kinesis.getRecords(b -> b.shardIterator(from).limit(10_000));
        if (page.records().isEmpty()) {
          break;
        }
        all.addAll(page.records());
        iterator = page.nextShardIterator();
      }
    }
    return all;
  }
}
