package dev.batchbuffer.internal;

import dev.batchbuffer.PeriodicTask;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;

/**
 * The periodic tasks of one loop. A synchronous task runs on the loop thread when it is due,
 * between flushes (with flushes off the loop, after waiting for them), and once more after the
 * final flush of close, so a task that syncs a file covers the last write. An asynchronous task is
 * started on its own virtual thread when it is due, unless its previous run is still going (that
 * period is skipped, never queued). Periods are measured from when each run was due, without
 * catching up on missed ones. Loop-owned, except the flag of a running asynchronous task.
 */
public final class Hooks {

  /**
   * One task as configured.
   *
   * @param period how often it runs
   * @param task what it runs
   * @param async whether it runs off the loop
   */
  public record Spec(Duration period, PeriodicTask task, boolean async) {
    /**
     * Checks the period and the task, as both builders need.
     *
     * @throws IllegalArgumentException if the period is not in {@code (0, MAX_FLUSH_INTERVAL]}
     */
    public Spec {
      Checks.interval("period", period);
      Objects.requireNonNull(task, "task must not be null");
    }
  }

  private final Problems problems;
  private final Telemetry<?> telemetry;
  private final Spec[] specs;
  private final long[] periods;
  private final long[] next;
  private final @Nullable Thread[] running;
  private @Nullable Dispatcher<?> threads;

  /**
   * Creates the hooks of a loop; the first run of each is one period after this call.
   *
   * @param specs the tasks
   * @param time the loop's clock
   * @param problems where failures are logged
   * @param telemetry where failures are counted
   */
  public Hooks(List<Spec> specs, TimeSource time, Problems problems, Telemetry<?> telemetry) {
    this.problems = problems;
    this.telemetry = telemetry;
    this.specs = specs.toArray(new Spec[0]);
    this.periods = new long[this.specs.length];
    this.next = new long[this.specs.length];
    this.running = new Thread[this.specs.length];
    long now = time.nanoTime();
    for (int i = 0; i < this.specs.length; i++) {
      periods[i] = this.specs[i].period().toNanos();
      next[i] = now + periods[i];
    }
  }

  /**
   * Returns hooks for {@code specs}, or null when there are none (the loop then skips them).
   *
   * @param specs the tasks
   * @param time the loop's clock
   * @param problems where failures are logged
   * @param telemetry where failures are counted
   * @return the hooks, or null
   */
  public static @Nullable Hooks of(List<Spec> specs, TimeSource time, Problems problems,
      Telemetry<?> telemetry) {
    return specs.isEmpty() ? null : new Hooks(specs, time, problems, telemetry);
  }

  /**
   * Returns when the next task is due.
   *
   * @return a time of the loop's clock
   */
  public long nextDue() {
    long min = next[0];
    for (int i = 1; i < next.length; i++) {
      if (next[i] - min < 0) {
        min = next[i];
      }
    }
    return min;
  }

  /**
   * Runs (or starts) the tasks due at {@code now}.
   *
   * @param now the loop's time
   * @param beforeSync called once before the first synchronous task runs (waits for flushes)
   */
  public void runDue(long now, Runnable beforeSync) {
    boolean waited = false;
    for (int i = 0; i < specs.length; i++) {
      if (now - next[i] < 0) {
        continue;
      }
      next[i] += periods[i];
      if (now - next[i] >= 0) {
        next[i] = now + periods[i]; // missed periods are skipped, not caught up
      }
      if (specs[i].async()) {
        start(i);
      } else {
        if (!waited) {
          beforeSync.run();
          waited = true;
        }
        runNow(specs[i].task());
      }
    }
  }

  private void start(int i) {
    Thread previous = running[i];
    if (previous != null && previous.isAlive()) {
      return;
    }
    PeriodicTask task = specs[i].task();
    Thread t = Objects.requireNonNull(threads, "bind() was not called")
        .newThread("-periodic", () -> runNow(task));
    running[i] = t;
    t.start();
  }

  /**
   * Names the dispatcher that starts the asynchronous tasks' threads, so they count as the
   * buffer's own (close() there returns at once).
   *
   * @param dispatcher the buffer's dispatcher
   */
  public void bind(Dispatcher<?> dispatcher) {
    this.threads = dispatcher;
  }

  private void runNow(PeriodicTask task) {
    try {
      task.run();
    } catch (Throwable t) {
      problems.caught(t);
      telemetry.hookFailed();
      problems.report(Problems.Kind.HOOK_FAILED, "a periodic task threw; it runs again next period",
          t);
    }
  }

  /**
   * At close: runs each synchronous task once more and waits for running asynchronous ones. A task
   * that closes its own buffer does not deadlock here: close() returns at once on a task thread.
   *
   * @param giveUp true once close(timeout) gave up (or the buffer failed): nothing more runs, and
   *     running asynchronous tasks are interrupted instead of awaited; read again whenever the
   *     wait for a task is interrupted, since close(timeout) interrupts the loop when it gives up
   */
  public void finish(BooleanSupplier giveUp) {
    for (int i = 0; i < specs.length; i++) {
      if (!specs[i].async() && !giveUp.getAsBoolean()) {
        runNow(specs[i].task());
      }
    }
    for (Thread t : running) {
      if (t != null && !awaitOrInterrupt(t, giveUp)) {
        t.interrupt(); // ask a running task to stop, do not wait for it
      }
    }
  }

  /** Joins {@code t} unless, or until, {@code giveUp} says to stop waiting: false then. */
  @SuppressWarnings("ThreadJoinLoop") // the loop is around the join: an interrupt re-reads giveUp
  private static boolean awaitOrInterrupt(Thread t, BooleanSupplier giveUp) {
    while (!giveUp.getAsBoolean()) {
      try {
        t.join();
        return true;
      } catch (InterruptedException e) {
        // close(timeout) gave up while we waited: look at giveUp again
      }
    }
    return !t.isAlive();
  }
}
