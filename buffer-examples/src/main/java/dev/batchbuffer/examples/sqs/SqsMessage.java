package dev.batchbuffer.examples.sqs;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Objects;

/**
 * One message to send: a body and string attributes.
 *
 * @param body the message body (SQS allows tab, newline, carriage return and the Unicode ranges
 *     U+0020 to U+D7FF, U+E000 to U+FFFD and U+10000 to U+10FFFF; the queue refuses others)
 * @param attributes string attributes by name, none by default
 */
public record SqsMessage(String body, Map<String, String> attributes) {

  /** The data type of every attribute this record sends. */
  static final String STRING = "String";

  /**
   * Copies the attributes; checks for nulls.
   *
   * @param body the message body
   * @param attributes string attributes by name
   */
  public SqsMessage {
    Objects.requireNonNull(body, "body must not be null");
    attributes = Map.copyOf(attributes);
  }

  /**
   * A message with a body and no attributes.
   *
   * @param body the message body
   * @return the message
   */
  public static SqsMessage of(String body) {
    return new SqsMessage(body, Map.of());
  }

  /**
   * Returns the message's size as SQS counts it against its limits: the UTF-8 bytes of the body,
   * and of each attribute's name, data type and value.
   *
   * @return the size in bytes
   */
  public long sizeInBytes() {
    long size = utf8(body);
    for (Map.Entry<String, String> a : attributes.entrySet()) {
      size += utf8(a.getKey()) + utf8(STRING) + utf8(a.getValue());
    }
    return size;
  }

  static long utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }
}
