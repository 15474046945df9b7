package dev.batchbuffer.examples.pubsub;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import software.amazon.awssdk.protocols.jsoncore.JsonNode;

/**
 * The Pub/Sub REST calls of the example: {@code publish}, and for the tests and the demo the topic
 * and subscription admin, {@code pull} and {@code acknowledge}. One {@link HttpClient}, closed by
 * {@link #close()}. Thread-safe.
 */
public final class PubSubRest implements AutoCloseable {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private final PubSubSettings settings;
  private final HttpClient http;
  private final BiConsumer<URI, byte[]> sentBodies;

  /**
   * Creates the client.
   *
   * @param settings where and as whom
   * @param sentBodies sees every request body just before it is sent, with its URI (tests measure
   *     the {@code publish} bodies with it); {@code (uri, body) -> {}} for none
   */
  public PubSubRest(PubSubSettings settings, BiConsumer<URI, byte[]> sentBodies) {
    this.settings = Objects.requireNonNull(settings, "settings must not be null");
    this.sentBodies = Objects.requireNonNull(sentBodies, "sentBodies must not be null");
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  }

  /**
   * A message pulled from a subscription.
   *
   * @param ackId what {@link #acknowledge} takes
   * @param messageId the id {@code publish} gave it
   * @param message its data and attributes
   */
  public record Received(String ackId, String messageId, PubSubMessage message) {}

  /**
   * Publishes {@code messages} in ONE {@code publish} request.
   *
   * @param topic the topic id
   * @param messages 1 to 1,000 messages
   * @return the message ids, in the order of {@code messages}
   * @throws PubSubException if Pub/Sub refused the request (all of it)
   * @throws IOException if the request could not be sent or answered
   * @throws InterruptedException if interrupted while waiting for the answer
   */
  public List<String> publish(String topic, List<PubSubMessage> messages)
      throws PubSubException, IOException, InterruptedException {
    StringBuilder body = new StringBuilder("{\"messages\":[");
    for (int i = 0; i < messages.size(); i++) {
      if (i > 0) {
        body.append(',');
      }
      body.append(messages.get(i).toJson());
    }
    body.append("]}");
    JsonNode answer = call("POST", "topics/" + topic + ":publish", body.toString());
    List<String> ids = answer.field("messageIds").map(JsonNode::asArray).orElse(List.of())
        .stream().map(JsonNode::asString).toList();
    if (ids.size() != messages.size()) {
      throw new IOException("publish answered " + ids.size() + " ids for " + messages.size()
          + " messages");
    }
    return ids;
  }

  /**
   * Creates a topic.
   *
   * @param topic the topic id
   * @throws PubSubException if refused (e.g. 409, it exists)
   * @throws IOException if the request failed
   * @throws InterruptedException if interrupted
   */
  public void createTopic(String topic) throws PubSubException, IOException, InterruptedException {
    call("PUT", "topics/" + topic, "{}");
  }

  /**
   * Deletes a topic; its subscriptions stay, detached.
   *
   * @param topic the topic id
   * @throws PubSubException if refused
   * @throws IOException if the request failed
   * @throws InterruptedException if interrupted
   */
  public void deleteTopic(String topic) throws PubSubException, IOException, InterruptedException {
    call("DELETE", "topics/" + topic, null);
  }

  /**
   * Creates a pull subscription of a topic, with a 60 s acknowledgement deadline.
   *
   * @param subscription the subscription id
   * @param topic the topic id
   * @throws PubSubException if refused
   * @throws IOException if the request failed
   * @throws InterruptedException if interrupted
   */
  public void createSubscription(String subscription, String topic)
      throws PubSubException, IOException, InterruptedException {
    call("PUT", "subscriptions/" + subscription, "{\"topic\":"
        + Json.string("projects/" + settings.project() + "/topics/" + topic)
        + ",\"ackDeadlineSeconds\":60}");
  }

  /**
   * Pulls up to {@code max} messages without waiting for more ({@code returnImmediately}, which
   * Google discourages for production subscribers but which a read-back check needs): it may return
   * fewer, or none, while more are on their way.
   *
   * @param subscription the subscription id
   * @param max at most this many
   * @return the messages
   * @throws PubSubException if refused
   * @throws IOException if the request failed
   * @throws InterruptedException if interrupted
   */
  public List<Received> pull(String subscription, int max)
      throws PubSubException, IOException, InterruptedException {
    JsonNode answer = call("POST", "subscriptions/" + subscription + ":pull",
        "{\"maxMessages\":" + max + ",\"returnImmediately\":true}");
    List<Received> out = new ArrayList<>();
    for (JsonNode r : answer.field("receivedMessages").map(JsonNode::asArray).orElse(List.of())) {
      JsonNode m = field(r, "message");
      Map<String, String> attributes = new LinkedHashMap<>();
      m.field("attributes").map(JsonNode::asObject).orElse(Map.of())
          .forEach((k, v) -> attributes.put(k, v.asString()));
      byte[] data = Base64.getDecoder().decode(m.field("data").map(JsonNode::asString).orElse(""));
      out.add(new Received(field(r, "ackId").asString(), field(m, "messageId").asString(),
          new PubSubMessage(data, attributes)));
    }
    return out;
  }

  /**
   * Acknowledges pulled messages, so they are not delivered again.
   *
   * @param subscription the subscription id
   * @param ackIds the messages' ack ids
   * @throws PubSubException if refused
   * @throws IOException if the request failed
   * @throws InterruptedException if interrupted
   */
  public void acknowledge(String subscription, List<String> ackIds)
      throws PubSubException, IOException, InterruptedException {
    if (ackIds.isEmpty()) {
      return;
    }
    StringBuilder body = new StringBuilder("{\"ackIds\":[");
    for (int i = 0; i < ackIds.size(); i++) {
      Json.string(i > 0 ? body.append(',') : body, ackIds.get(i));
    }
    call("POST", "subscriptions/" + subscription + ":acknowledge", body.append("]}").toString());
  }

  private static JsonNode field(JsonNode node, String name) throws IOException {
    JsonNode value = node.field(name).orElse(null);
    if (value == null) {
      throw new IOException("Pub/Sub answered without '" + name + "': " + node);
    }
    return value;
  }

  private JsonNode call(String method, String path, @org.jspecify.annotations.Nullable String json)
      throws PubSubException, IOException, InterruptedException {
    URI uri = settings.uri(path);
    HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(TIMEOUT)
        .header("Accept", "application/json");
    Supplier<String> token = settings.bearerToken();
    if (token != null) {
      request.header("Authorization", "Bearer " + token.get());
    }
    if (json == null) {
      request.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      byte[] body = json.getBytes(StandardCharsets.UTF_8);
      sentBodies.accept(uri, body);
      request.header("Content-Type", "application/json")
          .method(method, HttpRequest.BodyPublishers.ofByteArray(body));
    }
    HttpResponse<String> response =
        http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    if (response.statusCode() / 100 != 2) {
      throw new PubSubException(response.statusCode(), response.body());
    }
    String text = response.body();
    return text.isBlank() ? JsonNode.emptyObjectNode() : JsonNode.parser().parse(text);
  }

  /** Closes the HTTP client. */
  @Override
  public void close() {
    http.close();
  }
}
