package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ManualTimeSourceTest {

  @Test
  void timeMovesOnlyWhenAdvanced() {
    ManualTimeSource time = new ManualTimeSource(100);
    assertThat(time.nanoTime()).isEqualTo(100);
    time.advance(Duration.ofNanos(5));
    time.advance(2, TimeUnit.MICROSECONDS);
    assertThat(time.nanoTime()).isEqualTo(2105);
  }

  @Test
  void negativeAdvanceIsRejected() {
    ManualTimeSource time = new ManualTimeSource();
    assertThatThrownBy(() -> time.advance(Duration.ofNanos(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("amount must be >= 0 (was PT-0.000000001S)");
    assertThatThrownBy(() -> time.advance(-1, TimeUnit.SECONDS))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("amount must be >= 0 (was -1)");
  }

  @Test
  void timedParkReturnsOnlyOnceTheDeadlineIsReached() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    long deadline = time.nanoTime() + 1_000;
    Thread waiter = Thread.ofVirtual().start(() -> {
      while (time.nanoTime() - deadline < 0) {
        time.parkNanos(this, deadline - time.nanoTime());
      }
    });
    await().until(() -> time.timedWaiters() == 1);
    time.advance(999, TimeUnit.NANOSECONDS);
    await().until(() -> time.timedWaiters() == 1);
    assertThat(waiter.isAlive()).isTrue();
    time.advance(1, TimeUnit.NANOSECONDS);
    waiter.join();
    assertThat(time.waiters()).isZero();
  }

  @Test
  void parkWithoutTimeoutCountsAsAnUntimedWaiter() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Thread waiter = Thread.ofVirtual().start(() -> time.park(this));
    await().until(() -> time.waiters() == 1);
    assertThat(time.timedWaiters()).isZero();
    java.util.concurrent.locks.LockSupport.unpark(waiter);
    waiter.join();
  }

  @Test
  void nonPositiveParkReturnsAtOnce() {
    ManualTimeSource time = new ManualTimeSource();
    time.parkNanos(this, 0);
    time.parkNanos(this, -5);
    assertThat(time.waiters()).isZero();
  }

  @Test
  void parkUntilDoesNotMissAnAdvanceMadeBeforeItParks() {
    ManualTimeSource time = new ManualTimeSource();
    long deadline = time.nanoTime() + TimeUnit.SECONDS.toNanos(2); // the caller reads the time...
    time.advance(Duration.ofSeconds(3)); // ...the test jumps past its deadline before it parks...
    time.parkUntil(this, deadline); // ...and it returns at once instead of waiting 2 s more
    assertThat(time.waiters()).isZero();
  }

  @Test
  void parkUntilWaitsForAnAdvanceThatReachesTheDeadline() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    long deadline = time.nanoTime() + 1_000;
    Thread parked = Thread.ofVirtual().start(() -> {
      while (time.nanoTime() - deadline < 0) {
        time.parkUntil(this, deadline);
      }
    });
    await().until(() -> time.timedWaiters() == 1);
    time.advance(999, TimeUnit.NANOSECONDS);
    await().until(() -> time.timedWaiters() == 1);
    assertThat(parked.isAlive()).isTrue();
    time.advance(1, TimeUnit.NANOSECONDS);
    parked.join();
  }

  @Test
  void awaitTimedWaitersReturnsOnceAThreadWaitsForADeadline() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    time.awaitTimedWaiters(0, Duration.ZERO); // already true: returns at once, even with no time
    long deadline = time.nanoTime() + 1_000;
    Thread waiter = Thread.ofVirtual().start(() -> {
      while (time.nanoTime() - deadline < 0) {
        time.parkUntil(this, deadline);
      }
    });
    time.awaitTimedWaiters(1, Duration.ofSeconds(10));
    assertThat(time.timedWaiters()).isEqualTo(1);
    time.advance(1_000, TimeUnit.NANOSECONDS);
    waiter.join();
  }

  @Test
  void awaitTimedWaitersTimesOutWithWhatItSaw() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    Thread untimed = Thread.ofVirtual().start(() -> time.park(this));
    time.awaitWaiters(1, Duration.ofSeconds(10));
    // One thread is parked, but without a deadline: it does not count as a timed waiter.
    long start = System.nanoTime();
    assertThatThrownBy(() -> time.awaitTimedWaiters(1, Duration.ofMillis(50)))
        .isInstanceOf(TimeoutException.class)
        .hasMessage("expected at least 1 thread(s) waiting for a deadline within PT0.05S; got 0"
            + " waiting for a deadline, 1 parked in all (ManualTimeSource[nanoTime=0])");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(50));
    LockSupport.unpark(untimed);
    untimed.join();
  }

  @Test
  void awaitWaitersCountsTimedAndUntimedWaiters() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch release = new CountDownLatch(1);
    Thread untimed = Thread.ofVirtual().start(() -> {
      while (release.getCount() > 0) {
        time.park(this);
      }
    });
    long deadline = time.nanoTime() + 1_000;
    Thread timed = Thread.ofVirtual().start(() -> {
      while (time.nanoTime() - deadline < 0) {
        time.parkUntil(this, deadline);
      }
    });
    time.awaitWaiters(2, Duration.ofSeconds(10));
    assertThat(time.waiters()).isEqualTo(2);
    assertThat(time.timedWaiters()).isEqualTo(1);
    release.countDown();
    time.advance(1_000, TimeUnit.NANOSECONDS); // wakes both: the untimed one sees the latch open
    timed.join();
    untimed.join();
  }

  @Test
  void awaitWaitersTimesOutWhenNoThreadIsParked() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    assertThatThrownBy(() -> time.awaitWaiters(1, Duration.ofMillis(20)))
        .isInstanceOf(TimeoutException.class)
        .hasMessage("expected at least 1 parked thread(s) within PT0.02S; got 0 waiting for a"
            + " deadline, 0 parked in all (ManualTimeSource[nanoTime=0])");
  }

  @Test
  @SuppressWarnings("NullAway") // passes null on purpose
  void awaitWaitersRejectsANegativeCountAndANullTimeout() {
    ManualTimeSource time = new ManualTimeSource();
    assertThatThrownBy(() -> time.awaitWaiters(-1, Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("n must be >= 0 (was -1)");
    assertThatThrownBy(() -> time.awaitTimedWaiters(1, null))
        .isInstanceOf(NullPointerException.class).hasMessage("timeout must not be null");
  }

  @Test
  void anInterruptedAwaitThrowsInterruptedException() {
    ManualTimeSource time = new ManualTimeSource();
    Thread.currentThread().interrupt();
    try {
      assertThatThrownBy(() -> time.awaitTimedWaiters(1, Duration.ofSeconds(10)))
          .isInstanceOf(InterruptedException.class);
    } finally {
      assertThat(Thread.interrupted()).isFalse(); // the InterruptedException cleared the status
    }
  }
}
