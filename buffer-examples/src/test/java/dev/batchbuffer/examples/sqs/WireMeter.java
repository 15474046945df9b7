package dev.batchbuffer.examples.sqs;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttribute;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.protocols.jsoncore.JsonNode;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequest;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequestEntry;

/**
 * Measures every {@code SendMessageBatch} request on the wire: just before the SDK sends it, reads
 * the marshalled HTTP body (AWS JSON), counts its entries, sums each entry's payload as SQS counts
 * it (the UTF-8 bytes of the body, and of each attribute's name, data type and value), and keeps
 * the body's size. It also keeps the bodies the caller asked to send, before any other interceptor
 * changed them, so a test can see which messages each request carried.
 */
final class WireMeter implements ExecutionInterceptor {

  /**
   * One request as sent.
   *
   * @param queueUrl the queue
   * @param bodies the message bodies the caller asked to send, in entry order
   * @param entries the entries in the marshalled body
   * @param payloadBytes the sum of the entries' payloads in the marshalled body
   * @param httpBodyBytes the size of the marshalled HTTP body
   */
  record Sent(String queueUrl, List<String> bodies, int entries, long payloadBytes,
      long httpBodyBytes) {}

  private static final ExecutionAttribute<List<String>> ASKED = new ExecutionAttribute<>("asked");

  private final List<Sent> sent = new CopyOnWriteArrayList<>();

  @Override
  public void beforeExecution(Context.BeforeExecution context, ExecutionAttributes attributes) {
    if (context.request() instanceof SendMessageBatchRequest request) {
      attributes.putAttribute(ASKED,
          request.entries().stream().map(SendMessageBatchRequestEntry::messageBody).toList());
    }
  }

  @Override
  public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
    if (!(context.request() instanceof SendMessageBatchRequest request)) {
      return;
    }
    RequestBody body = context.requestBody().orElseThrow();
    byte[] bytes;
    try (InputStream in = body.contentStreamProvider().newStream()) {
      bytes = in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Map<String, JsonNode> json = JsonNode.parser().parse(bytes).asObject();
    List<JsonNode> entries = field(json, "Entries").asArray();
    long payload = 0;
    for (JsonNode entry : entries) {
      Map<String, JsonNode> fields = entry.asObject();
      payload += utf8(field(fields, "MessageBody").asString());
      JsonNode attributesNode = fields.get("MessageAttributes");
      if (attributesNode != null) {
        for (Map.Entry<String, JsonNode> a : attributesNode.asObject().entrySet()) {
          Map<String, JsonNode> value = a.getValue().asObject();
          payload += utf8(a.getKey()) + utf8(field(value, "DataType").asString());
          JsonNode string = value.get("StringValue");
          JsonNode binary = value.get("BinaryValue");
          if (string != null) {
            payload += utf8(string.asString());
          }
          if (binary != null) {
            payload += Base64.getDecoder().decode(binary.asString()).length;
          }
        }
      }
    }
    List<String> asked = attributes.getAttribute(ASKED);
    sent.add(new Sent(request.queueUrl(), asked == null ? List.of() : asked, entries.size(), payload,
        bytes.length));
  }

  /** Returns the requests sent to {@code queueUrl}, in order. */
  List<Sent> sentTo(String queueUrl) {
    List<Sent> mine = new ArrayList<>();
    for (Sent s : sent) {
      if (s.queueUrl().equals(queueUrl)) {
        mine.add(s);
      }
    }
    return mine;
  }

  private static JsonNode field(Map<String, JsonNode> object, String name) {
    JsonNode node = object.get(name);
    if (node == null) {
      throw new AssertionError("no " + name + " in the marshalled request: " + object.keySet());
    }
    return node;
  }

  private static long utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }
}
