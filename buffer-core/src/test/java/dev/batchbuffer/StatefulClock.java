package dev.batchbuffer;

import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * The {@link ManualTimeSource} of {@link StatefulPropertyTest}, watched: it passes every call to the
 * manual clock and remembers which threads park on it and on what, so that the test can tell when
 * every thread of the buffer waits (for the clock, a latch, room) and nothing moves without it.
 * The buffer's loop is the thread named like the buffer. Thread-safe.
 */
final class StatefulClock implements TimeSource {
  final ManualTimeSource manual = new ManualTimeSource(Long.MAX_VALUE - 3_600_000_000_000L);
  private final String loopName;
  private final Set<Thread> seen;
  private final Map<Thread, Object> parkedOn = new ConcurrentHashMap<>();
  private final AtomicLong parks = new AtomicLong();
  private volatile @Nullable Thread loop;

  /**
   * @param loopName the buffer's name, which its loop thread carries
   * @param seen where to add every thread that parks here
   */
  StatefulClock(String loopName, Set<Thread> seen) {
    this.loopName = loopName;
    this.seen = seen;
  }

  /** The buffer's loop thread, once it has parked here. */
  @Nullable Thread loop() {
    return loop;
  }

  /** How many parks began and ended so far: a change means some thread moved. */
  long parks() {
    return parks.get();
  }

  /** How many threads park here now with a FutureTask as blocker: timeout middleware callers. */
  int timeoutCallersParked() {
    int n = 0;
    for (Object blocker : parkedOn.values()) {
      if (blocker instanceof FutureTask<?>) {
        n++;
      }
    }
    return n;
  }

  void advance(Duration d) {
    manual.advance(d);
  }

  @Override
  public long nanoTime() {
    return manual.nanoTime();
  }

  @Override
  public void park(Object blocker) {
    enter(blocker);
    try {
      manual.park(blocker);
    } finally {
      leave();
    }
  }

  @Override
  public void parkNanos(Object blocker, long nanos) {
    if (nanos > 0) {
      parkUntil(blocker, manual.nanoTime() + nanos);
    }
  }

  @Override
  public void parkUntil(Object blocker, long deadline) {
    enter(blocker);
    try {
      manual.parkUntil(blocker, deadline);
    } finally {
      leave();
    }
  }

  private void enter(Object blocker) {
    Thread me = Thread.currentThread();
    if (loop == null && me.getName().equals(loopName)) {
      loop = me;
    }
    seen.add(me);
    parkedOn.put(me, blocker);
    parks.incrementAndGet();
  }

  private void leave() {
    parkedOn.remove(Thread.currentThread());
    parks.incrementAndGet();
  }

  @Override
  public String toString() {
    return "StatefulClock[" + manual + ", parked " + parkedOn.size() + "]";
  }
}
