package dev.batchbuffer.internal;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.Async;
import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The memory gate on its own, on the manual clock: what fits, the lone oversize item, each way a
 * wait for bytes ends (room, close, deadline, interrupt) with its answer, and the counts of bytes
 * held and producers waiting, which the buffer's stats and bounds read.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MemoryGateTest {
  final ManualTimeSource time = new ManualTimeSource(5_000_000_000L);
  final MemoryGate<Long> gate = new MemoryGate<>(w -> w, 10, time);

  @Test
  void bytesAreTakenWhileTheyFitUpToExactlyTheLimit() {
    assertThat(gate.tryAcquire(6)).isTrue();
    assertThat(gate.tryAcquire(5)).as("6 + 5 > 10").isFalse();
    assertThat(gate.tryAcquire(4)).as("6 + 4 = 10 fits").isTrue();
    assertThat(gate.used()).isEqualTo(10);
    gate.release(6);
    gate.release(4);
    assertThat(gate.used()).isZero();
  }

  @Test
  void anItemHeavierThanTheWholeBoundIsAdmittedOnlyIntoAnEmptyGate() {
    assertThat(gate.tryAcquire(15)).isTrue();
    assertThat(gate.used()).isEqualTo(15);
    assertThat(gate.tryAcquire(1)).isFalse();
    gate.release(15);
    assertThat(gate.tryAcquire(1)).isTrue();
    assertThat(gate.tryAcquire(15)).as("not beside anything").isFalse();
  }

  @Test
  void aWeightOfZeroIsAllowedAndANegativeOneNamesTheWeigherAndTheItem() {
    assertThat(gate.weightOf(0L)).isZero();
    assertThat(gate.weightOf(7L)).isEqualTo(7);
    assertThatThrownBy(() -> gate.weightOf(-1L))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("maxBufferedBytes weigher returned -1");
  }

  @Test
  void acquireTakesAtOnceWhenThereIsRoom() throws Exception {
    assertThat(gate.acquire(10, false, 0, () -> false)).isTrue();
    assertThat(gate.used()).isEqualTo(10);
    assertThat(gate.waiting()).isZero();
  }

  @Test
  void aWaitingProducerIsCountedAndGetsItsBytesWhenTheyAreReleased() throws Exception {
    assertThat(gate.tryAcquire(8)).isTrue();
    CompletableFuture<Boolean> waiter = Async.call(() -> gate.acquire(5, false, 0, () -> false));
    time.awaitWaiters(1, WAIT);
    assertThat(gate.waiting()).isEqualTo(1);
    assertThat(waiter).isNotDone();
    gate.release(8);
    assertThat(waiter.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    assertThat(gate.used()).isEqualTo(5);
    assertThat(gate.waiting()).isZero();
  }

  @Test
  void aWaitEndsWithoutTheBytesWhenTheBufferCloses() throws Exception {
    assertThat(gate.tryAcquire(8)).isTrue();
    AtomicBoolean closed = new AtomicBoolean();
    CompletableFuture<Boolean> waiter = Async.call(() -> gate.acquire(5, false, 0, closed::get));
    time.awaitWaiters(1, WAIT);
    closed.set(true);
    gate.wakeAll();
    assertThat(waiter.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isFalse();
    assertThat(gate.used()).isEqualTo(8);
    assertThat(gate.waiting()).isZero();
  }

  @Test
  void aTimedWaitEndsWithoutTheBytesAtItsDeadlineAndNotBefore() throws Exception {
    assertThat(gate.tryAcquire(8)).isTrue();
    long deadline = time.nanoTime() + Duration.ofSeconds(1).toNanos();
    CompletableFuture<Boolean> waiter = Async.call(() -> gate.acquire(5, true, deadline, () -> false));
    time.awaitTimedWaiters(1, WAIT);
    time.advance(Duration.ofMillis(999));
    time.awaitTimedWaiters(1, WAIT);
    assertThat(waiter).as("1 ns before the deadline").isNotDone();
    time.advance(Duration.ofMillis(1));
    assertThat(waiter.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isFalse();
    assertThat(gate.used()).isEqualTo(8);
    assertThat(gate.waiting()).isZero();
  }

  @Test
  void anInterruptedWaitThrowsAndTakesNothing() throws Exception {
    assertThat(gate.tryAcquire(8)).isTrue();
    CompletableFuture<Thread> thread = new CompletableFuture<>();
    CompletableFuture<Boolean> waiter = Async.call(() -> {
      thread.complete(Thread.currentThread());
      return gate.acquire(5, false, 0, () -> false);
    });
    time.awaitWaiters(1, WAIT);
    thread.get().interrupt();
    assertThatThrownBy(() -> waiter.get(WAIT.toMillis(), TimeUnit.MILLISECONDS))
        .isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(InterruptedException.class);
    assertThat(gate.used()).isEqualTo(8);
    assertThat(gate.waiting()).isZero();
  }
}
