package dev.batchbuffer.examples.kafka;

import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Presets;
import dev.batchbuffer.examples.demo.DemoBackend;
import dev.batchbuffer.examples.demo.Order;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The demo's {@code --backend kafka}: a {@link LocalKafka} broker, the orders topic (3 partitions,
 * keyed by customer) written through a {@link KafkaBatchSink}, and a consumer that reads the topic
 * back for the check.
 */
public final class KafkaDemoBackend implements DemoBackend {
  private static final String TOPIC = "orders";
  private static final String SINGLE_TOPIC = "orders_single";
  private static final int PARTITIONS = 3;

  private final LocalKafka kafka;
  private final KafkaProducer<String, String> producer;
  private final KafkaBatchSink<String, String> sink;

  /**
   * Starts the broker, creates the topics and the producer.
   *
   * @throws Exception if the broker does not start
   */
  public KafkaDemoBackend() throws Exception {
    kafka = LocalKafka.start();
    try {
      kafka.createTopic(TOPIC, PARTITIONS, Map.of());
      kafka.createTopic(SINGLE_TOPIC, PARTITIONS, Map.of());
      producer = new KafkaProducer<>(KafkaBatchSink.producerSettings(kafka.bootstrapServers()),
          new StringSerializer(), new StringSerializer());
    } catch (RuntimeException e) {
      kafka.close();
      throw e;
    }
    sink = new KafkaBatchSink<>(producer);
  }

  @Override
  public String describe() {
    return String.format(java.util.Locale.ROOT,
        "Apache Kafka 4.4.0 (in-process KRaft broker, up in %.1f s) on %s, topic %s",
        kafka.startUpTime().toMillis() / 1000.0, kafka.bootstrapServers(), TOPIC);
  }

  @Override
  public String arrivedPlace() {
    return "topic";
  }

  @Override
  public String arrivedUnit() {
    return "records";
  }

  @Override
  public String batchUnit() {
    return "sends + one producer flush()";
  }

  @Override
  public FlushPolicy<Order> policy(int capacity) {
    return FlushPolicy.<Order>count(capacity)
        .or(Presets.kafkaBatch(o -> KafkaBatchSink.utf8Size(record(TOPIC, o))));
  }

  @Override
  public void writeBatch(List<Order> batch) throws Exception {
    List<ProducerRecord<String, String>> records = new ArrayList<>(batch.size());
    for (Order o : batch) {
      records.add(record(TOPIC, o));
    }
    sink.flush(records); // a PartialFlushException's indexes are the orders' indexes
  }

  @Override
  public void writeOneByOne(List<Order> orders) throws ExecutionException, InterruptedException {
    for (Order o : orders) {
      producer.send(record(SINGLE_TOPIC, o)).get();
    }
  }

  @Override
  public Arrived arrived() {
    Map<String, Object> config = new HashMap<>();
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    long count = 0;
    long checksum = 0;
    long duplicates = 0;
    Set<Long> seen = new HashSet<>();
    try (KafkaConsumer<String, String> consumer =
        new KafkaConsumer<>(config, new StringDeserializer(), new StringDeserializer())) {
      for (ConsumerRecord<String, String> r : TopicReader.readAll(consumer, TOPIC, Duration.ofSeconds(60))) {
        Order o = Order.decode(r.value());
        if (seen.add(o.id())) {
          count++;
          checksum += o.checksum();
        } else {
          duplicates++;
        }
      }
    }
    return new Arrived(count, checksum, duplicates);
  }

  @Override
  public void close() {
    try {
      producer.close(Duration.ofSeconds(10));
    } finally {
      kafka.close();
    }
  }

  private static ProducerRecord<String, String> record(String topic, Order o) {
    return new ProducerRecord<>(topic, o.customer(), o.encode());
  }
}
