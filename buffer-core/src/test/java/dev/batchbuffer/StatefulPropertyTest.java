package dev.batchbuffer;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.LongStream;
import org.awaitility.core.ConditionTimeoutException;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The stateful, manual-clock counterpart of {@link DeliveryPropertyTest}: each seed picks a
 * configuration ({@link StatefulScenario}: plain or keyed, 1-4 flushes in flight, count, byte and
 * preset policies with every {@link Oversize} rule, a memory bound, retry, timeout and circuit
 * breaker middleware, callbacks that throw) and drives a random sequence of operations on it, one
 * at a time: add, submit, offer, offer with a timeout, flush(), small and large clock advances,
 * releasing a held backend call as a success, a failure or a partial failure, close(),
 * close(timeout), close from inside a flush or a periodic task, and re-adds from inside a flush.
 *
 * <p>After every operation the test waits until nothing moves (every thread of the buffer and of
 * the test parks: on the clock, on a held call's latch, for room) and then checks the buffer
 * against {@link BufferModel}:
 * <ul>
 *   <li>each producer call has the result the model predicts: accepted, refused (oversize, a failing
 *       weigher, closed), {@code false} or waiting when the channel or the memory bound is full;
 *   <li>every future says its item's true outcome (delivered by the backend, handed to
 *       onFlushError, to onReject, or returned undelivered by close(timeout)), and only once the
 *       item is settled; every {@code flush()} result completes after everything accepted before it
 *       is settled, and fails exactly when items failed since the previous one;
 *   <li>stats(), the callbacks and the listener agree with the model, and the accounting identity
 *       holds; a linger passed with no flush running leaves nothing waiting;
 *   <li>batches keep the policy's count and byte limits, and hold no item a rule refuses; batches
 *       are cut in acceptance order; flushes of one key never overlap and start in batch order
 *       (every flush for a plain buffer with maxInFlight 1); at most maxInFlight run at once;
 *   <li>no flush starts after close() or close(timeout) returned, none runs when they return,
 *       and after the close every accepted item has exactly one outcome.
 * </ul>
 * Seeded: {@code -Dbatchbuffer.statefulSeeds=N} runs N seeds, {@code -Dbatchbuffer.seed=S} replays
 * one; a failure prints the seed, the configuration and the operations so far.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StatefulPropertyTest {
  /** Long enough for a loaded machine; a quiescent point is normally reached in a millisecond. */
  static final Duration SETTLE = Duration.ofSeconds(20);

  static LongStream seeds() {
    Long one = Long.getLong("batchbuffer.seed");
    if (one != null) {
      return LongStream.of(one);
    }
    return LongStream.rangeClosed(1, Integer.getInteger("batchbuffer.statefulSeeds", 40));
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void operationSequencesAgreeWithTheModel(long seed) throws Exception {
    StatefulScenario sc = StatefulScenario.of(seed, 40 + (int) Math.floorMod(seed * 7, 41L));
    try (Run run = new Run(sc)) {
      run.drive();
    }
  }

  /** What the driver predicts for a producer call, from the state before it. */
  enum Expect { ACCEPTED, FALSE, WAITS, THROWS, ANY }

  /** What the test decides for a held backend call. */
  enum Outcome { OK, FAIL, PARTIAL, PARTIAL_NONE }

  /** A backend call waiting for the test. */
  static final class Held {
    final List<Long> batch;
    final CountDownLatch release = new CountDownLatch(1);
    volatile Outcome outcome = Outcome.OK;

    Held(List<Long> batch) {
      this.batch = batch;
    }
  }

  /** An operation run on a thread of its own, since it may wait. */
  static final class Op {
    final String what;
    final Expect expect;
    final @Nullable Class<? extends Throwable> expectedError;
    final boolean producer;
    final Thread thread;
    volatile boolean done;
    volatile @Nullable Object result;
    volatile @Nullable Throwable error;
    boolean checked;

    Op(String what, Expect expect, @Nullable Class<? extends Throwable> expectedError,
        boolean producer, Thread thread) {
      this.what = what;
      this.expect = expect;
      this.expectedError = expectedError;
      this.producer = producer;
      this.thread = thread;
    }
  }

  /** Work for an operation's thread. */
  @FunctionalInterface
  interface Work {
    @Nullable Object call() throws Exception;
  }

  /** One seed's buffer, model and driver. */
  static final class Run implements AutoCloseable {
    final StatefulScenario sc;
    final SplittableRandom r;
    final BufferModel model;
    final Set<Thread> threads = ConcurrentHashMap.newKeySet();
    final String name;
    final StatefulClock clock;
    final List<Held> held = new CopyOnWriteArrayList<>();
    final List<Op> ops = new CopyOnWriteArrayList<>();
    final List<String> trace = new ArrayList<>();
    final Map<Long, Integer> attempts = new ConcurrentHashMap<>();
    final AtomicInteger armedClose = new AtomicInteger();
    final AtomicBoolean armedPeriodicClose = new AtomicBoolean();
    final AtomicBoolean armedReAdd = new AtomicBoolean();
    final AtomicInteger listenerCalls = new AtomicInteger();
    volatile boolean producerPending;
    volatile @Nullable BufferFace<Long> face;
    int flushRequests;
    int opCount;
    @Nullable List<Object> lastSignature;

    Run(StatefulScenario sc) {
      this.sc = sc;
      this.r = new SplittableRandom(sc.seed() * 0x9E3779B97F4A7C15L + 1);
      this.model = new BufferModel(sc);
      this.name = "stateful-" + sc.seed();
      this.clock = new StatefulClock(name, threads);
    }

    BufferFace<Long> face() {
      return Objects.requireNonNull(face, "the buffer is not started");
    }

    // ---- the buffer ---------------------------------------------------------------------------

    void start() {
      FlushFunc<Long> chain = FlushMiddleware.chain(this::backend, middlewares());
      KeyedFlushFunc<Long, Long> outer = (key, batch) -> {
        threads.add(Thread.currentThread());
        BufferModel.Outer o = model.enterOuter(key, batch);
        Throwable thrown = null;
        try {
          chain.flush(batch);
        } catch (Exception | Error t) {
          thrown = t;
          throw t;
        } finally {
          model.exitOuter(o, thrown);
        }
      };
      BufferListener<Long> listener = new Listener();
      Duration linger = Duration.ofMillis(sc.lingerMillis());
      Duration period = Duration.ofMillis(sc.periodMillis());
      FlushPolicy<Long> policy = sc.flushPolicy();
      if (sc.keyed()) {
        KeyedBuffer.Builder<Long, Long> b = KeyedBuffer.<Long, Long>builder(sc::keyOf, outer)
            .chanSize(sc.chanSize()).flushInterval(linger).maxInFlight(sc.maxInFlight())
            .onReject(this::onReject).onFlushError(this::onFlushError).listener(listener)
            .timeSource(clock).name(name).periodic(period, this::periodic)
            .maxKeys(sc.maxKeys());
        if (sc.perKeyPolicy()) {
          b.policy(key -> {
            threads.add(Thread.currentThread());
            if (sc.policyFunctionThrows(key)) {
              throw new StatefulScenario.CallbackFailure("no policy for key " + key);
            }
            return policy;
          });
        } else {
          b.policy(policy);
        }
        if (sc.maxBufferedItems() != Long.MAX_VALUE) {
          b.maxBufferedItems(sc.maxBufferedItems());
        }
        if (sc.memoryBound() > 0) {
          b.maxBufferedBytes(sc::weighMemory, sc.memoryBound());
        }
        face = BufferFace.of(b.start(), sc.toString());
      } else {
        Config<Long> config = Config.<Long>builder(batch -> outer.flush(0L, batch))
            .policy(policy).chanSize(sc.chanSize()).flushInterval(linger)
            .onReject(this::onReject).onFlushError(this::onFlushError).build();
        Options.Builder<Long> o = Options.<Long>builder().timeSource(clock).name(name)
            .maxInFlight(sc.maxInFlight()).listener(listener).periodic(period, this::periodic);
        if (sc.memoryBound() > 0) {
          o = o.maxBufferedBytes(sc::weighMemory, sc.memoryBound());
        }
        face = BufferFace.of(Buffer.start(config, o.build()), sc.toString());
      }
    }

    @SuppressWarnings("unchecked")
    FlushMiddleware<Long>[] middlewares() {
      List<FlushMiddleware<Long>> m = new ArrayList<>();
      if (sc.breakerThreshold() > 0) {
        m.add(FlushMiddleware.circuitBreaker(sc.breakerThreshold(), Duration.ofMillis(100),
            sc.breakerWaits(), clock));
      }
      if (sc.retryAttempts() > 0) {
        Duration backoff = Duration.ofMillis(sc.retryBackoffMillis());
        m.add(FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(sc.retryAttempts())
            .backoff(backoff, backoff).jitter(0).build(), clock));
      }
      if (sc.timeoutMillis() > 0) {
        m.add(FlushMiddleware.timeout(Duration.ofMillis(sc.timeoutMillis()), clock));
      }
      return m.toArray(FlushMiddleware[]::new);
    }

    /** The innermost flush function: the test's backend. */
    void backend(List<Long> batch) throws Exception {
      threads.add(Thread.currentThread());
      model.enterBackend(batch);
      try {
        doArmedActions();
        int attempt = attempts.merge(batch.get(0), 1, Integer::sum);
        long h = mix(sc.seed() ^ mix(batch.get(0) * 31 + attempt));
        Outcome outcome;
        if (Math.floorMod(h, 100) < sc.holdPercent()) {
          Held call = new Held(batch);
          held.add(call);
          try {
            call.release.await();
          } catch (InterruptedException e) {
            throw new InterruptedException("held call " + batch + " interrupted");
          } finally {
            held.remove(call);
          }
          outcome = call.outcome;
        } else {
          int roll = Math.floorMod(h >>> 8, 100);
          outcome = roll < 70 ? Outcome.OK : roll < 82 ? Outcome.FAIL
              : roll < 95 ? Outcome.PARTIAL : Outcome.PARTIAL_NONE;
        }
        switch (outcome) {
          case OK -> model.delivered(batch);
          case FAIL -> throw new IOException("backend refuses " + batch);
          case PARTIAL_NONE -> {
            model.delivered(batch);
            throw new PartialFlushException(List.of(), null);
          }
          case PARTIAL -> {
            List<Integer> bad = new ArrayList<>();
            List<Long> good = new ArrayList<>();
            for (int i = 0; i < batch.size(); i++) {
              if (i == 0 || Math.floorMod(mix(h + i), 2) == 0) {
                bad.add(i);
              } else {
                good.add(batch.get(i));
              }
            }
            model.delivered(good);
            throw new PartialFlushException(bad, new IOException("entries " + bad + " throttled"));
          }
        }
      } finally {
        model.exitBackend();
      }
    }

    /** A close or a re-add the test armed for the next flush, from inside it. */
    void doArmedActions() {
      BufferFace<Long> f = face();
      int close = armedClose.getAndSet(0);
      if (close != 0) {
        markClosing();
        if (close == 1) {
          f.close(); // from the buffer's own thread: starts the close and returns
        } else {
          CloseResult<Long> res = f.close(Duration.ofMillis(5));
          if (!res.equals(new CloseResult<>(false, List.of(), true))) {
            model.violation("close(timeout) inside a flush returned " + res);
          }
        }
      }
      if (armedReAdd.getAndSet(false) && !producerPending) {
        long item = model.nextItem();
        model.offering(item);
        try {
          if (f.offer(item)) {
            model.accepted(item, null);
          } else {
            model.notAccepted(item);
          }
        } catch (IllegalStateException e) {
          model.notAccepted(item);
          model.refusedBecauseClosed("a re-add from inside a flush");
        } catch (RuntimeException e) {
          model.notAccepted(item);
          if (sc.producerRefusal(item) == null) {
            model.violation("a re-add of " + item + " from inside a flush threw " + e);
          }
        }
      }
    }

    void markClosing() {
      synchronized (model) {
        model.closeIssued = true;
      }
    }

    void onReject(Long item) {
      threads.add(Thread.currentThread());
      model.onReject(item);
      if (sc.throwing() && item % 2 == 0) {
        throw new StatefulScenario.CallbackFailure("onReject fails on " + item);
      }
    }

    void onFlushError(Exception e, List<Long> items) {
      threads.add(Thread.currentThread());
      model.onFlushError(e, items);
      if (sc.throwing() && items.get(0) % 3 == 0) {
        throw new StatefulScenario.CallbackFailure("onFlushError fails on " + items);
      }
    }

    void periodic() {
      threads.add(Thread.currentThread());
      long run;
      synchronized (model) {
        run = ++model.hookRuns;
        model.activity++;
      }
      if (armedPeriodicClose.getAndSet(false)) {
        markClosing();
        face().close();
      }
      if (sc.throwing() && run % 2 == 0) {
        synchronized (model) {
          model.hookThrows++;
        }
        throw new StatefulScenario.CallbackFailure("periodic task fails, run " + run);
      }
    }

    /** Counts what the buffer tells; throws every third call when the scenario throws. */
    final class Listener implements BufferListener<Long> {
      @Override
      public void flushed(FlushInfo info) {
        synchronized (model) {
          model.listenerFlushed++;
        }
        maybeThrow();
      }

      @Override
      public void flushFailed(FlushInfo info, Throwable error) {
        synchronized (model) {
          model.listenerFailed++;
        }
        maybeThrow();
      }

      @Override
      public void rejected(String buffer, Long item) {
        synchronized (model) {
          model.listenerRejected++;
        }
        maybeThrow();
      }

      @Override
      public void closed(BufferStats stats) {
        synchronized (model) {
          model.listenerClosed++;
          model.closeDone = true;
        }
      }

      private void maybeThrow() {
        threads.add(Thread.currentThread());
        model.touch();
        if (sc.throwing() && listenerCalls.incrementAndGet() % 3 == 0) {
          synchronized (model) {
            model.listenerThrows++;
          }
          throw new StatefulScenario.CallbackFailure("listener fails");
        }
      }
    }

    // ---- the driver ---------------------------------------------------------------------------

    void drive() throws Exception {
      start();
      // The periodic task starts the loop at once; it parks until the task's first period.
      clock.manual.awaitTimedWaiters(1, SETTLE);
      quiesce("start");
      check("start");
      for (int step = 0; step < sc.steps(); step++) {
        String what = step(step);
        quiesce(what);
        check(what);
      }
      finish();
    }

    /** Runs one random operation; returns what it was. */
    String step(int step) {
      boolean closing;
      synchronized (model) {
        closing = model.closeIssued;
      }
      boolean canProduce = !producerPending;
      int produce = canProduce ? (closing ? 15 : 45) : 0;
      int flush = canProduce ? 5 : 0;
      int small = 10;
      int large = 7;
      int release = held.isEmpty() ? 0 : 18;
      boolean late = step >= sc.steps() * 3 / 5; // closes come late, after the buffer has worked
      int close = closing || !late ? 0 : 1;
      int arm = closing || !late ? 0 : 2;
      int readd = 3;
      int total = produce + flush + small + large + release + 2 * close + 2 * arm + readd;
      int roll = r.nextInt(total);
      if ((roll -= produce) < 0) {
        return produce();
      }
      if ((roll -= flush) < 0) {
        return flushNow();
      }
      if ((roll -= small) < 0) {
        return advance(1 + r.nextInt((int) Math.max(1, sc.lingerMillis() / 2)));
      }
      if ((roll -= large) < 0) {
        return advanceLarge();
      }
      if ((roll -= release) < 0) {
        return release();
      }
      if ((roll -= close) < 0) {
        return closeOp();
      }
      if ((roll -= close) < 0) {
        return closeWithin(List.of(0L, 5L, 20L, 300L).get(r.nextInt(4)));
      }
      if ((roll -= arm) < 0) {
        armedClose.set(1 + r.nextInt(2));
        return trace("arm: the next flush closes the buffer (" + armedClose.get() + ")");
      }
      if ((roll -= arm) < 0) {
        armedPeriodicClose.set(true);
        return trace("arm: the next periodic run closes the buffer");
      }
      armedReAdd.set(true);
      return trace("arm: the next flush re-adds an item");
    }

    String produce() {
      long item = model.nextItem();
      int how = r.nextInt(100);
      String call = how < 35 ? "add" : how < 70 ? "submit" : how < 85 ? "offer" : "offer(30 ms)";
      Class<? extends RuntimeException> refusal = sc.producerRefusal(item);
      Expect expect;
      Class<? extends Throwable> error = null;
      boolean closing;
      synchronized (model) {
        closing = model.closeIssued;
      }
      if (refusal != null) {
        expect = Expect.THROWS;
        error = refusal;
      } else if (closing) {
        expect = Expect.THROWS;
        error = IllegalStateException.class;
      } else if (full(item, true)) {
        expect = call.equals("offer") ? Expect.FALSE : Expect.WAITS;
      } else {
        expect = Expect.ACCEPTED;
      }
      model.offering(item);
      producerPending = true;
      BufferFace<Long> f = face();
      String what = call + " " + item + " (expect " + expect + ")";
      run(what, expect, error, true, () -> {
        try {
          return switch (call) {
            case "add" -> {
              f.add(item);
              model.accepted(item, null);
              yield true;
            }
            case "submit" -> {
              CompletableFuture<Void> future = f.submit(item);
              model.accepted(item, future);
              yield true;
            }
            default -> {
              boolean ok = call.equals("offer") ? f.offer(item)
                  : f.offer(item, Duration.ofMillis(30));
              if (ok) {
                model.accepted(item, null);
              } else {
                model.notAccepted(item);
              }
              yield ok;
            }
          };
        } catch (IllegalStateException e) {
          model.notAccepted(item);
          if (e.getMessage() != null && e.getMessage().endsWith("is closed")) {
            model.refusedBecauseClosed(call + " " + item);
          }
          throw e;
        } catch (RuntimeException e) {
          model.notAccepted(item);
          throw e;
        }
      });
      return trace(what);
    }

    /** Whether the channel or the memory bound has no room now (for {@code item}, if any). */
    boolean full(long item, boolean weighed) {
      if (face().itemsInChannel() >= sc.chanSize()) {
        return true;
      }
      if (!weighed || sc.memoryBound() == 0) {
        return false;
      }
      long heldBytes = model.memoryHeld();
      return heldBytes > 0 && heldBytes + sc.memoryWeight(item) > sc.memoryBound();
    }

    String flushNow() {
      boolean closing;
      synchronized (model) {
        closing = model.closeIssued;
      }
      Expect expect = closing ? Expect.THROWS : full(0, false) ? Expect.WAITS : Expect.ACCEPTED;
      int number = ++flushRequests;
      long before = model.position();
      producerPending = true;
      BufferFace<Long> f = face();
      String what = "flush() #" + number + " (expect " + expect + ")";
      run(what, expect, closing ? IllegalStateException.class : null, true, () -> {
        try {
          CompletableFuture<Void> result = f.flush();
          model.watchFlush(number, before, result);
          return true;
        } catch (IllegalStateException e) {
          model.refusedBecauseClosed("flush()");
          throw e;
        }
      });
      return trace(what);
    }

    String advance(long millis) {
      clock.advance(Duration.ofMillis(millis));
      return trace("advance " + millis + " ms");
    }

    String advanceLarge() {
      boolean freeBefore = loopFree();
      int acceptedBefore = model.acceptedCount();
      long millis = sc.lingerMillis() + 250 + r.nextInt(500);
      clock.advance(Duration.ofMillis(millis));
      String what = trace("advance " + millis + " ms, past the linger");
      quiesce(what);
      if (freeBefore && loopFree()) {
        // Only items accepted since (a re-add from a flush, a producer let in) may still wait.
        long waiting = face().stats().itemsWaiting();
        int since = model.acceptedCount() - acceptedBefore;
        if (waiting > since) {
          fail(what, List.of(waiting + " items still wait after the linger passed with no flush"
              + " running (" + since + " accepted since)"));
        }
      }
      return what;
    }

    /** No flush runs: the loop is free to flush what is due. */
    boolean loopFree() {
      return model.outerRunning() == 0 && face().stats().flushesInFlight() == 0;
    }

    String release() {
      Held call = null;
      for (Held h : held) {
        if (call == null || h.batch.get(0) < call.batch.get(0)) {
          call = h;
        }
      }
      if (call == null) {
        return trace("release: nothing held");
      }
      int roll = r.nextInt(100);
      call.outcome = roll < 60 ? Outcome.OK : roll < 75 ? Outcome.FAIL
          : roll < 95 ? Outcome.PARTIAL : Outcome.PARTIAL_NONE;
      call.release.countDown();
      return trace("release " + call.batch + " as " + call.outcome);
    }

    String closeOp() {
      markClosing();
      BufferFace<Long> f = face();
      run("close()", Expect.ANY, null, false, () -> {
        f.close();
        int running = model.outerRunning();
        synchronized (model) {
          model.closeDone = true;
        }
        if (running != 0) {
          model.violation("close() returned while " + running + " flushes run");
        }
        return null;
      });
      return trace("close()");
    }

    String closeWithin(long millis) {
      markClosing();
      synchronized (model) {
        model.closeWithinIssued = true;
      }
      BufferFace<Long> f = face();
      String what = "close(" + millis + " ms)";
      run(what, Expect.ANY, null, false, () -> {
        CloseResult<Long> res = f.close(Duration.ofMillis(millis));
        int running = model.outerRunning();
        model.undelivered(res.undelivered());
        if (!res.stillFlushing()) {
          synchronized (model) {
            model.closeDone = true;
          }
          if (running != 0) {
            model.violation(what + " returned " + res + " while " + running + " flushes run");
          }
        }
        if (res.drained() && !res.undelivered().isEmpty()) {
          model.violation(what + " says drained but returned undelivered items");
        }
        return res;
      });
      return trace(what);
    }

    /** Starts an operation on a thread of its own. */
    void run(String what, Expect expect, @Nullable Class<? extends Throwable> error,
        boolean producer, Work work) {
      Op[] box = new Op[1];
      Thread t = Thread.ofVirtual().name(name + "-op-" + ++opCount).unstarted(() -> {
        Op op = box[0];
        try {
          op.result = work.call();
        } catch (Throwable e) {
          op.error = e;
        } finally {
          op.done = true;
        }
      });
      Op op = new Op(what, expect, error, producer, t);
      box[0] = op;
      ops.add(op);
      threads.add(t);
      t.start();
    }

    /** Checks the operations against what was predicted, and forgets those that ended. */
    List<String> checkOps() {
      List<String> problems = new ArrayList<>();
      List<Op> ended = new ArrayList<>();
      for (Op op : ops) {
        if (!op.checked) {
          op.checked = true;
          boolean waits = op.expect == Expect.WAITS;
          // A close (ANY) may return at once or wait for held flushes.
          if (op.expect != Expect.ANY && op.done == waits) {
            problems.add(op.what + " " + (op.done ? "did not wait: " + describe(op) : "waits"));
          } else if (op.done && op.expect != Expect.ANY) {
            Throwable e = op.error;
            switch (op.expect) {
              case ACCEPTED -> {
                if (e != null || !Boolean.TRUE.equals(op.result)) {
                  problems.add(op.what + " was not accepted: " + describe(op));
                }
              }
              case FALSE -> {
                if (!Boolean.FALSE.equals(op.result)) {
                  problems.add(op.what + " returned " + describe(op));
                }
              }
              case THROWS -> {
                Class<? extends Throwable> want = Objects.requireNonNull(op.expectedError);
                if (!want.isInstance(e)) {
                  problems.add(op.what + " should throw " + want.getSimpleName() + ": "
                      + describe(op));
                }
              }
              case WAITS, ANY -> { }
            }
          }
        }
        if (op.done) {
          Throwable e = op.error;
          if (e != null && op.expect != Expect.THROWS && !(e instanceof IllegalStateException)) {
            problems.add(op.what + " threw " + e);
          }
          ended.add(op);
        }
      }
      ops.removeAll(ended);
      boolean pending = false;
      for (Op op : ops) {
        pending |= op.producer;
      }
      producerPending = pending;
      return problems;
    }

    private static String describe(Op op) {
      return op.error != null ? "threw " + op.error : "returned " + op.result;
    }

    /** Releases everything, closes and drains, then checks the end state. */
    void finish() {
      boolean closing;
      synchronized (model) {
        closing = model.closeIssued;
      }
      if (!closing) {
        if (r.nextBoolean()) {
          closeOp();
        } else {
          closeWithin(List.of(0L, 20L, 300L).get(r.nextInt(3)));
        }
        quiesce("final close");
        check("final close");
      }
      for (int i = 0; i < 400; i++) {
        BufferStats s = face().stats();
        if (ops.isEmpty() && s.state() == BufferStats.State.CLOSED) {
          break;
        }
        for (Held h : held) {
          h.outcome = Outcome.OK;
          h.release.countDown();
        }
        String what = advance(sc.lingerMillis() + 300);
        quiesce(what);
        check(what);
      }
      closeOp(); // a second close waits for the same end and returns at once
      quiesce("close() again");
      check("close() again");
      List<String> problems = new ArrayList<>();
      if (!ops.isEmpty()) {
        problems.add("operations never ended: " + ops.stream().map(o -> o.what).toList());
      }
      problems.addAll(model.checkClosed(face().stats()));
      if (!problems.isEmpty()) {
        fail("the end", problems);
      }
    }

    // ---- quiescence and checks ---------------------------------------------------------------

    /** Waits until every thread of the buffer and of the test waits, and nothing moved since. */
    void quiesce(String after) {
      lastSignature = null;
      try {
        await().pollInSameThread().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1))
            .atMost(SETTLE).until(this::quiet);
      } catch (ConditionTimeoutException e) {
        fail(after, List.of("no quiescent point within " + SETTLE + "; loop " + clock.loop()
            + ", " + face().stats() + ", outer running " + model.outerRunning() + ", backend "
            + model.backendRunning() + ", timeout callers " + clock.timeoutCallersParked()));
      }
    }

    boolean quiet() {
      Thread loop = clock.loop();
      if (loop == null) {
        return false;
      }
      threads.removeIf(t -> t.getState() == Thread.State.TERMINATED);
      for (Thread t : threads) {
        Thread.State state = t.getState();
        if (state != Thread.State.WAITING && state != Thread.State.TIMED_WAITING
            && state != Thread.State.TERMINATED) {
          lastSignature = null;
          return false;
        }
      }
      BufferStats s = face().stats();
      int outer = model.outerRunning();
      boolean queuesPerKey = sc.keyed() && sc.maxInFlight() > 1;
      if (queuesPerKey ? outer == 0 && s.flushesInFlight() != 0 : s.flushesInFlight() != outer) {
        lastSignature = null;
        return false; // a flush was handed over and has not reached the flush function yet
      }
      if (sc.timeoutMillis() > 0 && clock.timeoutCallersParked() != model.backendRunning()) {
        lastSignature = null;
        return false; // a timeout's worker has not reached the backend, or has left it
      }
      List<Object> signature = List.of(model.activity(), clock.parks(), s.accepted(), s.flushed(),
          s.failed(), s.rejected(), s.undelivered(), s.itemsWaiting(), s.itemsFlushing(),
          s.flushesInFlight(), s.producersBlocked(), face().itemsInChannel(), held.size(),
          ops.size(), s.state());
      boolean same = signature.equals(lastSignature);
      lastSignature = signature;
      return same;
    }

    void check(String after) {
      List<String> problems = new ArrayList<>(checkOps());
      BufferStats s = face().stats();
      problems.addAll(model.checkQuiescent(s, !(sc.keyed() && sc.maxInFlight() > 1)));
      if (!problems.isEmpty()) {
        fail(after, problems);
      }
    }

    String trace(String what) {
      trace.add(String.format("%3d  t=%-8s %s", trace.size() + 1,
          Duration.ofNanos(clock.nanoTime() - (Long.MAX_VALUE - 3_600_000_000_000L)).toMillis()
              + "ms", what));
      return what;
    }

    void fail(String after, List<String> problems) {
      StringBuilder m = new StringBuilder();
      m.append("seed ").append(sc.seed()).append(" (replay: -Dbatchbuffer.seed=")
          .append(sc.seed()).append(" -Dtest=StatefulPropertyTest)\n  after: ").append(after)
          .append("\n  configuration: ").append(sc).append("\n  model: ").append(model.summary())
          .append("\n  problems:");
      problems.stream().limit(20).forEach(p -> m.append("\n    - ").append(p));
      m.append("\n  operations:");
      trace.forEach(line -> m.append("\n    ").append(line));
      m.append("\n  threads:");
      for (Thread t : threads) {
        m.append("\n    ").append(t.getName()).append(' ').append(t.getState());
        for (StackTraceElement el : t.getStackTrace()) {
          m.append("\n        at ").append(el);
        }
      }
      throw new AssertionError(m.toString());
    }

    @Override
    public void close() {
      // After a failure: let every thread go, best effort, so that no seed leaks into the next.
      for (Held h : held) {
        h.release.countDown();
      }
      BufferFace<Long> f = face;
      if (f != null && f.stats().state() != BufferStats.State.CLOSED) {
        Thread.ofVirtual().start(() -> f.close(Duration.ZERO));
        clock.advance(Duration.ofSeconds(1));
      }
    }
  }

  static long mix(long z) {
    z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
    z = (z ^ (z >>> 33)) * 0xc4ceb93e34e53b4dL;
    return z ^ (z >>> 33);
  }
}
