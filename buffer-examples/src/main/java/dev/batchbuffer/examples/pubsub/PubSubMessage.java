package dev.batchbuffer.examples.pubsub;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Objects;

/**
 * One message to publish: data and attributes. Immutable.
 */
public final class PubSubMessage {
  private final byte[] data;
  private final Map<String, String> attributes;

  /**
   * Creates a message.
   *
   * @param data the payload (copied)
   * @param attributes string attributes (copied)
   * @throws IllegalArgumentException if the message is empty, or has more than
   *     {@value #MAX_ATTRIBUTES} attributes, a key over {@value #MAX_ATTRIBUTE_KEY_BYTES} bytes or a
   *     value over {@value #MAX_ATTRIBUTE_VALUE_BYTES} bytes (UTF-8): Pub/Sub refuses the whole
   *     {@code publish} request for one such message, and with it every other message of the batch
   *     (https://cloud.google.com/pubsub/quotas#resource_limits)
   */
  public PubSubMessage(byte[] data, Map<String, String> attributes) {
    this.data = Objects.requireNonNull(data, "data must not be null").clone();
    this.attributes = Map.copyOf(Objects.requireNonNull(attributes, "attributes must not be null"));
    if (this.data.length == 0 && this.attributes.isEmpty()) {
      throw new IllegalArgumentException("a message needs data or attributes (Pub/Sub refuses "
          + "the whole request otherwise)");
    }
    if (this.attributes.size() > MAX_ATTRIBUTES) {
      throw new IllegalArgumentException("a message has at most " + MAX_ATTRIBUTES
          + " attributes (was " + this.attributes.size() + "; Pub/Sub refuses the whole request)");
    }
    for (Map.Entry<String, String> a : this.attributes.entrySet()) {
      int key = a.getKey().getBytes(StandardCharsets.UTF_8).length;
      int value = a.getValue().getBytes(StandardCharsets.UTF_8).length;
      if (key > MAX_ATTRIBUTE_KEY_BYTES || value > MAX_ATTRIBUTE_VALUE_BYTES) {
        throw new IllegalArgumentException("attribute keys have at most " + MAX_ATTRIBUTE_KEY_BYTES
            + " bytes and values at most " + MAX_ATTRIBUTE_VALUE_BYTES + " (attribute '"
            + a.getKey().substring(0, Math.min(40, a.getKey().length())) + "' has " + key + " and "
            + value + "; Pub/Sub refuses the whole request)");
      }
    }
  }

  /** Pub/Sub's limit of attributes per message: {@value}. */
  public static final int MAX_ATTRIBUTES = 100;

  /** Pub/Sub's limit of an attribute key, in UTF-8 bytes: {@value}. */
  public static final int MAX_ATTRIBUTE_KEY_BYTES = 256;

  /** Pub/Sub's limit of an attribute value, in UTF-8 bytes: {@value}. */
  public static final int MAX_ATTRIBUTE_VALUE_BYTES = 1024;

  /**
   * Returns a message of UTF-8 text and no attributes.
   *
   * @param text the data
   * @return the message
   */
  public static PubSubMessage ofUtf8(String text) {
    return new PubSubMessage(text.getBytes(StandardCharsets.UTF_8), Map.of());
  }

  /**
   * Returns the data.
   *
   * @return a copy of the payload
   */
  public byte[] data() {
    return data.clone();
  }

  /**
   * Returns the data as UTF-8 text.
   *
   * @return the text
   */
  public String dataAsUtf8() {
    return new String(data, StandardCharsets.UTF_8);
  }

  /**
   * Returns the attributes.
   *
   * @return an immutable map
   */
  public Map<String, String> attributes() {
    return attributes;
  }

  /**
   * Returns this message as one element of the {@code messages} array of a REST {@code publish}
   * body: {@code {"data":"BASE64","attributes":{...}}}.
   *
   * @return the JSON
   */
  public String toJson() {
    StringBuilder json = new StringBuilder(data.length * 4 / 3 + 16);
    json.append("{\"data\":\"").append(Base64.getEncoder().encodeToString(data)).append('"');
    if (!attributes.isEmpty()) {
      json.append(",\"attributes\":{");
      boolean first = true;
      for (Map.Entry<String, String> a : attributes.entrySet()) {
        if (!first) {
          json.append(',');
        }
        first = false;
        Json.string(json, a.getKey()).append(':');
        Json.string(json, a.getValue());
      }
      json.append('}');
    }
    return json.append('}').toString();
  }

  /**
   * Returns the bytes this message adds to a REST {@code publish} body: its JSON (base64 data,
   * attributes) and a separating comma. The publisher weighs messages by this, so the limit holds
   * on the HTTP body actually sent, which is larger than the service's own count (raw data plus
   * attributes).
   *
   * @return the UTF-8 length of {@link #toJson()} plus one
   */
  public long encodedBytes() {
    return toJson().getBytes(StandardCharsets.UTF_8).length + 1L;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof PubSubMessage m && java.util.Arrays.equals(data, m.data)
        && attributes.equals(m.attributes);
  }

  @Override
  public int hashCode() {
    return 31 * java.util.Arrays.hashCode(data) + attributes.hashCode();
  }

  @Override
  public String toString() {
    return "PubSubMessage[" + data.length + " bytes, attributes=" + attributes + "]";
  }
}
