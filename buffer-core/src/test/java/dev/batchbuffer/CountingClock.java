package dev.batchbuffer;

import dev.batchbuffer.testing.ManualTimeSource;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * A manual clock that counts the parks made on it, and those made while the parking thread's
 * interrupt was pending: such a park returns at once, so a loop that makes them spins. A buffer
 * loop waits only through its clock, so these counts are what a test reads to tell a sleeping loop
 * from a spinning one (a virtual thread's CPU time cannot be measured).
 */
final class CountingClock implements TimeSource {
  final ManualTimeSource time = new ManualTimeSource();
  /** Every park, timed or not. */
  final AtomicLong parks = new AtomicLong();
  /** Parks made with the interrupt pending: each returns at once, so each is a spin. */
  final AtomicLong interruptedParks = new AtomicLong();
  /** The thread that parked last. */
  final AtomicReference<@Nullable Thread> lastParker = new AtomicReference<>();

  private void count() {
    Thread me = Thread.currentThread();
    // Counted before the park itself: a test that sees the park has also seen whether it spins.
    if (me.isInterrupted()) {
      interruptedParks.incrementAndGet();
    }
    lastParker.set(me);
    parks.incrementAndGet();
  }

  @Override
  public long nanoTime() {
    return time.nanoTime();
  }

  @Override
  public void park(Object blocker) {
    count();
    time.park(blocker);
  }

  @Override
  public void parkNanos(Object blocker, long nanos) {
    count();
    time.parkNanos(blocker, nanos);
  }

  @Override
  public void parkUntil(Object blocker, long deadline) {
    count();
    time.parkUntil(blocker, deadline);
  }
}
