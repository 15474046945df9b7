package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Regression for a lost interrupt found by {@link StatefulPropertyTest} (seed 138, at about one run
 * in four when repeated): {@link FlushMiddleware#timeout} consumed the caller's interrupt
 * (close(timeout)'s) and, when the timed call then ended with another failure, threw that failure
 * with the interrupt gone. A {@link FlushMiddleware#retry} around it started another attempt that
 * nothing interrupted, so close(timeout) could not end the flush.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TimeoutInterruptTest {
  static final Duration WAIT = Duration.ofSeconds(10);

  @Test
  void retryAroundTimeoutStopsWhenInterruptedWhileTheCallFailsAnotherWay() throws Exception {
    ManualTimeSource time = new ManualTimeSource();
    AtomicInteger calls = new AtomicInteger();
    AtomicReference<Thread> worker = new AtomicReference<>();
    CountDownLatch workerInterrupted = new CountDownLatch(1);
    AtomicBoolean fail = new AtomicBoolean();
    // A backend call that notices the interrupt but goes on, then fails on its own account.
    FlushFunc<String> backend = batch -> {
      if (calls.incrementAndGet() > 1) {
        return; // a second attempt: must not happen after the interrupt
      }
      worker.set(Thread.currentThread());
      while (!fail.get()) {
        LockSupport.park(this);
        if (Thread.interrupted()) {
          workerInterrupted.countDown();
        }
      }
      throw new IOException("backend refuses");
    };
    FlushFunc<String> flush = FlushMiddleware.chain(backend,
        FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(3)
            .backoff(Duration.ZERO, Duration.ZERO).build(), time),
        FlushMiddleware.timeout(Duration.ofHours(1), time));
    CompletableFuture<Throwable> thrown = new CompletableFuture<>();
    Thread caller = Thread.ofVirtual().start(() -> {
      try {
        flush.flush(List.of("a"));
        thrown.complete(null);
      } catch (Throwable t) {
        thrown.complete(t);
      }
    });
    time.awaitTimedWaiters(1, WAIT); // the caller waits for the call, on the clock
    caller.interrupt(); // as close(timeout) does
    assertThat(workerInterrupted.await(WAIT.toSeconds(), TimeUnit.SECONDS))
        .as("the interrupt is passed on to the call").isTrue();
    fail.set(true);
    LockSupport.unpark(worker.get());

    Throwable t = thrown.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    assertThat(t).as("the retry ends on the interrupt").isInstanceOf(InterruptedException.class);
    assertThat(calls).as("no attempt after the interrupt").hasValue(1);
  }
}
