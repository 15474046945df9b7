package dev.batchbuffer.examples.sqs;

import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.examples.demo.DemoBackend;
import dev.batchbuffer.examples.demo.Order;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import software.amazon.awssdk.services.sqs.SqsClient;
import software.amazon.awssdk.services.sqs.model.Message;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchResponse;

/**
 * The demo's {@code --backend sqs}: ElasticMQ started in-process on 127.0.0.1 ({@link LocalSqs}),
 * each batch one {@code SendMessageBatch} request to the queue {@code orders}, the comparison one
 * {@code SendMessage} each to {@code orders-single}, and the check a receive of every message of
 * {@code orders}. The client is thread-safe, so several batches may be in flight.
 */
public final class SqsDemoBackend implements DemoBackend {
  private final LocalSqs server;
  private final SqsClient sqs;
  private final String batchQueue;
  private final String singleQueue;

  private SqsDemoBackend(LocalSqs server, SqsClient sqs, String batchQueue, String singleQueue) {
    this.server = server;
    this.sqs = sqs;
    this.batchQueue = batchQueue;
    this.singleQueue = singleQueue;
  }

  /**
   * Starts ElasticMQ and creates the two queues.
   *
   * @return the backend; {@link #close()} stops the server
   */
  public static SqsDemoBackend start() {
    LocalSqs server = LocalSqs.start();
    SqsClient sqs = server.connection().newClient(List.of());
    try {
      String batch = sqs.createQueue(b -> b.queueName("orders")).queueUrl();
      String single = sqs.createQueue(b -> b.queueName("orders-single")).queueUrl();
      return new SqsDemoBackend(server, sqs, batch, single);
    } catch (RuntimeException e) {
      sqs.close();
      server.close();
      throw e;
    }
  }

  @Override
  public String describe() {
    return String.format(Locale.ROOT, "Amazon SQS API on ElasticMQ (in-process) at %s, up in %.1f s",
        server.endpoint(), server.startupTime().toMillis() / 1000.0);
  }

  @Override
  public String arrivedPlace() {
    return "queue";
  }

  @Override
  public String arrivedUnit() {
    return "messages";
  }

  @Override
  public String batchUnit() {
    return "one SendMessageBatch request";
  }

  @Override
  public FlushPolicy<Order> policy(int capacity) {
    return Presets.sqsSendMessageBatch(o -> SqsMessage.utf8(o.encode()),
        Math.min(capacity, Presets.SQS_MAX_ENTRIES), Presets.SQS_MAX_REQUEST_BYTES,
        Presets.SQS_MAX_MESSAGE_BYTES);
  }

  @Override
  public int maxInFlight() {
    return 4;
  }

  /**
   * Sends one batch as one request; entries the queue refused, or the response does not report
   * queued, fail the flush with a {@link PartialFlushException} naming them (the demo has no retry,
   * so they are reported).
   */
  @Override
  public void writeBatch(List<Order> batch) throws PartialFlushException {
    List<SqsMessage> messages = new ArrayList<>(batch.size());
    for (Order o : batch) {
      messages.add(SqsMessage.of(o.encode()));
    }
    SendMessageBatchResponse response = sqs.sendMessageBatch(SqsPublisher.request(batchQueue, messages));
    List<Integer> failed = SqsPublisher.notQueued(response, messages.size());
    if (!failed.isEmpty()) {
      Exception cause = response.failed().isEmpty()
          ? new IllegalStateException("SendMessageBatch did not report entries " + failed + " queued")
          : SqsPublisher.entryException(response.failed().get(0));
      throw new PartialFlushException(failed, cause);
    }
  }

  @Override
  public void writeOneByOne(List<Order> orders) {
    for (Order o : orders) {
      sqs.sendMessage(b -> b.queueUrl(singleQueue).messageBody(o.encode()));
    }
  }

  /** Receives every message of the batch queue (none is deleted; each stays invisible meanwhile). */
  @Override
  public Arrived arrived() {
    long count = 0;
    long checksum = 0;
    long duplicates = 0;
    Set<Long> seen = new HashSet<>();
    while (true) {
      List<Message> messages = sqs.receiveMessage(b -> b.queueUrl(batchQueue)
          .maxNumberOfMessages(10).visibilityTimeout(600).waitTimeSeconds(0)).messages();
      if (messages.isEmpty()) {
        return new Arrived(count, checksum, duplicates);
      }
      for (Message m : messages) {
        Order o = Order.decode(m.body());
        count++;
        if (seen.add(o.id())) {
          checksum += o.checksum();
        } else {
          duplicates++;
        }
      }
    }
  }

  @Override
  public void close() {
    try {
      sqs.close();
    } finally {
      server.close();
    }
  }
}
