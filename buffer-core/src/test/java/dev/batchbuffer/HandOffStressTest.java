package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Producers against small channels and slow flushes, in every shape of buffer: no producer may
 * stay parked while there is room (the consumer publishes the slots it empties lazily, and wakes
 * parked producers only at certain points), no item may be lost or duplicated, and each
 * producer's items keep their order wherever the buffer promises it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HandOffStressTest {
  static final Duration STALL = Duration.ofSeconds(30);
  static final int PRODUCERS = 4;
  static final int EACH = 1_500;

  /** How a producer hands its items over. */
  enum Mode { ADD, SUBMIT, TIMED_OFFER_ON_A_STILL_MANUAL_CLOCK }

  /**
   * One buffer shape.
   *
   * @param keyed a KeyedBuffer keyed by producer (so its order holds even with flushes in parallel)
   * @param maxInFlight flushes at once
   * @param memory whether a memory bound of 8 items applies
   * @param mode how producers add
   */
  record Shape(boolean keyed, int maxInFlight, boolean memory, Mode mode) {
    boolean ordered() {
      return keyed || maxInFlight == 1;
    }

    @Override
    public String toString() {
      return (keyed ? "keyed" : "plain") + ", maxInFlight " + maxInFlight
          + (memory ? ", memory bound" : "") + ", " + mode;
    }
  }

  static Stream<Arguments> shapes() {
    List<Shape> shapes = List.of(
        new Shape(false, 1, false, Mode.ADD),
        new Shape(false, 3, false, Mode.ADD),
        new Shape(true, 1, false, Mode.ADD),
        new Shape(true, 3, false, Mode.ADD),
        new Shape(false, 1, true, Mode.ADD),
        new Shape(true, 2, true, Mode.ADD),
        new Shape(false, 2, false, Mode.SUBMIT),
        new Shape(false, 1, false, Mode.TIMED_OFFER_ON_A_STILL_MANUAL_CLOCK),
        new Shape(true, 2, false, Mode.TIMED_OFFER_ON_A_STILL_MANUAL_CLOCK));
    return shapes.stream().flatMap(s -> Arrays.stream(new int[] {1, 2, 5, 8, 16, 33})
        .mapToObj(chanSize -> Arguments.of(s, chanSize)));
  }

  /** What a flush function receives, in call order; every 5th call takes about 100 µs. */
  final ConcurrentLinkedQueue<List<String>> batches = new ConcurrentLinkedQueue<>();
  final AtomicInteger calls = new AtomicInteger();

  void flush(List<String> batch) {
    if (calls.incrementAndGet() % 5 == 0) {
      LockSupport.parkNanos(100_000); // a slow backend call, not a wait for a condition
    }
    batches.add(batch);
  }

  BufferFace<String> start(Shape shape, int chanSize, ManualTimeSource time) {
    TimeSource clock = shape.mode() == Mode.TIMED_OFFER_ON_A_STILL_MANUAL_CLOCK ? time
        : TimeSource.system();
    Duration linger = Duration.ofMillis(1);
    if (shape.keyed()) {
      KeyedBuffer.Builder<String, String> b = KeyedBuffer.<String, String>builder(
              s -> s.substring(0, s.indexOf('-')), (key, batch) -> flush(batch))
          .policy(FlushPolicy.count(3)).chanSize(chanSize).flushInterval(linger)
          .maxInFlight(shape.maxInFlight()).timeSource(clock);
      if (shape.memory()) {
        b = b.maxBufferedBytes(s -> 1, 8);
      }
      KeyedBuffer<String, String> k = b.start();
      return BufferFace.of(k, shape.toString());
    }
    Options.Builder<String> o = Options.<String>builder().maxInFlight(shape.maxInFlight())
        .timeSource(clock);
    if (shape.memory()) {
      o = o.maxBufferedBytes(s -> 1, 8);
    }
    Buffer<String> buffer = Buffer.start(Config.<String>builder(this::flush).capacity(3)
        .chanSize(chanSize).flushInterval(linger).build(), o.build());
    return BufferFace.of(buffer, shape.toString());
  }

  @ParameterizedTest(name = "{0}, chanSize {1}")
  @MethodSource("shapes")
  void producersNeverStallAndEveryItemArrivesOnceInProducerOrder(Shape shape, int chanSize)
      throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    BufferFace<String> target = start(shape, chanSize, time);
    List<Throwable> errors = new CopyOnWriteArrayList<>();
    List<CompletableFuture<Void>> futures = new CopyOnWriteArrayList<>();
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> producers = new ArrayList<>();
    for (int p = 0; p < PRODUCERS; p++) {
      String name = "p" + p;
      Runnable body = () -> {
        try {
          go.await();
          for (int i = 0; i < EACH; i++) {
            String item = name + "-" + i;
            switch (shape.mode()) {
              case ADD -> target.add(item);
              case SUBMIT -> futures.add(target.submit(item));
              case TIMED_OFFER_ON_A_STILL_MANUAL_CLOCK -> assertThat(
                  target.offer(item, Duration.ofSeconds(1))).as("offer of %s", item).isTrue();
            }
          }
        } catch (Throwable t) {
          errors.add(t);
        }
      };
      // Half platform threads: they are preempted anywhere, virtual ones only where they block.
      producers.add(p % 2 == 0 ? Thread.ofVirtual().name(name).start(body)
          : Thread.ofPlatform().name(name).start(body));
    }
    go.countDown();
    try {
      for (Thread t : producers) {
        if (!t.join(STALL)) {
          throw new AssertionError(t.getName() + " stalled (" + target.stats().producersBlocked()
              + " blocked, " + target.itemsInChannel() + " in the channel, accepted "
              + target.stats().accepted() + "): "
              + Arrays.toString(t.getStackTrace()).replace(", ", "\n  "));
        }
      }
      assertThat(errors).isEmpty();
    } finally {
      for (Thread t : producers) {
        t.interrupt();
      }
      target.close();
    }
    CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    List<String> items = new ArrayList<>();
    batches.forEach(items::addAll);
    assertThat(items).hasSize(PRODUCERS * EACH).doesNotHaveDuplicates();
    Map<String, Integer> next = new HashMap<>();
    for (List<String> batch : batches) {
      Map<String, Integer> inBatch = new HashMap<>();
      for (String item : batch) {
        String producer = item.substring(0, item.indexOf('-'));
        int i = Integer.parseInt(item.substring(item.indexOf('-') + 1));
        // Within a batch, always in order; across batches, where flushes are ordered.
        Integer last = inBatch.put(producer, i);
        assertThat(last == null || last < i).as("%s after %s in one batch", i, last).isTrue();
        if (shape.ordered()) {
          assertThat(i).as("next item of %s", producer).isEqualTo(next.getOrDefault(producer, 0));
          next.put(producer, i + 1);
        }
      }
    }
    assertThat(target.stats().producersBlocked()).isZero();
    assertThat(target.itemsInChannel()).isZero();
  }
}
