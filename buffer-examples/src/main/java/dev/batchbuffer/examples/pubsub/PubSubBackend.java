package dev.batchbuffer.examples.pubsub;

import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.examples.demo.DemoBackend;
import dev.batchbuffer.examples.demo.Order;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The demo's {@code --backend pubsub}: the Pub/Sub emulator ({@link LocalPubSub}), a topic with a
 * pull subscription for the batched run and a topic of its own for the one-at-a-time comparison. A
 * batch is one REST {@code publish} request ({@link PubSubPublisher#publish}, retried whole).
 */
public final class PubSubBackend implements DemoBackend {
  private static final String TOPIC = "orders";
  private static final String SUBSCRIPTION = "orders-check";
  private static final String SINGLE = "orders-single";

  private final LocalPubSub emulator;
  private final PubSubRest rest;
  private final FlushFunc<PubSubMessage> publish;

  /**
   * Starts the emulator (or uses {@code PUBSUB_EMULATOR_HOST}) and creates the topics.
   *
   * @throws IllegalStateException if there is no emulator ({@link LocalPubSub#unavailable()})
   * @throws Exception if the emulator cannot be started or set up
   */
  public PubSubBackend() throws Exception {
    emulator = LocalPubSub.start();
    rest = new PubSubRest(emulator.settings("batchbuffer-demo"), (uri, body) -> { });
    try {
      rest.createTopic(TOPIC);
      rest.createSubscription(SUBSCRIPTION, TOPIC);
      rest.createTopic(SINGLE);
    } catch (Exception e) {
      close();
      throw e;
    }
    publish = FlushMiddleware.chain(PubSubPublisher.publish(rest, TOPIC),
        FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(5)
            .backoff(Duration.ofMillis(50), Duration.ofSeconds(2))
            .retryOn(PubSubPublisher::retryable).build(), TimeSource.system()));
  }

  @Override
  public String describe() {
    return "Pub/Sub emulator on " + emulator.hostPort() + (emulator.started()
        ? ", up in " + emulator.startupTime().toMillis() + " ms" : " (PUBSUB_EMULATOR_HOST)");
  }

  @Override
  public String arrivedPlace() {
    return "subscription";
  }

  @Override
  public String arrivedUnit() {
    return "messages";
  }

  @Override
  public String batchUnit() {
    return "one REST publish request";
  }

  @Override
  public FlushPolicy<Order> policy(int capacity) {
    return FlushPolicy.<Order>count(Math.min(capacity, dev.batchbuffer.Presets.PUBSUB_MAX_MESSAGES))
        .or(dev.batchbuffer.Presets.pubSubPublish(PubSubBackend::bytes));
  }

  private static long bytes(Order order) {
    return message(order).encodedBytes();
  }

  private static PubSubMessage message(Order order) {
    return PubSubMessage.ofUtf8(order.encode());
  }

  @Override
  public void writeBatch(List<Order> batch) throws Exception {
    publish.flush(batch.stream().map(PubSubBackend::message).toList());
  }

  /** One {@code publish} request per order, to a topic of its own. */
  @Override
  public void writeOneByOne(List<Order> orders) throws Exception {
    for (Order o : orders) {
      rest.publish(SINGLE, List.of(message(o)));
    }
  }

  /**
   * Pulls the subscription until three pulls in a row bring nothing, acknowledging what came, and
   * counts each message id once; a message whose data arrived under two ids is a duplicate.
   */
  @Override
  public Arrived arrived() throws Exception {
    Set<String> messageIds = new HashSet<>();
    Set<Long> orderIds = new HashSet<>();
    long checksum = 0;
    long duplicates = 0;
    for (int empty = 0; empty < 3; ) {
      List<PubSubRest.Received> got = rest.pull(SUBSCRIPTION, 1_000);
      if (got.isEmpty()) {
        empty++;
        continue;
      }
      empty = 0;
      List<String> acks = new ArrayList<>(got.size());
      for (PubSubRest.Received r : got) {
        acks.add(r.ackId());
        if (!messageIds.add(r.messageId())) {
          continue; // redelivered: already counted
        }
        Order o = Order.decode(r.message().dataAsUtf8());
        if (orderIds.add(o.id())) {
          checksum += o.checksum();
        } else {
          duplicates++;
        }
      }
      rest.acknowledge(SUBSCRIPTION, acks);
    }
    return new Arrived(orderIds.size(), checksum, duplicates);
  }

  /** Closes the HTTP client and kills the emulator it started. */
  @Override
  public void close() {
    try {
      rest.close();
    } finally {
      emulator.close();
    }
  }
}
