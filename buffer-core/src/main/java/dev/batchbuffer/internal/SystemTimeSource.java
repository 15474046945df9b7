package dev.batchbuffer.internal;

import dev.batchbuffer.TimeSource;
import java.util.concurrent.locks.LockSupport;

/** The {@link TimeSource} of the running JVM. Stateless and thread-safe. */
public enum SystemTimeSource implements TimeSource {
  /** The only instance. */
  INSTANCE;

  @Override
  public long nanoTime() {
    return System.nanoTime();
  }

  @Override
  public void park(Object blocker) {
    LockSupport.park(blocker);
  }

  @Override
  public void parkNanos(Object blocker, long nanos) {
    LockSupport.parkNanos(blocker, nanos);
  }

  @Override
  public String toString() {
    return "TimeSource.system()";
  }
}
