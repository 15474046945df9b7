package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Queue;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import java.util.stream.LongStream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The per-item answers of a {@link ResultBuffer} under random combinations of what it can be given,
 * the result-mode counterpart of {@link DeliveryPropertyTest}: plain or keyed, blocking or
 * asynchronous ({@link ResultBuffer#builderAsync}), one to four flushes in flight, count, byte and
 * preset policies, canAdd refusals, a memory bound, retry, timeout and circuit-breaker middleware in
 * a random order, callbacks that throw (onReject, onFlushError, the listener, a key's policy
 * function), several producers submitting and calling flush(), and close() or close(timeout) at a
 * random point (mid-flush included). The backend answers each item with its id and the attempt
 * ({@code "17#2"}), fails single items ({@link Results#fail}, the cause naming the item), fails or
 * throws for a whole call, answers the wrong number of items, leaves items unanswered, hangs on the
 * clock (answering late, or giving up when interrupted), and in the asynchronous form completes its
 * stages from other threads, late and out of order, exceptionally, or never (until close(timeout)
 * cancels them). Time is a {@link ManualTimeSource} that a ticker thread moves to the next deadline of
 * a thread waiting on it (a linger, a hang, a backoff, a timeout, close(timeout)).
 *
 * <p>Each seed checks, once everything has settled:
 * Now and then a producer submits the same object twice in a row (matched by identity, each
 * submission keeps its own answer).
 * <ul>
 *   <li>every submitted future completed, with exactly its own item's answer, one a call that
 *       returned normally gave it (never another item's: the answer names the item), or with a
 *       {@link DeliveryException} whose reason says where the item went: FAILED (and then it reached
 *       onFlushError, and an own failure as cause names this item), REJECTED (onReject) or
 *       UNDELIVERED (close(timeout)'s list);
 *   <li>each accepted item is in exactly one of those four places, and stats() agree with them: the
 *       accounting identity accepted = flushed + failed + rejected + undelivered;
 *   <li>no item was answered with success by two calls that returned normally, unless a timeout
 *       middleware abandoned a call (its late answers are refused, but the backend did write them);
 *   <li>flushes of one key never overlap and a producer's items of one key reach the flush
 *       function in the order it submitted them (keyed, or plain with one flush in flight);
 *   <li>every flush() future completes, and only after every future its producer got before it.
 * </ul>
 * Seeded: a failure names its seed and configuration. {@code -Dbatchbuffer.resultSeeds=N} runs N
 * seeds (100 by default), {@code -Dbatchbuffer.seed=S} replays one.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ResultPropertyTest {
  /** Bounds every wait of the test thread; a settled seed finishes in milliseconds. */
  static final Duration SETTLE = Duration.ofSeconds(30);

  static LongStream seeds() {
    Long one = Long.getLong("batchbuffer.seed");
    if (one != null) {
      return LongStream.of(one);
    }
    return LongStream.rangeClosed(1, Integer.getInteger("batchbuffer.resultSeeds", 100));
  }

  /** An item: distinct objects, so that an answer can only be matched to its own. */
  static final class Item {
    final long id;
    final int key;

    Item(long id, int key) {
      this.id = id;
      this.key = key;
    }

    int producer() {
      return (int) (id / 1_000_000);
    }

    @Override
    public String toString() {
      return "item" + id;
    }
  }

  /** One submit: the item and the future it returned. */
  record Submission(Item item, CompletableFuture<String> future) {}

  /** What one seed chose, printed with a failure. */
  record Scenario(long seed, boolean async, boolean keyed, int keys, int maxInFlight, int policy,
      int capacity, int chanSize, boolean canAdd, boolean memory, List<String> middleware,
      boolean throwingCallbacks, boolean hangs, int producers, int itemsPerProducer,
      int lingerMillis, int closeAfter, int closeMillis) {
    static Scenario of(long seed) {
      SplittableRandom r = new SplittableRandom(seed);
      boolean async = r.nextInt(3) == 0;
      List<String> middleware = new ArrayList<>();
      if (!async) {
        for (String m : List.of("retry", "timeout", "breaker")) {
          if (r.nextInt(m.equals("retry") ? 2 : 3) == 0) {
            middleware.add(r.nextInt(middleware.size() + 1), m);
          }
        }
      }
      boolean hangs = r.nextInt(3) == 0;
      int itemsPerProducer = 50 + r.nextInt(250);
      int producers = 1 + r.nextInt(3);
      // close(timeout) whenever a stage may never complete; mid-run (after so many submits) or not
      int closeMillis = (async && hangs) || r.nextInt(3) == 0 ? r.nextInt(30) : -1;
      int closeAfter = r.nextInt(3) == 0 ? r.nextInt(producers * itemsPerProducer) : -1;
      return new Scenario(seed, async, r.nextBoolean(), 1 + r.nextInt(5), 1 + r.nextInt(4),
          r.nextInt(3), 1 + r.nextInt(20), 1 + r.nextInt(40), r.nextInt(3) == 0,
          r.nextInt(3) == 0, List.copyOf(middleware), r.nextBoolean(), hangs, producers,
          itemsPerProducer, 1 + r.nextInt(20), closeAfter, closeMillis);
    }

    boolean timeout() {
      return middleware.contains("timeout");
    }

    /** Whether a producer's items of one key must reach the flush function in order. */
    boolean ordered() {
      return keyed || maxInFlight == 1;
    }
  }

  /**
   * The manual clock, driven as a discrete-event simulation: it knows the deadline of every thread
   * waiting on it, and {@link #step} moves time to the earliest of them, then waits until some
   * waiter moved. So time passes only while a thread waits for it (a linger, a hang, a backoff, a
   * timeout, close(timeout)), in jumps from one deadline to the next.
   */
  static final class TickedClock implements TimeSource {
    final ManualTimeSource manual = new ManualTimeSource();
    private final Object change = new Object();
    private final Map<Thread, Long> deadlines = new HashMap<>();
    private long generation;

    @Override
    public long nanoTime() {
      return manual.nanoTime();
    }

    @Override
    public void park(Object blocker) {
      manual.park(blocker);
    }

    @Override
    public void parkNanos(Object blocker, long nanos) {
      if (nanos > 0) {
        parkUntil(blocker, manual.nanoTime() + nanos);
      }
    }

    @Override
    public void parkUntil(Object blocker, long deadline) {
      synchronized (change) {
        deadlines.put(Thread.currentThread(), deadline);
        generation++;
        change.notifyAll();
      }
      try {
        manual.parkUntil(blocker, deadline);
      } finally {
        synchronized (change) {
          deadlines.remove(Thread.currentThread());
          generation++;
          change.notifyAll();
        }
      }
    }

    /**
     * Moves time to the earliest deadline of a waiting thread, then waits until a waiter came or
     * went; returns at once when {@code stop} is set.
     */
    void step(AtomicBoolean stop) throws InterruptedException {
      long target;
      long seen;
      synchronized (change) {
        while (deadlines.isEmpty() && !stop.get()) {
          change.wait(); // a waiter's arrival and stop() notify
        }
        if (stop.get()) {
          return;
        }
        target = Collections.min(deadlines.values());
        seen = generation;
      }
      long now = manual.nanoTime();
      if (target - now > 0) {
        manual.advance(target - now, TimeUnit.NANOSECONDS);
      }
      synchronized (change) {
        while (generation == seen && !stop.get()) {
          change.wait();
        }
      }
    }

    void stop() {
      synchronized (change) {
        change.notifyAll();
      }
    }

    /** Parks on the clock until {@code millis} of its time passed (interruptibly if asked). */
    boolean sleep(Object blocker, long millis, boolean interruptible) {
      long deadline = manual.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
      boolean interrupted = false;
      while (deadline - manual.nanoTime() > 0) {
        parkUntil(blocker, deadline);
        if (Thread.interrupted()) {
          interrupted = true;
          if (interruptible) {
            return true;
          }
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt(); // ignored, but kept for the caller to see
      }
      return interrupted;
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void everyFutureGetsItsOwnItemsAnswerOrTheRightReason(long seed) throws Exception {
    Scenario sc = Scenario.of(seed);
    try {
      new Run(sc).run();
    } catch (AssertionError | Exception e) {
      throw new AssertionError("seed " + seed + " (replay with -Dbatchbuffer.seed=" + seed + "): "
          + sc + ": " + e, e);
    }
  }

  /** One seed's buffer, backend and bookkeeping. */
  static final class Run {
    final Scenario sc;
    final SplittableRandom backendRandom;
    final TickedClock clock = new TickedClock();
    final String name;
    final Queue<String> violations = new ConcurrentLinkedQueue<>();
    /** Per item id: the answers of calls that returned normally (or stages completed normally). */
    final Map<Long, Set<String>> okAnswers = new ConcurrentHashMap<>();
    /** Per item id: the own failures the backend gave ("fail id#attempt"). */
    final Map<Long, Set<String>> ownFailures = new ConcurrentHashMap<>();
    final Map<Long, AtomicInteger> attempts = new ConcurrentHashMap<>();
    final Queue<Long> failed = new ConcurrentLinkedQueue<>();
    final Queue<Long> rejected = new ConcurrentLinkedQueue<>();
    final Map<Integer, AtomicInteger> runningPerKey = new ConcurrentHashMap<>();
    final Map<Long, Long> lastSeen = new ConcurrentHashMap<>();
    /** Backend calls and completer threads still running: the seed is quiescent at zero. */
    final AtomicInteger active = new AtomicInteger();
    final AtomicInteger calls = new AtomicInteger();
    final AtomicInteger submitted = new AtomicInteger();
    final CountDownLatch closeNow = new CountDownLatch(1);
    final Object hang = new Object();

    Run(Scenario sc) {
      this.sc = sc;
      this.backendRandom = new SplittableRandom(sc.seed() * 31 + 7);
      this.name = "results-" + sc.seed();
    }

    int roll(int bound) {
      synchronized (backendRandom) {
        return backendRandom.nextInt(bound);
      }
    }

    String answer(Item item, int attempt) {
      return item.id + "#" + attempt;
    }

    /** Counts an attempt for each item of a call; returns each one's attempt number. */
    int[] attemptsOf(List<Item> batch) {
      int[] a = new int[batch.size()];
      for (int i = 0; i < a.length; i++) {
        a[i] = attempts.computeIfAbsent(batch.get(i).id, k -> new AtomicInteger()).incrementAndGet();
      }
      return a;
    }

    /** Answers each item: mostly a success, some an own failure; returns the successes given. */
    List<Map.Entry<Long, String>> answerEach(List<Item> batch, int[] attempt, Results<String> results,
        boolean leaveSome) {
      List<Map.Entry<Long, String>> ok = new ArrayList<>();
      boolean all = !leaveSome && roll(3) == 0;
      if (all) {
        List<String> values = new ArrayList<>();
        for (int i = 0; i < batch.size(); i++) {
          values.add(answer(batch.get(i), attempt[i]));
          ok.add(Map.entry(batch.get(i).id, values.get(i)));
        }
        results.succeedAll(values);
        return ok;
      }
      List<Integer> order = new ArrayList<>();
      for (int i = 0; i < batch.size(); i++) {
        order.add(i);
      }
      synchronized (backendRandom) {
        Collections.shuffle(order, new java.util.Random(backendRandom.nextLong()));
      }
      for (int i : order) {
        Item item = batch.get(i);
        int r = roll(10);
        if (leaveSome && r < 3) {
          continue;
        }
        if (r < 8) {
          String v = answer(item, attempt[i]);
          results.succeed(i, v);
          ok.add(Map.entry(item.id, v));
        } else {
          String why = "fail " + answer(item, attempt[i]);
          ownFailures.computeIfAbsent(item.id, k -> ConcurrentHashMap.newKeySet()).add(why);
          results.fail(i, new IOException(why));
        }
      }
      return ok;
    }

    void record(List<Map.Entry<Long, String>> ok) {
      for (Map.Entry<Long, String> e : ok) {
        okAnswers.computeIfAbsent(e.getKey(), k -> ConcurrentHashMap.newKeySet()).add(e.getValue());
      }
    }

    /** At a flush's start: overlap and order per key (the outermost layer of the flush). */
    void enterFlush(List<Item> batch) {
      int key = sc.keyed() ? batch.get(0).key : 0;
      AtomicInteger now = runningPerKey.computeIfAbsent(key, k -> new AtomicInteger());
      if (now.incrementAndGet() > 1 && sc.ordered()) {
        violations.add("two flushes of key " + key + " at once");
      }
      for (Item item : batch) {
        if (sc.keyed() && item.key != key) {
          violations.add("batch of key " + key + " holds " + item + " of key " + item.key);
        }
        if (sc.ordered()) {
          Long previous = lastSeen.put(item.producer() * 100L + item.key, item.id);
          if (previous != null && previous > item.id) { // equal: one object submitted twice
            violations.add("key " + item.key + ": " + item + " flushed after item" + previous);
          }
        }
      }
    }

    void exitFlush(List<Item> batch) {
      Objects.requireNonNull(runningPerKey.get(sc.keyed() ? batch.get(0).key : 0))
          .decrementAndGet();
    }

    /** The blocking backend: one call of the flush function (or of a retry's attempt). */
    void flushBlocking(List<Item> batch, Results<String> results) throws Exception {
      active.incrementAndGet();
      try {
        calls.incrementAndGet();
        int[] attempt = attemptsOf(batch);
        int r = roll(20);
        if (r == 0) {
          answerEach(batch, attempt, results, false); // discarded: the call throws
          throw new IOException("whole call failed");
        }
        if (r == 1) {
          List<String> wrong = new ArrayList<>();
          int size = batch.size() + (roll(2) == 0 ? 1 : -1);
          for (int i = 0; i < size; i++) {
            wrong.add("wrong" + i);
          }
          results.succeedAll(wrong); // throws IllegalArgumentException: the call fails
          violations.add("succeedAll took " + wrong.size() + " answers for " + batch.size());
          return;
        }
        if (r == 2 && sc.hangs()) {
          if (closeNow.getCount() > 0 && roll(3) == 0) {
            closeNow.countDown();
          }
          boolean interruptible = roll(2) == 0;
          if (clock.sleep(hang, 1 + roll(40), interruptible) && interruptible) {
            throw new InterruptedException("interrupted while the backend hung");
          }
        }
        List<Map.Entry<Long, String>> ok = answerEach(batch, attempt, results, r == 3);
        record(ok);
      } finally {
        active.decrementAndGet();
      }
    }

    /** The asynchronous backend: starts a write and completes its stage, somehow. */
    CompletionStage<?> flushAsync(List<Item> batch, Results<String> results) {
      calls.incrementAndGet();
      enterFlush(batch);
      AtomicBoolean exited = new AtomicBoolean();
      Runnable exit = () -> {
        if (exited.compareAndSet(false, true)) {
          exitFlush(batch);
        }
      };
      int[] attempt = attemptsOf(batch);
      int r = roll(12);
      CompletableFuture<@Nullable Void> stage = new CompletableFuture<>();
      var unused = stage.whenComplete((v, t) -> exit.run()); // cancelled by close(timeout)
      if (r == 0) {
        exit.run();
        throw new IllegalStateException("the write could not start");
      }
      if (r == 1 && sc.hangs()) {
        closeNow.countDown();
        return stage; // never completes: close(timeout) cancels it
      }
      if (r == 2) { // answered and completed before the stage is returned
        record(answerEach(batch, attempt, results, false));
        exit.run();
        stage.complete(null);
        return stage;
      }
      long delay = roll(25);
      active.incrementAndGet();
      Thread.ofVirtual().name(name + "-completer").start(() -> {
        try {
          clock.sleep(stage, delay, false);
          Thread.interrupted();
          if (r == 3) { // some answers, then the stage fails: every item fails
            answerEach(batch, attempt, results, true);
            exit.run();
            stage.completeExceptionally(new IOException("the write failed"));
          } else if (r == 4) {
            List<String> wrong = new ArrayList<>(Collections.nCopies(batch.size() + 1, "wrong"));
            try {
              results.succeedAll(wrong);
              violations.add("succeedAll took " + wrong.size() + " answers for " + batch.size());
            } catch (IllegalArgumentException expected) {
              exit.run();
              stage.completeExceptionally(expected);
            }
          } else {
            List<Map.Entry<Long, String>> ok = answerEach(batch, attempt, results, r == 5);
            record(ok);
            exit.run();
            stage.complete(null);
          }
        } catch (IllegalStateException refused) {
          if (!stage.isDone()) { // answers are refused only once the write was given up
            violations.add("an answer was refused before the stage completed: " + refused);
          }
        } catch (Throwable t) {
          violations.add("completer failed: " + t);
        } finally {
          active.decrementAndGet();
        }
      });
      return stage;
    }

    ResultBuffer<Item, String> start() {
      Consumer<Item> onReject = item -> {
        rejected.add(item.id);
        if (sc.throwingCallbacks() && item.id % 2 == 0) {
          throw new IllegalStateException("onReject fails");
        }
      };
      BiConsumer<Exception, List<Item>> onFlushError = (e, items) -> {
        for (Item item : items) {
          failed.add(item.id);
        }
        if (sc.throwingCallbacks() && items.get(0).id % 3 == 0) {
          throw new IllegalStateException("onFlushError fails");
        }
      };
      BufferListener<Object> listener = new BufferListener<>() {
        @Override
        public void flushed(FlushInfo info) {
          if (sc.throwingCallbacks()) {
            throw new IllegalStateException("listener fails");
          }
        }
      };
      Weigher<Item> weigher = item -> item.id % 7 + 1;
      FlushPolicy<Item> base = switch (sc.policy()) {
        case 0 -> FlushPolicy.count(sc.capacity());
        case 1 -> FlushPolicy.<Item>count(sc.capacity())
            .or(FlushPolicy.bytes(weigher, 6 + sc.capacity()));
        default -> Presets.sqsSendMessageBatch(weigher);
      };
      FlushPolicy<Item> policy = !sc.canAdd() ? base : FlushPolicy.anyOf(base,
          FlushPolicy.custom((b, item) -> false, (b, item) -> item.id % 11 != 3, b -> false));
      Duration linger = Duration.ofMillis(sc.lingerMillis());

      ResultBuffer.Builder<Item, String> b;
      if (sc.async()) {
        b = ResultBuffer.builderAsync(this::flushAsync);
      } else {
        b = ResultBuffer.builder(this::flushBlocking);
        List<FlushMiddleware<Item>> chain = new ArrayList<>();
        chain.add(next -> batch -> { // outermost: watches overlap and order per key
          enterFlush(batch);
          try {
            next.flush(batch);
          } finally {
            exitFlush(batch);
          }
        });
        for (String m : sc.middleware()) {
          chain.add(switch (m) {
            case "retry" -> FlushMiddleware.retry(RetryPolicy.builder().maxAttempts(3)
                .backoff(Duration.ofMillis(1), Duration.ofMillis(4)).build(), clock);
            case "timeout" -> FlushMiddleware.timeout(Duration.ofMillis(5 + sc.seed() % 20), clock);
            default -> FlushMiddleware.circuitBreaker(4, Duration.ofMillis(10),
                sc.seed() % 2 == 0, clock);
          });
        }
        @SuppressWarnings("unchecked")
        FlushMiddleware<Item>[] array = (FlushMiddleware<Item>[]) chain.toArray(
            new FlushMiddleware<?>[0]);
        b.middleware(array);
      }
      if (sc.keyed()) {
        UnaryOperator<KeyedBuffer.Builder<Integer, Item>> settings = k -> {
          k.policy(key -> {
            if (sc.throwingCallbacks() && key == 4) {
              throw new IllegalStateException("no policy for key 4");
            }
            return policy;
          }).chanSize(sc.chanSize()).flushInterval(linger).maxInFlight(sc.maxInFlight())
              .maxKeys(Math.max(1, sc.keys() - 1)).onReject(onReject).onFlushError(onFlushError)
              .listener(listener).timeSource(clock).name(name);
          if (sc.memory()) {
            k.maxBufferedBytes(weigher, 40);
          }
          return k;
        };
        b.keyed((Item item) -> item.key, settings);
      } else {
        Options.Builder<Item> options = Options.<Item>builder().maxInFlight(sc.maxInFlight())
            .listener(listener).timeSource(clock).name(name);
        if (sc.memory()) {
          options.maxBufferedBytes(weigher, 40);
        }
        b.config(c -> c.policy(policy).chanSize(sc.chanSize()).flushInterval(linger)
            .onReject(onReject).onFlushError(onFlushError)).options(options.build());
      }
      return b.start();
    }

    void run() throws Exception {
      AtomicBoolean stopTicker = new AtomicBoolean();
      CompletableFuture<Void> ticker = Async.run(() -> {
        while (!stopTicker.get()) {
          clock.step(stopTicker);
        }
      });
      try {
        runWithClock();
      } finally {
        stopTicker.set(true);
        clock.stop();
        ticker.get(SETTLE.toSeconds(), TimeUnit.SECONDS);
      }
    }

    void runWithClock() throws Exception {
      ResultBuffer<Item, String> buffer = start();
      try {
        drive(buffer);
      } finally {
        if (!buffer.isClosed()) { // a failed seed: end its threads
          var unused = buffer.close(Duration.ZERO);
        }
      }
    }

    void drive(ResultBuffer<Item, String> buffer) throws Exception {
      Queue<Submission> futures = new ConcurrentLinkedQueue<>();
      Queue<CompletableFuture<Void>> flushChecks = new ConcurrentLinkedQueue<>();
      List<CompletableFuture<Void>> producers = new ArrayList<>();
      for (int p = 0; p < sc.producers(); p++) {
        long base = (long) p * 1_000_000;
        SplittableRandom pr = new SplittableRandom(sc.seed() * 131 + p);
        producers.add(Async.run(() -> {
          List<CompletableFuture<String>> mine = new ArrayList<>();
          try {
            for (long i = base; i < base + sc.itemsPerProducer(); i++) {
              Item item = new Item(i, (int) (i % sc.keys()));
              // Now and then the same object twice: its two submissions keep their own answers.
              for (int times = pr.nextInt(15) == 0 ? 2 : 1; times > 0; times--) {
                CompletableFuture<String> f = buffer.submit(item);
                futures.add(new Submission(item, f));
                mine.add(f);
              }
              if (submitted.incrementAndGet() == sc.closeAfter()) {
                closeNow.countDown();
              }
              if (pr.nextInt(40) == 0) {
                List<CompletableFuture<String>> before = List.copyOf(mine);
                mine.clear();
                flushChecks.add(buffer.flush().handle((v, e) -> {
                  for (CompletableFuture<String> g : before) {
                    if (!g.isDone()) {
                      violations.add("flush() completed before a future submitted ahead of it");
                    }
                  }
                  return null;
                }));
              }
            }
          } catch (IllegalStateException closed) {
            // racing close(): this item was not accepted
          }
        }));
      }
      CompletableFuture<Void> all = CompletableFuture.allOf(
          producers.toArray(new CompletableFuture<?>[0]));
      var unused = all.whenComplete((v, e) -> closeNow.countDown());
      assertThat(closeNow.await(SETTLE.toSeconds(), TimeUnit.SECONDS)).as("close is due").isTrue();
      // A little later on the clock (a flush may be hanging meanwhile), close.
      clock.sleep(closeNow, roll(10), false);
      CloseResult<Item> result;
      if (sc.closeMillis() >= 0) {
        result = buffer.close(Duration.ofMillis(sc.closeMillis()));
      } else {
        buffer.close();
        result = new CloseResult<>(true, List.of(), false);
      }
      all.get(SETTLE.toSeconds(), TimeUnit.SECONDS);
      settle(buffer, futures, flushChecks, result);
    }

    void settle(ResultBuffer<Item, String> buffer, Queue<Submission> futures,
        Queue<CompletableFuture<Void>> flushChecks, CloseResult<Item> result) throws Exception {
      // Per submission: the answer, or the DeliveryException.
      List<Map.Entry<Item, Object>> outcome = new ArrayList<>();
      Map<Long, Integer> submissions = new HashMap<>();
      for (Submission e : futures) {
        submissions.merge(e.item().id, 1, Integer::sum);
        try {
          outcome.add(Map.entry(e.item(), e.future().get(SETTLE.toSeconds(), TimeUnit.SECONDS)));
        } catch (ExecutionException ex) {
          Throwable cause = Objects.requireNonNull(ex.getCause());
          assertThat(cause).as("%s's failure", e.item()).isInstanceOf(DeliveryException.class);
          outcome.add(Map.entry(e.item(), cause));
        } catch (TimeoutException ex) {
          throw new AssertionError(e.item() + "'s future never completed", ex);
        }
      }
      for (CompletableFuture<Void> check : flushChecks) {
        check.get(SETTLE.toSeconds(), TimeUnit.SECONDS);
      }
      // Abandoned calls and late completers end on the clock; wait for the backend to be idle.
      await().atMost(SETTLE).until(() -> active.get() == 0);
      assertThat(violations).isEmpty();

      List<Long> undelivered = new ArrayList<>();
      for (Item item : result.undelivered()) {
        undelivered.add(item.id);
      }
      Map<Long, Integer> places = new HashMap<>();
      for (Queue<Long> q : List.of(failed, rejected)) {
        for (long id : q) {
          places.merge(id, 1, Integer::sum);
        }
      }
      for (long id : undelivered) {
        places.merge(id, 1, Integer::sum);
      }
      long answered = 0;
      long failedFutures = 0;
      long rejectedFutures = 0;
      long undeliveredFutures = 0;
      for (Map.Entry<Item, Object> e : outcome) {
        Item item = e.getKey();
        Object o = e.getValue();
        if (o instanceof String v) {
          answered++;
          places.merge(item.id, 1, Integer::sum);
          assertThat(v).as("%s's answer names its item", item).startsWith(item.id + "#");
          assertThat(okAnswers.getOrDefault(item.id, Set.of()))
              .as("%s's answer %s is one a call that returned normally gave it", item, v)
              .contains(v);
          continue;
        }
        DeliveryException d = (DeliveryException) o;
        switch (d.reason()) {
          case FAILED -> {
            failedFutures++;
            assertThat(failed).as("%s failed: it reached onFlushError", item).contains(item.id);
            Throwable cause = d.getCause();
            String message = cause == null ? null : cause.getMessage();
            if (message != null && message.startsWith("fail ")) {
              assertThat(message).as("%s's own failure names its item", item)
                  .startsWith("fail " + item.id + "#");
              assertThat(ownFailures.getOrDefault(item.id, Set.of())).contains(message);
            }
          }
          case REJECTED -> {
            rejectedFutures++;
            assertThat(rejected).as("%s rejected: it reached onReject", item).contains(item.id);
          }
          case UNDELIVERED -> {
            undeliveredFutures++;
            assertThat(undelivered).as("%s undelivered: close(timeout) returned it", item)
                .contains(item.id);
          }
          case EXPIRED -> throw new AssertionError(item + " expired with no deliveryTimeout set");
          case KEY_PAUSED -> throw new AssertionError(item + " failed as KEY_PAUSED, but no key "
              + "pauses here", d);
        }
      }
      assertThat(places).as("each submission of an item is in exactly one place")
          .isEqualTo(submissions);
      if (!sc.timeout()) {
        for (Map.Entry<Long, Set<String>> e : okAnswers.entrySet()) {
          assertThat(e.getValue()).as("item%s answered with success by one call per submission",
              e.getKey()).hasSizeLessThanOrEqualTo(submissions.getOrDefault(e.getKey(), 0));
        }
      }
      BufferStats s = buffer.stats();
      assertThat(s.state()).isEqualTo(BufferStats.State.CLOSED);
      assertThat(s.accepted()).isEqualTo(futures.size());
      assertThat(s.flushed()).isEqualTo(answered);
      assertThat(s.failed()).isEqualTo(failedFutures).isEqualTo(failed.size());
      assertThat(s.rejected()).isEqualTo(rejectedFutures).isEqualTo(rejected.size());
      assertThat(s.undelivered()).isEqualTo(undeliveredFutures).isEqualTo(undelivered.size());
      assertThat(s.accepted()).as("accounting identity")
          .isEqualTo(s.flushed() + s.failed() + s.rejected() + s.undelivered());
    }
  }
}
