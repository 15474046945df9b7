package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.HOURS;
import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.ManualTimeSource;
import dev.batchbuffer.testing.RecordingFlush;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A producer on a full channel spins, then yields for up to 50 µs, then parks: an interrupt must
 * end each of those phases promptly without losing or duplicating the item, and a timed offer must
 * give up when its deadline passes on the buffer's clock.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ProducerWaitTest {
  /** Generous for a shared two-core machine; the yield phase alone is 50 µs. */
  static final long PROMPT_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

  final StuckFlush<String> stuck = new StuckFlush<>();
  final RecordingFlush<String> recorder = stuck.recorder;

  /** A buffer whose loop is held in the flush of "held", with a full channel behind it. */
  Buffer<String> startFull(int chanSize, TimeSource time) throws InterruptedException {
    Buffer<String> buffer = Buffer.start(Config.builder(stuck).capacity(1).chanSize(chanSize)
        .flushInterval(HOURS).build(), Options.<String>builder().timeSource(time).build());
    buffer.add("held");
    stuck.awaitStarted(1);
    for (int i = 0; i < chanSize; i++) {
      assertThat(buffer.offer("fill" + i)).isTrue();
    }
    assertThat(buffer.offer("over")).isFalse();
    return buffer;
  }

  /**
   * The interrupt lands at a random moment: before the call, during the spin, the yield phase or
   * the park. Each repetition alternates the channel size and the kind of producer thread.
   */
  @RepeatedTest(24)
  void aProducerInterruptedOnAFullChannelThrowsPromptlyAndItsItemIsNeverDelivered(
      RepetitionInfo repetition) throws Exception {
    int chanSize = repetition.getCurrentRepetition() % 2 == 0 ? 2 : 64;
    boolean timed = repetition.getCurrentRepetition() % 3 == 0;
    Buffer<String> buffer = startFull(chanSize, TimeSource.system());
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    AtomicLong thrownAt = new AtomicLong();
    AtomicBoolean stillInterrupted = new AtomicBoolean();
    Runnable body = () -> {
      try {
        if (timed) {
          buffer.offer("victim", HOURS);
        } else {
          buffer.add("victim");
        }
      } catch (Throwable t) {
        thrownAt.set(System.nanoTime());
        thrown.set(t);
        stillInterrupted.set(Thread.currentThread().isInterrupted());
      }
    };
    Thread producer = repetition.getCurrentRepetition() % 4 < 2
        ? Thread.ofVirtual().start(body) : Thread.ofPlatform().start(body);
    int spins = ThreadLocalRandom.current().nextInt(200_000);
    for (int i = 0; i < spins; i++) {
      Thread.onSpinWait();
    }
    long interruptedAt = System.nanoTime();
    producer.interrupt();
    try {
      assertThat(producer.join(WAIT)).isTrue();
      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
      assertThat(thrownAt.get() - interruptedAt).as("ns from interrupt to throw")
          .isLessThan(PROMPT_NANOS);
      assertThat(stillInterrupted).as("interrupt status after the throw").isFalse();
      assertThat(buffer.stats().producersBlocked()).isZero();
    } finally {
      stuck.release();
      buffer.close();
    }
    assertThat(recorder.items()).hasSize(chanSize + 1).doesNotContain("victim");
  }

  /** The same on the manual clock, where a timed offer parks on the clock after its yield phase. */
  @RepeatedTest(6)
  void aTimedOfferInterruptedOnAStillManualClockThrowsPromptly() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Buffer<String> buffer = startFull(4, time);
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    Thread producer = Thread.ofVirtual().start(() -> {
      try {
        buffer.offer("victim", Duration.ofSeconds(1));
      } catch (Throwable t) {
        thrown.set(t);
      }
    });
    try {
      time.awaitTimedWaiters(1, WAIT);
      long interruptedAt = System.nanoTime();
      producer.interrupt();
      assertThat(producer.join(WAIT)).isTrue();
      assertThat(System.nanoTime() - interruptedAt).isLessThan(PROMPT_NANOS);
      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
    } finally {
      stuck.release();
      buffer.close();
    }
    assertThat(recorder.items()).doesNotContain("victim");
  }

  /**
   * Producers add while another thread interrupts them at random and a slow loop frees room:
   * every add that returned was delivered exactly once, in order; every add that threw was not.
   */
  @RepeatedTest(5)
  void interruptsRacingFreedRoomNeverLoseNorDuplicateAnItem() throws Exception {
    List<String> delivered = new CopyOnWriteArrayList<>();
    FlushFunc<String> flush = batch -> {
      if (ThreadLocalRandom.current().nextInt(4) == 0) {
        LockSupport.parkNanos(50_000); // a slow backend call
      }
      delivered.addAll(batch);
    };
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(2).chanSize(2)
        .flushInterval(Duration.ofMillis(1)).build());
    Map<String, List<String>> accepted = new HashMap<>();
    Set<String> refused = ConcurrentHashMap.newKeySet();
    List<Throwable> errors = new CopyOnWriteArrayList<>();
    List<Thread> producers = new ArrayList<>();
    for (int p = 0; p < 4; p++) {
      String name = "p" + p;
      List<String> mine = new ArrayList<>();
      accepted.put(name, mine);
      Runnable body = () -> {
        for (int i = 0; i < 2_000; i++) {
          String item = name + "-" + i;
          try {
            buffer.add(item);
            mine.add(item);
          } catch (InterruptedException e) {
            refused.add(item);
          } catch (Throwable t) {
            errors.add(t);
          }
        }
      };
      producers.add(p % 2 == 0 ? Thread.ofVirtual().start(body) : Thread.ofPlatform().start(body));
    }
    Thread interrupter = Thread.ofVirtual().start(() -> {
      while (producers.stream().anyMatch(Thread::isAlive)) {
        producers.get(ThreadLocalRandom.current().nextInt(producers.size())).interrupt();
        LockSupport.parkNanos(ThreadLocalRandom.current().nextInt(200_000)); // pacing
      }
    });
    for (Thread t : producers) {
      assertThat(t.join(Duration.ofSeconds(30))).as("%s stalled", t).isTrue();
    }
    assertThat(interrupter.join(WAIT)).isTrue();
    buffer.close();
    assertThat(errors).isEmpty();
    assertThat(refused).as("some adds were interrupted").isNotEmpty();
    assertThat(delivered).doesNotHaveDuplicates().doesNotContainAnyElementsOf(refused);
    Map<String, List<String>> byProducer = new HashMap<>();
    for (String item : delivered) {
      byProducer.computeIfAbsent(item.substring(0, 2), k -> new ArrayList<>()).add(item);
    }
    for (Map.Entry<String, List<String>> e : accepted.entrySet()) {
      assertThat(byProducer.getOrDefault(e.getKey(), List.of())).as("delivered of %s", e.getKey())
          .containsExactlyElementsOf(e.getValue());
    }
  }

  @Test
  void aTimedOfferOnAFullChannelReturnsFalseSoonAfterItsTimeout() throws Exception {
    Buffer<String> buffer = startFull(8, TimeSource.system());
    try {
      long start = System.nanoTime();
      assertThat(buffer.offer("late", Duration.ofMillis(30))).isFalse();
      long took = System.nanoTime() - start;
      assertThat(took).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(30))
          .isLessThan(TimeUnit.SECONDS.toNanos(2));
      start = System.nanoTime();
      assertThat(buffer.offer("late", Duration.ofNanos(1))).isFalse();
      assertThat(System.nanoTime() - start).as("a 1 ns timeout").isLessThan(PROMPT_NANOS);
    } finally {
      stuck.release();
      buffer.close();
    }
    assertThat(recorder.items()).doesNotContain("late");
  }

  @Test
  void timedOffersOfManyProducersGiveUpWhenTheManualClockPassesTheirDeadline() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Buffer<String> buffer = startFull(3, time);
    List<Boolean> results = new CopyOnWriteArrayList<>();
    List<Throwable> errors = new CopyOnWriteArrayList<>();
    List<Thread> producers = new ArrayList<>();
    for (int p = 0; p < 4; p++) {
      String item = "late" + p;
      Runnable body = () -> {
        try {
          results.add(buffer.offer(item, Duration.ofSeconds(1)));
        } catch (Throwable t) {
          errors.add(t);
        }
      };
      producers.add(p % 2 == 0 ? Thread.ofVirtual().start(body) : Thread.ofPlatform().start(body));
    }
    try {
      time.awaitTimedWaiters(4, WAIT);
      assertThat(results).isEmpty();
      time.advance(Duration.ofMillis(999));
      time.awaitTimedWaiters(4, WAIT); // each woke, saw 1 ms left and waits again
      assertThat(results).isEmpty();
      time.advance(Duration.ofMillis(1));
      for (Thread t : producers) {
        assertThat(t.join(WAIT)).isTrue();
      }
      assertThat(errors).isEmpty();
      assertThat(results).containsExactly(false, false, false, false);
      assertThat(buffer.stats().producersBlocked()).isZero();
    } finally {
      stuck.release();
      buffer.close();
    }
    assertThat(recorder.items()).hasSize(4).noneMatch(s -> s.startsWith("late"));
  }
}
