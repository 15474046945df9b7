package dev.batchbuffer.examples.sqs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.BufferStats;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import software.amazon.awssdk.services.sqs.SqsClient;
import software.amazon.awssdk.services.sqs.model.Message;

/**
 * What a queue holds, read back, and the checks the SQS integration tests share.
 *
 * @param messageId the id the queue gave the message
 * @param message the body and string attributes received
 */
record Received(String messageId, SqsMessage message) {

  /**
   * Receives every message of the queue (sent before the call): ten at a time, each kept invisible
   * for ten minutes so none comes twice, until a receive comes back empty.
   */
  static List<Received> all(SqsClient sqs, String queueUrl) {
    List<Received> all = new ArrayList<>();
    while (true) {
      List<Message> messages = sqs.receiveMessage(b -> b.queueUrl(queueUrl).maxNumberOfMessages(10)
          .visibilityTimeout(600).waitTimeSeconds(0).messageAttributeNames("All")).messages();
      if (messages.isEmpty()) {
        return all;
      }
      for (Message m : messages) {
        Map<String, String> attributes = new TreeMap<>();
        m.messageAttributes().forEach((name, value) -> attributes.put(name, value.stringValue()));
        all.add(new Received(m.messageId(), new SqsMessage(m.body(), attributes)));
      }
    }
  }

  /** Every message received is a message sent, each exactly once, and nothing else arrived. */
  static void assertExactlyOnce(List<Received> received, List<SqsMessage> expected) {
    assertThat(received.stream().map(Received::message).toList())
        .containsExactlyInAnyOrderElementsOf(expected);
    assertThat(received.stream().map(Received::messageId).distinct().count())
        .isEqualTo(received.size());
  }

  /** The buffer's accounting identity, with nothing left waiting or flushing. */
  static void assertBalanced(BufferStats stats) {
    assertThat(stats.itemsWaiting()).as("waiting").isZero();
    assertThat(stats.itemsFlushing()).as("flushing").isZero();
    assertThat(stats.accepted()).as("accepted == flushed + failed + rejected + undelivered")
        .isEqualTo(stats.flushed() + stats.failed() + stats.rejected() + stats.undelivered());
  }
}
