package dev.batchbuffer.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * The threads parked on one condition (a full channel, the memory bound, the end of the loop), so
 * that whoever changes the condition can unpark them all. The set behind it is made by the first
 * thread that parks: most buffers never have one, and an idle buffer should not pay for it.
 * Thread-safe.
 */
final class ParkedThreads {
  private static final VarHandle SET;

  static {
    try {
      SET = MethodHandles.lookup().findVarHandle(ParkedThreads.class, "set", Set.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private volatile @Nullable Set<Thread> set;

  /**
   * Adds a thread about to park. Publish it before the re-check of the condition that precedes the
   * park, so that a change made after the re-check finds it here.
   *
   * @param t the thread
   */
  void add(Thread t) {
    Set<Thread> s = set;
    if (s == null) {
      Set<Thread> made = ConcurrentHashMap.newKeySet();
      @SuppressWarnings("unchecked")
      Set<Thread> witness = (Set<Thread>) SET.compareAndExchange(this, null, made);
      s = witness != null ? witness : made;
    }
    s.add(t);
  }

  /**
   * Removes a thread that stopped waiting.
   *
   * @param t the thread
   */
  void remove(Thread t) {
    Set<Thread> s = set;
    if (s != null) {
      s.remove(t);
    }
  }

  /** Unparks every thread added and not removed. */
  void unparkAll() {
    Set<Thread> s = set;
    if (s != null) {
      for (Thread t : s) {
        LockSupport.unpark(t);
      }
    }
  }
}
