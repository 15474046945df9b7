package dev.batchbuffer;

/*
 * Regression tests for the dispatcher rewrite: a user callback that throws a non-fatal exception
 * never stops the buffer (the item is rejected with the exception as the cause), the exception of a
 * partial failure agrees with the list handed to onFlushError, and a rejected item's future says
 * why. Helpers live in DispatcherContractTest.
 *
 * Status against the code before the rewrite (branch point 748d163). "assertion" = an AssertJ or
 * Awaitility failure; "after 10 s" = it waits its bounded WAIT first; none needs the 30 s timeout.
 * The three keyed tests fail either with the assertion after 10 s or, when the loop dies before the
 * next add, at once with that add's IllegalStateException ("stopped on a fatal error"): a race.
 *   keyedPolicyFunctionThatThrowsRejectsTheItemAndTheBufferGoesOn: FAILS (see above) - policyOf
 *     runs unguarded on the loop: the exception kills the loop (state FAILED) and the item's future
 *     never completes.
 *   keyedPolicyFunctionThatReturnsNullRejectsTheItemAndTheBufferGoesOn: FAILS (see above) - the
 *     builder's requireNonNull throws on the loop, unguarded: same.
 *   keyWhoseHashCodeThrowsRejectsTheItemAndTheBufferGoesOn: FAILS (see above) - the map lookup of
 *     the key runs unguarded on the loop: same.
 *   memoryWeigherIsCalledOncePerItemSoASecondCallThatThrowsDoesNotMatter: FAILS, assertion after 10 s
 *     - the loop weighs every item again for the memory bound, unguarded: the second call kills it.
 *   memoryWeigherThatThrowsOnTheProducerThrowsToTheCallerAndTheBufferGoesOn: PASSED before too (a guard) -
 *     producer-side weighing already throws to the caller before anything is taken; kept so the
 *     rewrite, which moves all memory weighing to the producer, keeps it.
 *   onFlushErrorGetsAPartialFailureWhoseIndexesMatchTheFailedItems: FAILS, assertion at once -
 *     onFlushError gets [b, d] with the original exception naming [1, 3]: failedItems(batch) throws
 *     IndexOutOfBoundsException.
 *   oversizeRejectionSaysTheWeightAndTheLimit: FAILS, assertion at once - every rejection has the same
 *     message ("the item was refused and handed to onReject").
 *   canAddRejectionSaysCanAddRefusedIt: FAILS, assertion at once - same message.
 *   throwingWillOverflowRejectionCarriesTheException: FAILS, assertion at once - the cause is null.
 *   throwingCanAddRejectionCarriesTheException: FAILS, assertion at once - same.
 *   throwingWeigherRejectionCarriesTheException: FAILS, assertion at once - same.
 */

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static dev.batchbuffer.DispatcherContractTest.deliveryFailure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.RecordingFlush;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CallbackGuardTest {
  /** A key whose hashCode throws for id "bad". */
  record Tenant(String id) {
    @Override
    public int hashCode() {
      if (id.equals("bad")) {
        throw new IllegalStateException("hashCode of tenant bad threw");
      }
      return id.hashCode();
    }
  }

  /** Records (key, batch) pairs as "key=[items]". */
  static final class Flushes<K> implements KeyedFlushFunc<K, String> {
    final List<String> calls = new CopyOnWriteArrayList<>();

    @Override
    public void flush(K key, List<String> batch) {
      calls.add(key + "=" + batch);
    }
  }

  /** The shared part of 3(a)-(c): the item was rejected, the rest flows, close drains. */
  static <K> void assertRejectedAndTheBufferGoesOn(KeyedBuffer<K, String> buffer, Flushes<K> flushes,
      List<String> rejected, CompletableFuture<Void> bad, String badItem) throws Exception {
    DeliveryException e = deliveryFailure(bad);
    assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
    await().atMost(WAIT).until(() -> flushes.calls.size() == 1);
    buffer.add("b:1"); // later adds still work
    buffer.add("b:2");
    await().atMost(WAIT).until(() -> flushes.calls.size() == 2);
    assertThat(rejected).containsExactly(badItem);
    assertThat(buffer.stats().state()).isNotEqualTo(BufferStats.State.FAILED);
    assertThat(buffer.close(WAIT).drained()).isTrue();
    assertThat(flushes.calls).hasSize(2).allSatisfy(call -> assertThat(call).doesNotContain(badItem));
  }

  // ---- 3. a throwing callback never stops the buffer ----

  @Test
  void keyedPolicyFunctionThatThrowsRejectsTheItemAndTheBufferGoesOn() throws Exception {
    IllegalStateException boom = new IllegalStateException("no policy for this tenant");
    Flushes<String> flushes = new Flushes<>();
    List<String> rejected = new CopyOnWriteArrayList<>();
    KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, flushes)
        .policy(key -> {
          if (key.equals("bad")) {
            throw boom;
          }
          return FlushPolicy.<String>count(2);
        }).onReject(rejected::add).flushInterval(HOURS).start();
    buffer.add("a:1");
    CompletableFuture<Void> bad = buffer.submit("bad:1");
    buffer.add("a:2");
    assertThat(deliveryFailure(bad).getCause()).isSameAs(boom);
    assertRejectedAndTheBufferGoesOn(buffer, flushes, rejected, bad, "bad:1");
    assertThat(flushes.calls).containsExactly("a=[a:1, a:2]", "b=[b:1, b:2]");
  }

  @Test
  @SuppressWarnings("NullAway") // a policy function returning null is the point
  void keyedPolicyFunctionThatReturnsNullRejectsTheItemAndTheBufferGoesOn() throws Exception {
    Flushes<String> flushes = new Flushes<>();
    List<String> rejected = new CopyOnWriteArrayList<>();
    FlushPolicy<String> none = null;
    KeyedBuffer<String, String> buffer = KeyedBuffer.builder(KeyedBufferTest::keyOf, flushes)
        .policy(key -> key.equals("tenant-42") ? none : FlushPolicy.<String>count(2))
        .onReject(rejected::add).flushInterval(HOURS).start();
    buffer.add("a:1");
    CompletableFuture<Void> bad = buffer.submit("tenant-42:1");
    buffer.add("a:2");
    DeliveryException e = deliveryFailure(bad);
    Throwable cause = e.getCause();
    assertThat(cause).as("the cause of the rejection").isInstanceOf(RuntimeException.class);
    assertThat(e.getMessage() + " / " + Objects.requireNonNull(cause).getMessage())
        .as("the messages name the key").contains("tenant-42");
    assertRejectedAndTheBufferGoesOn(buffer, flushes, rejected, bad, "tenant-42:1");
  }

  @Test
  void keyWhoseHashCodeThrowsRejectsTheItemAndTheBufferGoesOn() throws Exception {
    Flushes<Tenant> flushes = new Flushes<>();
    List<String> rejected = new CopyOnWriteArrayList<>();
    KeyedBuffer<Tenant, String> buffer = KeyedBuffer.<Tenant, String>builder(
            item -> new Tenant(KeyedBufferTest.keyOf(item)), flushes)
        .policy(FlushPolicy.count(2)).onReject(rejected::add).flushInterval(HOURS).start();
    buffer.add("a:1");
    CompletableFuture<Void> bad = buffer.submit("bad:1");
    buffer.add("a:2");
    assertThat(deliveryFailure(bad).getCause()).isInstanceOf(IllegalStateException.class)
        .hasMessage("hashCode of tenant bad threw");
    assertRejectedAndTheBufferGoesOn(buffer, flushes, rejected, bad, "bad:1");
  }

  @Test
  void memoryWeigherIsCalledOncePerItemSoASecondCallThatThrowsDoesNotMatter() throws Exception {
    Map<String, AtomicInteger> weighs = new ConcurrentHashMap<>();
    Weigher<String> once = item -> {
      if (weighs.computeIfAbsent(item, k -> new AtomicInteger()).incrementAndGet() > 1) {
        throw new IllegalStateException("weighed twice: " + item);
      }
      return item.length();
    };
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).flushInterval(HOURS).build(),
        Options.<String>builder().maxBufferedBytes(once, 1_000).build());
    CompletableFuture<Void> x1 = buffer.submit("x1");
    CompletableFuture<Void> x2 = buffer.submit("x2");
    assertThat(x1).succeedsWithin(WAIT);
    assertThat(x2).succeedsWithin(WAIT);
    buffer.add("x3");
    buffer.add("x4");
    assertThat(flush.awaitBatches(2, WAIT)).containsExactly(List.of("x1", "x2"), List.of("x3", "x4"));
    assertThat(buffer.stats().state()).isNotEqualTo(BufferStats.State.FAILED);
    buffer.add("x5");
    assertThat(buffer.close(WAIT).drained()).isTrue();
    assertThat(flush.items()).containsExactly("x1", "x2", "x3", "x4", "x5");
  }

  @Test
  void memoryWeigherThatThrowsOnTheProducerThrowsToTheCallerAndTheBufferGoesOn() throws Exception {
    IllegalStateException boom = new IllegalStateException("cannot weigh poison");
    Weigher<String> weigher = item -> {
      if (item.equals("poison")) {
        throw boom;
      }
      return item.length();
    };
    RecordingFlush<String> flush = new RecordingFlush<>();
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).flushInterval(HOURS).build(),
        Options.<String>builder().maxBufferedBytes(weigher, 1_000).build());
    buffer.add("a");
    assertThatThrownBy(() -> buffer.add("poison")).isSameAs(boom);
    assertThatThrownBy(() -> buffer.submit("poison")).isSameAs(boom);
    buffer.add("b");
    assertThat(flush.awaitBatches(1, WAIT)).containsExactly(List.of("a", "b"));
    assertThat(buffer.stats().accepted()).as("poison was not accepted").isEqualTo(2);
    assertThat(buffer.stats().state()).isNotEqualTo(BufferStats.State.FAILED);
    buffer.add("c");
    assertThat(buffer.close(WAIT).drained()).isTrue();
    assertThat(flush.items()).containsExactly("a", "b", "c");
  }

  // ---- 16. a partial failure agrees with the list onFlushError gets ----

  @Test
  void onFlushErrorGetsAPartialFailureWhoseIndexesMatchTheFailedItems() throws Exception {
    FlushFunc<String> flush = batch -> {
      throw new PartialFlushException(List.of(1, 3), new IOException("throttled"));
    };
    AtomicReference<List<String>> handed = new AtomicReference<>();
    AtomicReference<Object> failedItems = new AtomicReference<>(); // the list, or what it threw
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(4).flushInterval(HOURS)
        .onFlushError((e, batch) -> {
          handed.set(batch);
          try {
            failedItems.set(((PartialFlushException) e).failedItems(batch));
          } catch (RuntimeException thrown) {
            failedItems.set(thrown);
          }
        }).build());
    for (String s : List.of("a", "b", "c", "d")) {
      buffer.add(s);
    }
    assertThat(buffer.close(WAIT).drained()).isTrue();
    assertThat(handed.get()).as("the batch onFlushError got").containsExactly("b", "d");
    assertThat(failedItems.get()).as("failedItems(batch) of the exception it got").isEqualTo(List.of("b", "d"));
  }

  // ---- 17. a rejected item's future says why ----

  @Test
  void oversizeRejectionSaysTheWeightAndTheLimit() throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .policy(FlushPolicy.bytes(String::length, 10)).flushInterval(HOURS).build())) {
      DeliveryException e = deliveryFailure(buffer.submit("x".repeat(12)));
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
      assertThat(e).hasMessageContaining("12").hasMessageContaining("10");
    }
  }

  @Test
  void canAddRejectionSaysCanAddRefusedIt() throws Exception {
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .canAdd((batch, item) -> false).flushInterval(HOURS).build())) {
      DeliveryException e = deliveryFailure(buffer.submit("a"));
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
      assertThat(e).hasMessageContaining("canAdd");
    }
  }

  @Test
  void throwingWillOverflowRejectionCarriesTheException() throws Exception {
    IllegalArgumentException boom = new IllegalArgumentException("cannot size it");
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .willOverflow((batch, item) -> {
          if (item.equals("poison")) {
            throw boom;
          }
          return false;
        }).flushInterval(HOURS).build())) {
      buffer.add("a"); // willOverflow is asked only about a non-empty batch
      DeliveryException e = deliveryFailure(buffer.submit("poison"));
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
      assertThat(e.getCause()).isSameAs(boom);
    }
  }

  @Test
  void throwingCanAddRejectionCarriesTheException() throws Exception {
    IllegalArgumentException boom = new IllegalArgumentException("cannot judge it");
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .canAdd((batch, item) -> {
          throw boom;
        }).flushInterval(HOURS).build())) {
      DeliveryException e = deliveryFailure(buffer.submit("poison"));
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
      assertThat(e.getCause()).isSameAs(boom);
    }
  }

  @Test
  void throwingWeigherRejectionCarriesTheException() throws Exception {
    IllegalArgumentException boom = new IllegalArgumentException("cannot weigh it");
    Weigher<String> weigher = item -> {
      if (item.equals("poison")) {
        throw boom;
      }
      return item.length();
    };
    try (Buffer<String> buffer = Buffer.start(Config.builder(new RecordingFlush<String>())
        .policy(FlushPolicy.bytes(weigher, 100)).flushInterval(HOURS).build())) {
      DeliveryException e = deliveryFailure(buffer.submit("poison"));
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED);
      assertThat(e.getCause()).isSameAs(boom);
    }
  }
}
