package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static dev.batchbuffer.TestConstants.HOURS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A fatal error ({@link VirtualMachineError}) from a flush running off the loop: nothing is handed
 * to the flush function after the loop has seen it, and the stopped buffer reports an empty
 * channel.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FatalStopTest {

  final Map<String, Throwable> uncaught = new ConcurrentHashMap<>();
  final Thread.UncaughtExceptionHandler quiet = (t, e) -> uncaught.put(t.getName(), e);

  /** Keeps the loop thread's rethrow of the fatal error out of the build log. */
  final BufferListener<String> quietLoop = new BufferListener<>() {
    @Override
    public void flushFailed(FlushInfo info, Throwable error) {
      Thread.currentThread().setUncaughtExceptionHandler(quiet);
    }
  };

  /**
   * The loop waits for a flush slot with a batch in hand when a running flush throws a fatal
   * error: the batch it holds must be given up, not flushed ("from then on nothing more is
   * flushed", docs/how-it-works.md).
   */
  @Test
  void aBatchWaitingForAFlushSlotIsGivenUpWhenARunningFlushFailsFatally() throws Exception {
    CountDownLatch started = new CountDownLatch(2);
    CountDownLatch releaseA = new CountDownLatch(1);
    CountDownLatch releaseB = new CountDownLatch(1);
    List<String> flushed = new CopyOnWriteArrayList<>();
    FlushFunc<String> flush = batch -> {
      switch (batch.get(0)) {
        case "a" -> {
          started.countDown();
          releaseA.await();
          throw new InternalError("simulated");
        }
        case "b" -> {
          started.countDown();
          releaseB.await();
        }
        default -> { }
      }
      flushed.addAll(batch);
    };
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(1).chanSize(16)
        .flushInterval(HOURS).build(),
        Options.<String>builder().maxInFlight(2).listener(quietLoop).build());
    buffer.add("a");
    buffer.add("b");
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> c = buffer.submit("c"); // the loop takes it and waits for a slot
    await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0);
    releaseA.countDown();
    await().atMost(WAIT).until(buffer::isClosed);
    releaseB.countDown();
    CloseResult<String> result = buffer.close(WAIT);
    assertThat(flushed).as("flushed after the fatal error").doesNotContain("c");
    assertThatThrownBy(() -> c.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
        .cause().isInstanceOf(DeliveryException.class)
        .satisfies(e -> assertThat(((DeliveryException) e).reason())
            .isEqualTo(DeliveryException.Reason.UNDELIVERED));
    assertThat(result.undelivered()).contains("c");
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.FAILED);
  }

  /**
   * A keyed buffer's next flush of a key waits behind the running one; when that one fails
   * fatally, the queued one must be given up, not started.
   */
  @Test
  void aFlushQueuedBehindItsKeyIsGivenUpWhenTheRunningOneFailsFatally() throws Exception {
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    List<String> flushed = new CopyOnWriteArrayList<>();
    KeyedBuffer<String, String> buffer = KeyedBuffer.<String, String>builder(
            s -> s.substring(0, 1), (key, batch) -> {
              if (batch.get(0).equals("a1")) {
                started.countDown();
                release.await();
                throw new InternalError("simulated");
              }
              flushed.addAll(batch);
            })
        .policy(FlushPolicy.count(1)).chanSize(16).flushInterval(HOURS).maxInFlight(2)
        .listener(quietLoop).start();
    buffer.add("a1");
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> a2 = buffer.submit("a2"); // queued behind a1: same key
    await().atMost(WAIT).until(() -> buffer.itemsInChannel() == 0);
    release.countDown();
    await().atMost(WAIT).until(buffer::isClosed); // by the fatal error, not by a close
    CloseResult<String> result = buffer.close(WAIT);
    assertThat(flushed).as("flushed after the fatal error").doesNotContain("a2");
    assertThatThrownBy(() -> a2.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
        .cause().isInstanceOf(DeliveryException.class)
        .satisfies(e -> assertThat(((DeliveryException) e).reason())
            .isEqualTo(DeliveryException.Reason.UNDELIVERED));
    assertThat(result.undelivered()).containsExactly("a2");
  }

  /**
   * The loop gives up the channel's items after a fatal error without running them through a
   * batch: it must still publish the slots it emptied, or the stopped buffer reports items in
   * its channel forever (the channel publishes its consumer index lazily).
   */
  @Test
  void itemsInChannelIsZeroOnceAFatalErrorStoppedTheBuffer() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    FlushFunc<String> flush = batch -> {
      if (batch.get(0).equals("i0")) {
        started.countDown();
        release.await();
        throw new InternalError("simulated");
      }
    };
    // Count-only: with a partial batch the loop asks to be woken only by enough arrivals to fill
    // it (at most half the channel), so the items below stay in the channel until the error.
    // A channel of 64 publishes its consumer index every 8 polls.
    Buffer<String> buffer = Buffer.start(Config.builder(flush).capacity(10).chanSize(64)
        .flushInterval(HOURS).build(),
        Options.<String>builder().timeSource(time).maxInFlight(2).listener(quietLoop).build());
    for (int i = 0; i < 10; i++) {
      buffer.add("i" + i);
    }
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    buffer.add("k");
    await().atMost(WAIT).until(() -> time.timedWaiters() == 1 && buffer.itemsInChannel() == 0);
    List<String> left = new ArrayList<>(List.of("l", "m", "n"));
    for (String s : left) {
      buffer.add(s);
    }
    assertThat(buffer.itemsInChannel()).isEqualTo(3);
    release.countDown();
    await().atMost(WAIT).until(buffer::isClosed); // by the fatal error, not by a close
    CloseResult<String> result = buffer.close(WAIT);
    assertThat(result.undelivered()).containsExactly("k", "l", "m", "n");
    assertThat(buffer.stats().state()).isEqualTo(BufferStats.State.FAILED);
    assertThat(buffer.itemsInChannel()).as("items in the channel of a stopped buffer").isZero();
  }
}
