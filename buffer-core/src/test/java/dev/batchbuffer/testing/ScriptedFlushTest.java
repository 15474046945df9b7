package dev.batchbuffer.testing;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.Async;
import dev.batchbuffer.PartialFlushException;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The test kit's scripted flush function on its own. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ScriptedFlushTest {

  @Test
  void stepsRunInOrderThenTheDefaultSucceeds() throws Exception {
    IOException down = new IOException("down");
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
        .succeed().fail(2, down).build();
    flush.flush(List.of("a"));
    assertThatThrownBy(() -> flush.flush(List.of("b"))).isSameAs(down);
    assertThatThrownBy(() -> flush.flush(List.of("c"))).isSameAs(down);
    flush.flush(List.of("d"));
    assertThat(flush.calls()).extracting(ScriptedFlush.Call::succeeded)
        .containsExactly(true, false, false, true);
    assertThat(flush.delivered()).containsExactly("a", "d");
  }

  @Test
  void thenFailMakesEveryLaterCallFail() throws Exception {
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder().succeed()
        .thenFail(new IOException("gone")).build();
    flush.flush(List.of("a"));
    for (int i = 0; i < 3; i++) {
      assertThatThrownBy(() -> flush.flush(List.of("x"))).hasMessage("gone");
    }
    assertThat(flush.delivered()).containsExactly("a");
  }

  @Test
  void failItemsFailsOnlyThoseIndexesWithAPartialFlushException() {
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
        .failItems(new IOException("throttled"), 0, 2, 9).build();
    assertThatThrownBy(() -> flush.flush(List.of("a", "b", "c")))
        .isInstanceOfSatisfying(PartialFlushException.class, e -> {
          assertThat(e.failedIndexes()).containsExactly(0, 2); // 9 is outside this batch
          assertThat(e.getCause()).hasMessage("throttled");
        });
    assertThat(flush.delivered()).containsExactly("b");
  }

  @Test
  void failItemsWithNoIndexInTheBatchSucceeds() throws Exception {
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
        .failItems(new IOException("throttled"), 5).build();
    flush.flush(List.of("a", "b"));
    assertThat(flush.calls()).singleElement().satisfies(c -> assertThat(c.succeeded()).isTrue());
    assertThat(flush.delivered()).containsExactly("a", "b");
  }

  @Test
  void awaitThenSucceedHoldsTheCallUntilTheGateOpens() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder().awaitThenSucceed(gate).build();
    CompletableFuture<Void> call = Async.run(() -> flush.flush(List.of("a")));
    assertThatThrownBy(() -> flush.awaitCalls(1, Duration.ofMillis(50)))
        .isInstanceOf(AssertionError.class)
        .hasMessage("expected at least 1 calls within PT0.05S but got 0 calls () delivering 0 items");
    gate.countDown();
    call.get(10, TimeUnit.SECONDS);
    assertThat(flush.awaitDelivered(1, WAIT)).containsExactly("a");
  }

  @Test
  void awaitThenSucceedFailsTheCallWhenTheFlushThreadIsInterrupted() throws Exception {
    ScriptedFlush<String> flush = ScriptedFlush.<String>builder()
        .awaitThenSucceed(new CountDownLatch(1)).build();
    Thread.currentThread().interrupt();
    assertThatThrownBy(() -> flush.flush(List.of("a"))).isInstanceOf(InterruptedException.class);
    assertThat(flush.calls()).singleElement()
        .satisfies(c -> assertThat(c.thrown()).isInstanceOf(InterruptedException.class));
  }

  @Test
  void badScriptsAreRefusedWithTheFieldAndValue() {
    assertThatThrownBy(() -> ScriptedFlush.<String>builder().succeed(0))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("times must be >= 1 (was 0)");
    assertThatThrownBy(() -> ScriptedFlush.<String>builder().failItems(new IOException(), -1))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("indexes must be >= 0 (was -1)");
  }
}
