package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The manual clock of the test kit: time moves only when advanced, and who waits on it. */
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

  /** Starts a thread that makes one park call and records the time it saw when the call returned. */
  static Thread parkingOnce(ManualTimeSource time, AtomicLong returnedAt, Runnable park) {
    return Thread.ofVirtual().start(() -> {
      park.run();
      returnedAt.set(time.nanoTime());
    });
  }

  /**
   * Waits until {@code waiter} is parked for a deadline, and checks that its one call has not
   * returned: a park that returned at once would have ended the thread instead.
   */
  static void assertParked(ManualTimeSource time, Thread waiter, AtomicLong returnedAt)
      throws Exception {
    time.awaitTimedWaiters(1, WAIT);
    await().atMost(WAIT).until(() -> waiter.getState() == Thread.State.WAITING);
    assertThat(returnedAt).as("the park call returned").hasValue(-1);
  }

  @Test
  void timedParkBlocksWhileTimeStandsStillAndReturnsWhenTheDeadlineIsReached() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    AtomicLong returnedAt = new AtomicLong(-1);
    Thread waiter = parkingOnce(time, returnedAt, () -> time.parkNanos(this, 1_000));
    assertParked(time, waiter, returnedAt);
    time.advance(1_000, TimeUnit.NANOSECONDS);
    assertThat(waiter.join(WAIT)).isTrue();
    assertThat(returnedAt).hasValue(1_000);
    assertThat(time.waiters()).isZero();
  }

  /**
   * An advance wakes every parked thread, also one whose deadline is later: the caller re-checks
   * and parks again (as a buffer's loop does). The woken thread stops counting as a waiter at once.
   */
  @Test
  void anAdvanceShortOfTheDeadlineWakesTheWaiterToReCheck() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    AtomicLong returnedAt = new AtomicLong(-1);
    Thread waiter = parkingOnce(time, returnedAt, () -> time.parkNanos(this, 1_000));
    assertParked(time, waiter, returnedAt);
    time.advance(999, TimeUnit.NANOSECONDS);
    assertThat(time.timedWaiters()).as("woken by the advance: no longer waiting").isZero();
    assertThat(waiter.join(WAIT)).isTrue();
    assertThat(returnedAt).as("the time the caller re-checks against its deadline").hasValue(999);
  }

  /**
   * After an advance, a thread it woke counts as a waiter again only once it has parked again, so
   * {@code awaitTimedWaiters} after an advance waits for the woken thread to handle the new time.
   */
  @Test
  void aThreadWokenByAnAdvanceCountsAgainOnlyOnceItParksAgain() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    CountDownLatch woke = new CountDownLatch(1);
    CountDownLatch parkAgain = new CountDownLatch(1);
    long deadline = 1_000;
    Thread waiter = Thread.ofVirtual().start(() -> {
      time.parkUntil(this, deadline);
      woke.countDown();
      try {
        parkAgain.await();
      } catch (InterruptedException e) {
        return;
      }
      while (time.nanoTime() - deadline < 0) {
        time.parkUntil(this, deadline);
      }
    });
    time.awaitTimedWaiters(1, WAIT);
    time.advance(500, TimeUnit.NANOSECONDS);
    assertThat(woke.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(time.waiters()).as("woken, not parked again yet").isZero();
    assertThatThrownBy(() -> time.awaitTimedWaiters(1, Duration.ofMillis(20)))
        .isInstanceOf(TimeoutException.class);
    parkAgain.countDown();
    time.awaitTimedWaiters(1, WAIT);
    time.advance(500, TimeUnit.NANOSECONDS);
    assertThat(waiter.join(WAIT)).isTrue();
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
  void parkUntilBlocksUntilAnAdvanceReachesTheDeadline() throws Exception {
    ManualTimeSource time = new ManualTimeSource(Long.MAX_VALUE - 500); // the deadline wraps
    long deadline = time.nanoTime() + 1_000;
    AtomicLong returnedAt = new AtomicLong(-1);
    Thread waiter = parkingOnce(time, returnedAt, () -> time.parkUntil(this, deadline));
    assertParked(time, waiter, returnedAt);
    time.advance(1_000, TimeUnit.NANOSECONDS);
    assertThat(waiter.join(WAIT)).isTrue();
    assertThat(returnedAt).hasValue(deadline);
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
