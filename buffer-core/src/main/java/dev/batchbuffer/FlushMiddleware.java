package dev.batchbuffer;

import dev.batchbuffer.internal.Breaker;
import dev.batchbuffer.internal.Checks;
import dev.batchbuffer.internal.Dispatcher;
import dev.batchbuffer.internal.Telemetry;
import dev.batchbuffer.internal.TokenBucket;
import dev.batchbuffer.internal.Waits;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import org.jspecify.annotations.Nullable;

/**
 * A decorator of a {@link FlushFunc}: retry, timeout, rate limit, circuit breaker, or your own.
 * Compose them with {@link #chain}; the first named is the outermost:
 *
 * {@snippet file="dev/batchbuffer/snippets/FlushMiddlewareSnippetsTest.java" region="chain"}
 *
 * <p>With that order a retried attempt is rate-limited and timed out on its own, and the breaker sees
 * one outcome per batch (after its retries). Put {@code timeout} outside {@code retry} instead to
 * bound the whole series. A middleware of your own is a lambda that wraps the next function:
 * {@snippet file="dev/batchbuffer/snippets/FlushMiddlewareSnippetsTest.java" region="own"}
 *
 * <p>Every middleware built here is thread-safe (with {@code maxInFlight > 1} several flushes may
 * run at once) and waits on the given {@link TimeSource}, so tests drive backoff, cool-downs and
 * rate limits with a {@link dev.batchbuffer.testing.ManualTimeSource}.
 *
 * @param <T> the item type
 */
@FunctionalInterface
public interface FlushMiddleware<T> {

  /**
   * Wraps {@code next}.
   *
   * @param next the flush function inside this one
   * @return the decorated flush function
   */
  FlushFunc<T> wrap(FlushFunc<T> next);

  /**
   * Decorates {@code flush} with {@code middlewares}, the first outermost.
   *
   * @param flush the innermost flush function
   * @param middlewares outermost first
   * @param <T> the item type
   * @return the decorated flush function
   */
  @SafeVarargs
  static <T> FlushFunc<T> chain(FlushFunc<T> flush, FlushMiddleware<T>... middlewares) {
    Objects.requireNonNull(flush, "flush must not be null");
    FlushFunc<T> result = flush;
    for (int i = middlewares.length - 1; i >= 0; i--) {
      result = Objects.requireNonNull(middlewares[i], "middlewares[" + i + "] must not be null")
          .wrap(result);
    }
    return result;
  }

  /**
   * Retries failed flushes by {@code policy}, waiting on {@code time}. A {@link PartialFlushException}
   * retries only its failed items, in their original order; the others are done. When the attempts
   * or the time run out, or a failure is not retryable, the last failure is thrown: for a partial
   * failure, a {@link PartialFlushException} whose indexes point into the original batch. An
   * interrupt during a backoff ends the retries at once (the buffer's {@code close(timeout)} sends
   * one): if some items were already delivered, a {@link PartialFlushException} naming only the
   * others is thrown (its cause is the {@link InterruptedException}), never a failure of the whole
   * batch.
   *
   * <p>Inside a {@link #timeout} that gives up on it (the call ignores the interrupt), the retry
   * makes no attempt after the buffer settled the flush as failed: the items are counted, and
   * newer items (of the key) may have gone out since, so an attempt then would duplicate and
   * reorder them.
   *
   * <p>With a {@linkplain Options.Builder#deliveryTimeout delivery timeout} on the buffer, no
   * attempt starts once the items' timeout has passed or would pass during the backoff before it:
   * a {@link DeliveryTimeoutException} (caused by the last failure) is thrown instead, wrapped in a
   * {@link PartialFlushException} naming just the items still pending when some were delivered,
   * and the buffer settles exactly those as {@link DeliveryException.Reason#EXPIRED}. The retry
   * learns the timeout from the buffer whose flush runs on its thread, and assumes {@code time} is
   * that buffer's clock. An attempt already running is not cut short: put a {@link #timeout} inside
   * the retry for that.
   *
   * @param policy attempts, backoff and what to retry
   * @param time the clock of the backoff
   * @param <T> the item type
   * @return the middleware
   */
  static <T> FlushMiddleware<T> retry(RetryPolicy policy, TimeSource time) {
    Objects.requireNonNull(policy, "policy must not be null");
    Objects.requireNonNull(time, "time must not be null");
    return next -> batch -> {
      SplittableRandom random = new SplittableRandom();
      long start = time.nanoTime();
      List<T> pending = batch;
      int[] positions = null; // positions of `pending` in `batch`; null means identity
      for (int attempt = 1; ; attempt++) {
        Exception failure;
        try {
          next.flush(pending);
          return;
        } catch (PartialFlushException partial) {
          List<Integer> failed = partial.failedIndexes();
          if (failed.isEmpty()) {
            return; // names no failed item: nothing to retry
          }
          failure = partial;
          List<T> retry = new ArrayList<>(failed.size());
          int[] map = new int[failed.size()];
          for (int i = 0; i < failed.size(); i++) {
            int index = failed.get(i);
            retry.add(pending.get(index));
            map[i] = positions == null ? index : positions[index];
          }
          pending = List.copyOf(retry);
          positions = map;
        } catch (Exception e) {
          failure = e;
        }
        Dispatcher.attemptFailed(failure); // a throttled attempt cuts the flow control's limit
        Exception judged = failure instanceof PartialFlushException && failure.getCause() instanceof Exception c
            ? c : failure;
        long delay = policy.delayNanos(attempt, random);
        boolean outOfTime = time.nanoTime() - start + delay > policy.maxElapsedNanos();
        // A flush a timeout gave up on is settled: sending again would reorder and duplicate.
        boolean done = attempt >= policy.maxAttempts() || outOfTime || !policy.retries(judged)
            || failure instanceof InterruptedException || judged instanceof DeliveryTimeoutException
            || Dispatcher.flushAbandoned();
        // Past the items' delivery timeout by the time the next attempt would start: they expire.
        DeliveryTimeoutException expired = done ? null
            : Dispatcher.expiresWithin(delay, pending.size(), judged);
        if (done || expired != null) {
          if (positions == null) {
            throw expired != null ? expired : failure;
          }
          List<Integer> original = new ArrayList<>(positions.length);
          for (int p : positions) {
            original.add(p);
          }
          throw new PartialFlushException(original, expired != null ? expired
              : failure.getCause() != null ? failure.getCause() : failure);
        }
        try {
          Waits.sleep(time, delay);
        } catch (InterruptedException interrupted) {
          if (positions == null) {
            throw interrupted; // nothing was delivered yet: the whole batch is pending
          }
          List<Integer> original = new ArrayList<>(positions.length);
          for (int p : positions) {
            original.add(p);
          }
          throw new PartialFlushException(original, interrupted);
        }
        if (Dispatcher.flushAbandoned()) {
          throw failure; // settled during the backoff (a timeout gave up on it): no more attempts
        }
        Telemetry<?> telemetry = Dispatcher.flushingTelemetry();
        if (telemetry != null) {
          telemetry.retried(pending.size());
        }
      }
    };
  }

  /**
   * Fails a flush that has not returned within {@code limit}: the call runs on a virtual thread,
   * which is interrupted at the limit, so a hung backend becomes a reported failure instead of a
   * stuck buffer. After the interrupt the call gets {@link #TIMEOUT_GRACE} (on {@code time}) to
   * say what it did: if it returns, its own outcome counts (a success is a success; a
   * {@link PartialFlushException}, such as an interrupted {@link #retry}'s, keeps the items
   * already delivered, with a {@link FlushTimeoutException} as its cause); if not,
   * {@link FlushTimeoutException} fails the whole batch, and a call that ignores the interrupt keeps
   * its virtual thread until it returns. In a {@link KeyedBuffer} with {@code maxInFlight > 1} the
   * key's next flush waits for that call to return; with flushes inline on the loop
   * ({@code maxInFlight = 1}) it may still be running when the next flush starts (the loop cannot
   * wait for it without stopping the buffer), but a {@link #retry} inside it makes no attempt after
   * the buffer settled the batch, so no retried item follows a newer one. An interrupt of the caller (the buffer's
   * {@code close(timeout)}) is passed on to the call the same way. The call's thread counts as the
   * buffer's own: {@code close()} there returns at once.
   *
   * @param limit the longest a call may take
   * @param time the clock of the limit and the grace
   * @param <T> the item type
   * @return the middleware
   */
  static <T> FlushMiddleware<T> timeout(Duration limit, TimeSource time) {
    Checks.interval("limit", limit);
    Objects.requireNonNull(time, "time must not be null");
    long limitNanos = limit.toNanos();
    long graceNanos = TIMEOUT_GRACE.toNanos();
    return next -> batch -> {
      Thread caller = Thread.currentThread();
      FutureTask<Void> call = new FutureTask<>(() -> {
        next.flush(batch);
        return null;
      }) {
        @Override
        protected void done() {
          java.util.concurrent.locks.LockSupport.unpark(caller);
        }
      };
      Thread worker = Dispatcher.startWorker(caller.getName() + "-timeout", call);
      long deadline = time.nanoTime() + limitNanos;
      boolean interrupted = false;
      while (!call.isDone()) {
        if (deadline - time.nanoTime() <= 0) {
          break;
        }
        if (Thread.interrupted()) {
          interrupted = true;
          break;
        }
        time.parkUntil(call, deadline);
      }
      if (!call.isDone()) {
        worker.interrupt();
        long graceEnd = time.nanoTime() + graceNanos;
        while (!call.isDone() && graceEnd - time.nanoTime() > 0) {
          time.parkUntil(call, graceEnd);
          interrupted |= Thread.interrupted();
        }
        if (!call.isDone()) {
          if (interrupted) {
            throw new InterruptedException("interrupted while the flush of " + batch.size()
                + " items ran; it did not return within " + TIMEOUT_GRACE);
          }
          throw new FlushTimeoutException(limit, batch.size());
        }
        Exception failure = failureOf(call);
        keepInterrupt(interrupted, failure);
        if (failure == null) {
          return; // it finished the write as it was interrupted
        }
        if (interrupted) {
          throw failure;
        }
        if (failure instanceof PartialFlushException partial) {
          throw new PartialFlushException(partial.failedIndexes(),
              new FlushTimeoutException(limit, batch.size(), partial));
        }
        throw new FlushTimeoutException(limit, batch.size(), failure);
      }
      Exception failure = failureOf(call);
      keepInterrupt(interrupted, failure);
      if (failure != null) {
        throw failure;
      }
    };
  }

  /**
   * Restores the caller's interrupt that {@link #timeout} consumed, unless what it throws is an
   * {@link InterruptedException} (which reports it): a retry around it must still see the
   * interrupt (close(timeout)'s), or it would start another attempt that nothing interrupts.
   */
  private static void keepInterrupt(boolean interrupted, @Nullable Exception outcome) {
    if (interrupted && !(outcome instanceof InterruptedException)) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * How long {@link #timeout} waits, after interrupting a call, for it to return its own outcome.
   */
  Duration TIMEOUT_GRACE = Duration.ofMillis(100);

  /** What a finished call threw, as an exception (an Error is rethrown as is). */
  private static @Nullable Exception failureOf(FutureTask<Void> call) throws InterruptedException {
    try {
      call.get();
      return null;
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof Exception ex) {
        return ex;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      return e;
    }
  }

  /**
   * Paces flushes with two token buckets refilled continuously by {@code time}: at most
   * {@code batchesPerSecond} calls and {@code itemsPerSecond} items per second on average, bursts of
   * one second's worth. A call that would overdraw a bucket waits for the deficit first; if the
   * buffer's {@linkplain Options.Builder#deliveryTimeout delivery timeout} of the batch passed
   * meanwhile, it is not sent ({@link DeliveryTimeoutException}, the items EXPIRED). Use
   * {@link Double#POSITIVE_INFINITY} for no limit on one of the two.
   *
   * @param batchesPerSecond calls per second, positive
   * @param itemsPerSecond items per second, positive
   * @param time the clock of the buckets
   * @param <T> the item type
   * @return the middleware
   */
  static <T> FlushMiddleware<T> rateLimit(double batchesPerSecond, double itemsPerSecond,
      TimeSource time) {
    if (!(batchesPerSecond > 0) || !(itemsPerSecond > 0)) {
      throw new IllegalArgumentException("rates must be > 0 (was batchesPerSecond="
          + batchesPerSecond + ", itemsPerSecond=" + itemsPerSecond + ")");
    }
    Objects.requireNonNull(time, "time must not be null");
    TokenBucket batches = new TokenBucket(batchesPerSecond, time);
    TokenBucket items = new TokenBucket(itemsPerSecond, time);
    return next -> batch -> {
      long wait = Math.max(batches.take(1), items.take(batch.size()));
      if (wait > 0) {
        Waits.sleep(time, wait);
        DeliveryTimeoutException expired = Dispatcher.expiresWithin(0, batch.size(), null);
        if (expired != null) {
          throw expired; // it waited past its delivery timeout: it is not sent
        }
      }
      next.flush(batch);
    };
  }

  /**
   * Stops calling a failing backend: after {@code failureThreshold} consecutive failed calls the
   * circuit opens; while open, a batch either fails at once with {@link CircuitOpenException}
   * ({@code waitWhileOpen = false}) or waits for the cool-down; after {@code coolDown} one call is
   * let through as a probe, whose success closes the circuit and whose failure opens it again. A
   * waiting batch with a delivery timeout ({@link Options.Builder#deliveryTimeout}) waits no longer
   * than its deadline: then it is not sent ({@link DeliveryTimeoutException}, the items EXPIRED).
   *
   * @param failureThreshold consecutive failures that open the circuit, at least 1
   * @param coolDown how long the circuit stays open before a probe
   * @param waitWhileOpen true to hold batches until the probe, false to fail them fast
   * @param time the clock of the cool-down
   * @param <T> the item type
   * @return the middleware
   */
  static <T> FlushMiddleware<T> circuitBreaker(int failureThreshold, Duration coolDown,
      boolean waitWhileOpen, TimeSource time) {
    Checks.atLeastOne("failureThreshold", failureThreshold);
    Checks.interval("coolDown", coolDown);
    Objects.requireNonNull(time, "time must not be null");
    Breaker breaker = new Breaker(failureThreshold, coolDown.toNanos(), time);
    return next -> batch -> {
      long wait = breaker.acquire(waitWhileOpen, Dispatcher.deliveryTimeLeft());
      if (wait == Breaker.GAVE_UP) {
        DeliveryTimeoutException expired = Dispatcher.expiresWithin(0, batch.size(), null);
        if (expired != null) {
          throw expired; // its delivery timeout came while the circuit was open: it is not sent
        }
        wait = 1;
      }
      if (wait != 0) {
        throw new CircuitOpenException(failureThreshold, wait);
      }
      boolean ok = false;
      try {
        next.flush(batch);
        ok = true;
      } finally {
        breaker.record(ok);
      }
    };
  }
}
