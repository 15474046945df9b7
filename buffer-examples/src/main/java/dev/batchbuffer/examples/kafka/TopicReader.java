package dev.batchbuffer.examples.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * Reads a whole topic back, for checks: every record from the start of each partition up to the
 * end offsets at the time of the call, without a consumer group (nothing is committed).
 */
public final class TopicReader {
  private TopicReader() {}

  /**
   * Reads every record of {@code topic} that was in it when this call started, partition by
   * partition in offset order.
   *
   * @param consumer a consumer without subscriptions; it is assigned the topic's partitions
   * @param topic the topic
   * @param timeout the longest the whole read may take
   * @param <K> key type
   * @param <V> value type
   * @return the records
   * @throws IllegalStateException if the end is not reached within {@code timeout}
   */
  public static <K, V> List<ConsumerRecord<K, V>> readAll(Consumer<K, V> consumer, String topic,
      Duration timeout) {
    List<TopicPartition> partitions = new ArrayList<>();
    for (PartitionInfo p : consumer.partitionsFor(topic, timeout)) {
      partitions.add(new TopicPartition(topic, p.partition()));
    }
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    Map<TopicPartition, Long> end = consumer.endOffsets(partitions, timeout);
    List<ConsumerRecord<K, V>> records = new ArrayList<>();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!reached(consumer, end)) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("did not reach the end of " + topic + " (" + end + ") in "
            + timeout + "; read " + records.size());
      }
      for (ConsumerRecord<K, V> r : consumer.poll(Duration.ofMillis(200))) {
        records.add(r);
      }
    }
    return records;
  }

  private static boolean reached(Consumer<?, ?> consumer, Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (consumer.position(e.getKey()) < e.getValue()) {
        return false;
      }
    }
    return true;
  }
}
