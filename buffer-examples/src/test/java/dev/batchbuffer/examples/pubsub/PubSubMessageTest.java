package dev.batchbuffer.examples.pubsub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link PubSubMessage} refuses, when it is made, a message Pub/Sub would refuse inside a
 * {@code publish} request (which fails that request whole, so every other message of the batch
 * with it): more than 100 attributes, a key over 256 bytes, a value over 1,024 bytes, counted in
 * UTF-8; messages exactly at those limits are made.
 */
class PubSubMessageTest {
  static final byte[] DATA = "x".getBytes(StandardCharsets.UTF_8);

  @Test
  void attributesExactlyAtPubSubsLimitsAreAccepted() {
    Map<String, String> hundred = new HashMap<>();
    for (int i = 0; i < 99; i++) {
      hundred.put("k" + i, "v");
    }
    hundred.put("k".repeat(256), "€".repeat(341) + "x"); // 1,024 bytes
    assertThat(new PubSubMessage(DATA, hundred).attributes()).hasSize(100);
  }

  @Test
  void aMessageWithMoreThan100AttributesIsRefused() {
    Map<String, String> many = new HashMap<>();
    for (int i = 0; i < 101; i++) {
      many.put("k" + i, "v");
    }
    assertThatThrownBy(() -> new PubSubMessage(DATA, many))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 100");
  }

  @Test
  void anAttributeKeyOrValueOverItsLimitInUtf8BytesIsRefused() {
    assertThatThrownBy(() -> new PubSubMessage(DATA, Map.of("é".repeat(129), "v")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("has 258 and 1");
    assertThatThrownBy(() -> new PubSubMessage(DATA, Map.of("k", "€".repeat(342))))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("has 1 and 1026");
  }
}
