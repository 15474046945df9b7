package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.Faults.Backend;
import dev.batchbuffer.Faults.Call;
import dev.batchbuffer.Faults.Fault;
import dev.batchbuffer.Faults.Item;
import dev.batchbuffer.Faults.Middleware;
import dev.batchbuffer.Faults.Outcomes;
import dev.batchbuffer.Faults.Setup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Faults injected into every place a buffer calls out or waits, for plain and keyed buffers, with
 * one and several flushes in flight, bare and behind retry, timeout and circuit-breaker middleware:
 * flushes that throw checked and unchecked exceptions and Errors, fail some items (or name an index
 * outside their batch), hang until interrupted, or are slow; callbacks that throw (onReject,
 * onFlushError, every listener method, the weigher, canAdd, the key function, periodic tasks);
 * producers interrupted while they wait for a channel slot or for bytes; and a flood of producers
 * against a slow, failing flush under a byte bound. Each test proves that every accepted item ends
 * in exactly one reported place (delivered, onFlushError, onReject, undelivered) with its future
 * and {@code stats()} agreeing, that nothing refused to its producer got in, and that the buffer
 * serves normally once the fault is over. The single-callback cases at {@code maxInFlight = 1} are
 * in {@link CallbackFailureTest}, {@link CallbackGuardTest} and {@link ListenerTest}; fatal errors
 * in {@link FatalStopTest} and {@link AdversarialTest}.
 *
 * <p>Randomized tests draw from {@code -Dbatchbuffer.seed} if set, else from a fresh seed; a
 * failure message names the seed to replay.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FaultInjectionTest {
  static final Duration WAIT = Duration.ofSeconds(10);
  static final Duration HOURS = Duration.ofHours(1);
  /** The longest a healthy item may take once the fault is over, generous for a shared machine. */
  static final Duration NORMAL_LATENCY = Duration.ofSeconds(2);

  static long seed() {
    Long given = Long.getLong("batchbuffer.seed");
    return given != null ? given : ThreadLocalRandom.current().nextLong();
  }

  /** Runs {@code body} with {@code seed}, naming the seed in any failure. */
  static void withSeed(long seed, String what, ThrowingConsumer<SplittableRandom> body)
      throws Exception {
    try {
      body.accept(new SplittableRandom(seed));
    } catch (Exception | AssertionError e) {
      throw new AssertionError(what + " failed with seed " + seed
          + " (replay: -Dbatchbuffer.seed=" + seed + "): " + e, e);
    }
  }

  interface ThrowingConsumer<T> {
    void accept(T t) throws Exception;
  }

  /** Starts producers on virtual threads; {@link #join} rethrows what any of them threw. */
  static final class Producers {
    final List<Thread> threads = new ArrayList<>();
    final Queue<Throwable> errors = new ConcurrentLinkedQueue<>();

    void start(String name, ThrowingRunnable body) {
      threads.add(Thread.ofVirtual().name(name).start(() -> {
        try {
          body.run();
        } catch (Throwable t) {
          errors.add(t);
        }
      }));
    }

    void join() throws InterruptedException {
      for (Thread t : threads) {
        assertThat(t.join(Duration.ofSeconds(40))).as("%s finished", t.getName()).isTrue();
      }
      if (!errors.isEmpty()) {
        AssertionError e = new AssertionError(errors.size() + " producers failed");
        errors.forEach(e::addSuppressed);
        throw e;
      }
    }
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  /**
   * Ends the fault phase, then proves the buffer serves normally: each of {@code n} new items,
   * followed by {@code flush()}, is delivered within {@link #NORMAL_LATENCY}.
   *
   * @return the longest latency seen, in ms
   */
  static long healthyPhase(BufferFace<Item> buffer, Backend backend, Outcomes out, int producer, int n)
      throws Exception {
    backend.healthy = true;
    long worst = 0;
    for (int i = 0; i < n; i++) {
      Item item = new Item(producer, i, Fault.NONE, 8);
      long start = System.nanoTime();
      CompletableFuture<Void> f = buffer.submit(item);
      out.accepted.add(item.id());
      out.futures.put(item.id(), f);
      out.flushes.add(buffer.flush());
      assertThat(f).as("healthy item %s", item).succeedsWithin(NORMAL_LATENCY);
      worst = Math.max(worst, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }
    return worst;
  }

  /** Closes, waits for every flush to be settled, and checks where every item went. */
  static void closeAndCheck(BufferFace<Item> buffer, Backend backend, Outcomes out, String context)
      throws Exception {
    CloseResult<Item> result = buffer.close(WAIT);
    out.undelivered(result.undelivered());
    assertThat(out.closed.await(10, TimeUnit.SECONDS)).as("the loop ended").isTrue();
    await().atMost(WAIT).until(() -> buffer.stats().itemsFlushing() == 0);
    assertThat(result.drained()).as("drained, %s", result).isTrue();
    Faults.requireNoViolations(out.violations(backend, buffer.stats()), context);
  }

  // ---- every flush fault, every buffer shape, every middleware ---------------------------------

  static Stream<Arguments> shapes() {
    List<Arguments> out = new ArrayList<>();
    for (boolean keyed : new boolean[] {false, true}) {
      for (int maxInFlight : new int[] {1, 3}) {
        for (Middleware m : Middleware.values()) {
          out.add(Arguments.of(keyed, maxInFlight, m));
        }
      }
    }
    return out.stream();
  }

  /** Mostly healthy items; the others carry one flush fault each (a hang only if a timeout cuts it). */
  static Function<SplittableRandom, Fault> flushFaults(boolean hangs) {
    return r -> {
      int roll = r.nextInt(100);
      if (roll < 60) {
        return Fault.NONE;
      }
      if (roll == 99) {
        return hangs ? Fault.HANG : Fault.SLOW;
      }
      List<Fault> kinds = Fault.OF_FLUSH.subList(0, Fault.OF_FLUSH.size() - 1); // not HANG
      return kinds.get(roll % kinds.size());
    };
  }

  @ParameterizedTest(name = "keyed={0} maxInFlight={1} {2}")
  @MethodSource("shapes")
  void everyFlushFaultIsReportedOnceForEachItemAndTheBufferServesAfterIt(boolean keyed,
      int maxInFlight, Middleware middleware) throws Exception {
    withSeed(seed(), "keyed=" + keyed + " maxInFlight=" + maxInFlight + " " + middleware, r -> {
      Setup setup = new Setup(keyed, maxInFlight, 1 + r.nextInt(8), 16, false, 0,
          Duration.ofMillis(2), middleware, true, false, 8);
      Backend backend = new Backend(Duration.ofMillis(1));
      Outcomes out = new Outcomes();
      BufferFace<Item> buffer = Faults.start(setup, backend, out);
      Producers producers = new Producers();
      for (int p = 0; p < 4; p++) {
        int id = p;
        long s = r.nextLong();
        producers.start("producer-" + p, () -> Faults.produce(buffer, out, id, 150,
            new SplittableRandom(s), flushFaults(middleware.times()), 8));
      }
      producers.join();
      long worst = healthyPhase(buffer, backend, out, 99, 10);
      closeAndCheck(buffer, backend, out, setup.toString());
      assertThat(backend.injected).as("faults injected").isNotEmpty();
      assertThat(out.failed).as("items that failed for good").isNotEmpty();
      assertThat(worst).as("ms for a healthy item after the faults").isLessThan(
          NORMAL_LATENCY.toMillis());
    });
  }

  /**
   * An Error other than a VirtualMachineError thrown by a flush on its own thread reaches
   * onFlushError wrapped in an ExecutionException, fails its items' futures, and the next batch
   * is flushed as usual.
   */
  @ParameterizedTest(name = "keyed={0}")
  @MethodSource("bothKinds")
  void anErrorThrownByAFlushOffTheLoopArrivesWrappedAndTheNextBatchIsFlushed(boolean keyed)
      throws Exception {
    Backend backend = new Backend(Duration.ZERO);
    Outcomes out = new Outcomes();
    BufferFace<Item> buffer = Faults.start(new Setup(keyed, 3, 2, 16, false, 0, HOURS, Middleware.RETRY, true,
        false, 8), backend, out);
    Item bad = new Item(0, 0, Fault.ERROR, 8);
    Item mate = new Item(0, 1, Fault.NONE, 8);
    CompletableFuture<Void> badFuture = buffer.submit(bad);
    CompletableFuture<Void> mateFuture = buffer.submit(mate);
    out.accepted.add(bad.id());
    out.accepted.add(mate.id());
    out.futures.put(bad.id(), badFuture);
    out.futures.put(mate.id(), mateFuture);
    CompletableFuture<Void> flushed = buffer.flush();
    assertThatThrownBy(() -> flushed.get(10, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class).cause().isInstanceOf(DeliveryException.class);
    assertThat(out.flushErrors).singleElement().satisfies(e -> assertThat(e)
        .isInstanceOf(ExecutionException.class).cause().isInstanceOf(AssertionError.class)
        .hasMessage("injected: an Error from the flush"));
    assertThat(backend.injected.get(Fault.ERROR)).as("the retry does not retry an Error")
        .hasValue(1);
    long worst = healthyPhase(buffer, backend, out, 1, 3);
    assertThat(worst).isLessThan(NORMAL_LATENCY.toMillis());
    closeAndCheck(buffer, backend, out, "error off the loop");
    assertThat(out.failed).containsExactlyInAnyOrder(bad.id(), mate.id());
  }

  static Stream<Arguments> bothKinds() {
    return Stream.of(Arguments.of(false), Arguments.of(true));
  }

  static Stream<Arguments> bothKindsAndInFlight() {
    return Stream.of(Arguments.of(false, 1), Arguments.of(false, 3), Arguments.of(true, 1),
        Arguments.of(true, 3));
  }

  /**
   * A PartialFlushException that names an index outside its batch cannot say which items failed:
   * the whole batch counts as failed and goes to onFlushError, with or without a retry in front.
   */
  @ParameterizedTest(name = "keyed={0} maxInFlight={1}")
  @MethodSource("bothKindsAndInFlight")
  void aPartialFailureNamingAnIndexOutsideItsBatchFailsTheWholeBatch(boolean keyed,
      int maxInFlight) throws Exception {
    for (Middleware middleware : List.of(Middleware.NONE, Middleware.RETRY)) {
      Backend backend = new Backend(Duration.ZERO);
      Outcomes out = new Outcomes();
      BufferFace<Item> buffer = Faults.start(new Setup(keyed, maxInFlight, 3, 16, false, 0, HOURS, middleware,
          true, false, 8), backend, out);
      List<Item> batch = List.of(new Item(0, 0, Fault.NONE, 8),
          new Item(0, 1, Fault.PARTIAL_OUT_OF_RANGE, 8), new Item(0, 2, Fault.NONE, 8));
      for (Item item : batch) {
        out.futures.put(item.id(), buffer.submit(item));
        out.accepted.add(item.id());
      }
      closeAndCheck(buffer, backend, out, "partial out of range, " + middleware);
      assertThat(out.failed).as(middleware.toString())
          .containsExactlyInAnyOrder(batch.stream().map(Item::id).toArray(Long[]::new));
      assertThat(backend.deliveredCount).hasValue(0);
    }
  }

  /**
   * A flush that hangs until it is interrupted, with no timeout in front: other keys' (and, with
   * several flushes in flight, other batches') flushes go on meanwhile, and close(timeout)
   * interrupts the hung call and hands its items back as undelivered, together with whatever
   * waited behind it, every future failing UNDELIVERED.
   */
  @ParameterizedTest(name = "keyed={0} maxInFlight={1}")
  @MethodSource("bothKindsAndInFlight")
  void aFlushHungUntilInterruptedIsCutByCloseWithTimeoutAndItsItemsComeBackUndelivered(
      boolean keyed, int maxInFlight) throws Exception {
    Backend backend = new Backend(Duration.ZERO);
    Outcomes out = new Outcomes();
    BufferFace<Item> buffer = Faults.start(new Setup(keyed, maxInFlight, 2, 16, false, 0, HOURS,
        Middleware.NONE, true, false, 8), backend, out);
    List<Item> hung = List.of(new Item(0, 0, Fault.HANG, 8), new Item(0, 1, Fault.NONE, 8));
    List<Item> others = List.of(new Item(1, 0, Fault.NONE, 8), new Item(1, 1, Fault.NONE, 8));
    for (Item item : hung) {
      out.futures.put(item.id(), buffer.submit(item));
      out.accepted.add(item.id());
    }
    assertThat(backend.entered.await(10, TimeUnit.SECONDS)).isTrue();
    for (Item item : others) {
      out.futures.put(item.id(), buffer.submit(item));
      out.accepted.add(item.id());
    }
    if (maxInFlight > 1) { // another key, or another slot: not held up by the hang
      for (Item item : others) {
        assertThat(out.futures.get(item.id())).succeedsWithin(WAIT);
      }
    }
    CloseResult<Item> result = buffer.close(Duration.ofMillis(200));
    out.undelivered(result.undelivered());
    assertThat(result.drained()).isFalse();
    assertThat(result.stillFlushing()).as("the hung call answered the interrupt").isFalse();
    assertThat(result.undelivered()).containsAll(hung);
    if (maxInFlight == 1) {
      assertThat(result.undelivered()).as("waited behind the hang").containsAll(others);
    }
    assertThat(out.closed.await(10, TimeUnit.SECONDS)).isTrue();
    Faults.requireNoViolations(out.violations(backend, buffer.stats()), "hung flush");
  }

  // ---- callbacks that throw --------------------------------------------------------------------

  /** Callback faults and a few flush faults. */
  static Fault callbackFault(SplittableRandom r) {
    int roll = r.nextInt(100);
    if (roll < 55) {
      return Fault.NONE;
    }
    if (roll < 85) {
      return Fault.OF_CALLBACKS.get(roll % Fault.OF_CALLBACKS.size());
    }
    return List.of(Fault.CHECKED, Fault.PARTIAL, Fault.TRANSIENT).get(roll % 3);
  }

  /**
   * onReject, onFlushError, every listener method and both kinds of periodic task throw after
   * they recorded what they heard; canAdd, the policy's weigher and the key function throw (or
   * refuse) for some items. Every item still ends in one reported place, the errors are counted,
   * and the buffer serves normally afterwards.
   */
  @ParameterizedTest(name = "keyed={0} maxInFlight={1}")
  @MethodSource("bothKindsAndInFlight")
  void whenEveryCallbackThrowsEachItemIsStillSettledOnceAndTheBufferGoesOn(boolean keyed,
      int maxInFlight) throws Exception {
    withSeed(seed(), "keyed=" + keyed + " maxInFlight=" + maxInFlight, r -> {
      Setup setup = new Setup(keyed, maxInFlight, 4, 8, false, 0, Duration.ofMillis(2),
          Middleware.RETRY, true, true, 8);
      Backend backend = new Backend(Duration.ZERO);
      Outcomes out = new Outcomes();
      BufferFace<Item> buffer = Faults.start(setup, backend, out);
      Producers producers = new Producers();
      for (int p = 0; p < 4; p++) {
        int id = p;
        long s = r.nextLong();
        producers.start("producer-" + p, () -> Faults.produce(buffer, out, id, 150,
            new SplittableRandom(s), FaultInjectionTest::callbackFault, 8));
      }
      producers.join();
      // The periodic tasks run every 5 ms on the system clock: wait for a failure of each kind.
      await().atMost(WAIT).until(() -> buffer.stats().hookErrors() >= 2);
      long worst = healthyPhase(buffer, backend, out, 99, 5);
      closeAndCheck(buffer, backend, out, setup.toString());
      BufferStats stats = buffer.stats();
      assertThat(out.rejected).as("rejected").isNotEmpty();
      assertThat(out.failed).as("failed").isNotEmpty();
      assertThat(stats.listenerErrors()).as("listener errors counted").isPositive();
      assertThat(worst).isLessThan(NORMAL_LATENCY.toMillis());
    });
  }

  /**
   * The listener hears a producer block and unblock on the producer's own thread; when those
   * methods throw, the producer must not pay for it: its add waits and succeeds as usual.
   */
  @ParameterizedTest(name = "keyed={0}")
  @MethodSource("bothKinds")
  void aListenerThatThrowsWhenAProducerBlocksCostsTheProducerNothing(boolean keyed)
      throws Exception {
    Backend backend = new Backend(Duration.ZERO);
    backend.hold = new CountDownLatch(1);
    Outcomes out = new Outcomes();
    BufferFace<Item> buffer = Faults.start(new Setup(keyed, 1, 1, 1, false, 0, HOURS, Middleware.NONE, true,
        true, 8), backend, out);
    Item held = new Item(0, 0, Fault.NONE, 8);
    Item filler = new Item(0, 1, Fault.NONE, 8);
    Item blocked = new Item(0, 2, Fault.NONE, 8);
    buffer.add(held);
    assertThat(backend.entered.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(buffer.offer(filler)).isTrue();
    long errorsBefore = buffer.stats().listenerErrors();
    Producers producers = new Producers();
    producers.start("blocked", () -> buffer.add(blocked));
    await().atMost(WAIT).until(() -> buffer.stats().producersBlocked() == 1);
    // The loop is held in the flush: the only listener call since is the producer's.
    assertThat(buffer.stats().listenerErrors() - errorsBefore)
        .as("producerBlocked threw and was counted").isEqualTo(1);
    backend.hold.countDown();
    producers.join(); // rethrows whatever reached the producer
    out.accepted.addAll(List.of(held.id(), filler.id(), blocked.id()));
    closeAndCheck(buffer, backend, out, "throwing producer events");
    assertThat(backend.delivered).containsKey(blocked.id());
  }

  // ---- producers interrupted while they wait ---------------------------------------------------

  /** What a blocked producer waits for. */
  enum Bound { CHANNEL_SLOT, BYTES }

  static Stream<Arguments> blockedProducers() {
    List<Arguments> out = new ArrayList<>();
    for (boolean keyed : new boolean[] {false, true}) {
      for (Bound bound : Bound.values()) {
        for (Call call : List.of(Call.ADD, Call.SUBMIT, Call.TIMED_OFFER)) {
          out.add(Arguments.of(keyed, bound, call));
        }
      }
    }
    return out.stream();
  }

  /**
   * A producer interrupted while it waits for a channel slot or for bytes under the memory bound
   * is told so by an InterruptedException, and the item is not half in: not counted as accepted,
   * never flushed, no slot and no byte kept for it (once the held flush is settled, an item as
   * heavy as the whole bound gets in at once), the producer no longer counted as blocked.
   */
  @ParameterizedTest(name = "keyed={0} waits for {1} in {2}")
  @MethodSource("blockedProducers")
  void aProducerInterruptedWhileBlockedIsToldAndItsItemLeavesNoTrace(boolean keyed, Bound bound,
      Call call) throws Exception {
    boolean bytes = bound == Bound.BYTES;
    Backend backend = new Backend(Duration.ZERO);
    backend.hold = new CountDownLatch(1);
    Outcomes out = new Outcomes();
    // BYTES: a bound of 10 with a 6-byte item held in a flush (off the loop, maxInFlight 2);
    // CHANNEL_SLOT: one slot, taken, behind a flush held on the loop.
    BufferFace<Item> buffer = Faults.start(new Setup(keyed, bytes ? 2 : 1, 1, bytes ? 64 : 1, false,
        bytes ? 10 : 0, HOURS, Middleware.NONE, true, false, 6), backend, out);
    Item held = new Item(0, 0, Fault.NONE, 6);
    CompletableFuture<Void> heldFuture = buffer.submit(held);
    out.accepted.add(held.id());
    out.futures.put(held.id(), heldFuture);
    assertThat(backend.entered.await(10, TimeUnit.SECONDS)).isTrue();
    if (!bytes) {
      Item filler = new Item(0, 1, Fault.NONE, 6);
      assertThat(buffer.offer(filler)).isTrue();
      out.accepted.add(filler.id());
    }
    long acceptedBefore = buffer.stats().accepted();
    Item victim = new Item(1, 0, Fault.NONE, 6);
    Queue<Throwable> thrown = new ConcurrentLinkedQueue<>();
    AtomicBoolean stillInterrupted = new AtomicBoolean();
    Thread producer = Thread.ofVirtual().start(() -> {
      try {
        switch (call) {
          case ADD -> buffer.add(victim);
          case SUBMIT -> out.futures.put(victim.id(), buffer.submit(victim));
          default -> thrown.add(new AssertionError("offer returned " + buffer.offer(victim, HOURS)));
        }
      } catch (Throwable t) {
        thrown.add(t);
        stillInterrupted.set(Thread.currentThread().isInterrupted());
      }
    });
    await().atMost(WAIT).until(() -> buffer.stats().producersBlocked() == 1);
    producer.interrupt();
    assertThat(producer.join(WAIT)).isTrue();
    out.refused.add(victim.id());
    assertThat(thrown).singleElement().isInstanceOf(InterruptedException.class);
    assertThat(stillInterrupted).as("interrupt status after the throw").isFalse();
    assertThat(buffer.stats().producersBlocked()).isZero();
    assertThat(buffer.stats().accepted()).as("accepted").isEqualTo(acceptedBefore);
    backend.hold.countDown();
    assertThat(heldFuture).succeedsWithin(WAIT);
    CompletableFuture<Void> drained = buffer.flush();
    assertThat(drained).succeedsWithin(WAIT);
    Item whole = new Item(2, 0, Fault.NONE, bytes ? 10 : 6);
    assertThat(buffer.offer(whole)).as("room for a whole bound / the one slot").isTrue();
    out.accepted.add(whole.id());
    closeAndCheck(buffer, backend, out, "interrupted " + call + " waiting for " + bound);
  }

  /**
   * Producers add, submit and offer with timeouts under a small byte bound while another thread
   * interrupts them at random and a slow backend frees bytes: every call that returned put its
   * item in exactly one place, every call an interrupt ended left no trace, and no byte leaked
   * (afterwards an item as heavy as the whole bound gets in).
   */
  @ParameterizedTest(name = "keyed={0} maxInFlight={1}")
  @MethodSource("bothKindsAndInFlight")
  void interruptsRacingFreedBytesLeaveEachItemEitherSettledOnceOrRefused(boolean keyed,
      int maxInFlight) throws Exception {
    withSeed(seed(), "keyed=" + keyed + " maxInFlight=" + maxInFlight, r -> {
      long bound = 12;
      Setup setup = new Setup(keyed, maxInFlight, 3, 64, false, bound, Duration.ofMillis(1),
          Middleware.NONE, true, false, 3);
      Backend backend = new Backend(Duration.ofNanos(50_000));
      Outcomes out = new Outcomes();
      BufferFace<Item> buffer = Faults.start(setup, backend, out);
      Producers producers = new Producers();
      AtomicLong interrupted = new AtomicLong();
      for (int p = 0; p < 4; p++) {
        int id = p;
        long s = r.nextLong();
        producers.start("producer-" + p, () -> interrupted.addAndGet(Faults.produce(buffer, out,
            id, 800, new SplittableRandom(s),
            x -> x.nextInt(4) == 0 ? Fault.SLOW : Fault.NONE, 1 + id % 3)));
      }
      long s = r.nextLong();
      Thread interrupter = Thread.ofVirtual().start(() -> {
        SplittableRandom ir = new SplittableRandom(s);
        while (producers.threads.stream().anyMatch(Thread::isAlive)) {
          producers.threads.get(ir.nextInt(producers.threads.size())).interrupt();
          LockSupport.parkNanos(ir.nextInt(300_000)); // pacing of the interrupts
        }
      });
      producers.join();
      assertThat(interrupter.join(WAIT)).isTrue();
      CompletableFuture<Void> drained = buffer.flush();
      assertThat(drained).succeedsWithin(WAIT);
      Item whole = new Item(9, 0, Fault.NONE, (int) bound);
      assertThat(buffer.offer(whole)).as("no byte leaked: the whole bound is free").isTrue();
      out.accepted.add(whole.id());
      assertThat(buffer.stats().producersBlocked()).isZero();
      closeAndCheck(buffer, backend, out, setup.toString());
      assertThat(interrupted.get()).as("calls an interrupt ended").isPositive();
    });
  }

  /** The heap in use right after a full collection: what is retained. */
  static long heapAfterGc() {
    System.gc();
    Runtime rt = Runtime.getRuntime();
    return rt.totalMemory() - rt.freeMemory();
  }

  // ---- the flood -------------------------------------------------------------------------------

  static Stream<Arguments> floods() {
    return Stream.of(Arguments.of(false, 1, Middleware.NONE),
        Arguments.of(true, 4, Middleware.RETRY_TIMEOUT));
  }

  /**
   * 64 producers on virtual threads flood a buffer whose flush is slow and fails some batches,
   * with 64 KiB items under a 2 MiB byte bound and a channel that alone would hold 640 MiB. The
   * heap the flood retains (sampled after a GC) stays within the bound plus the items the
   * producers hold in hand plus a fixed slack, and each of the buffer's own byte gauges stays
   * within the bound; every item of every producer is delivered or reported; and once the fault
   * is over, new items get through with normal latency.
   */
  @ParameterizedTest(name = "keyed={0} maxInFlight={1} {2}")
  @MethodSource("floods")
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aFloodAgainstASlowFailingFlushStaysWithinTheByteBoundLosesNothingAndRecovers(
      boolean keyed, int maxInFlight, Middleware middleware) throws Exception {
    int producersCount = 64;
    int perProducer = 40;
    int itemBytes = 64 << 10;
    long bound = 2L << 20;
    withSeed(seed(), "flood keyed=" + keyed, r -> {
      Setup setup = new Setup(keyed, maxInFlight, 8, 10_000, true, bound, Duration.ofMillis(5),
          middleware, true, false, itemBytes);
      Backend backend = new Backend(Duration.ofMillis(2));
      Outcomes out = new Outcomes();
      long baseline = heapAfterGc();
      BufferFace<Item> buffer = Faults.start(setup, backend, out);
      AtomicLong peakHeap = new AtomicLong();
      AtomicLong peakGauges = new AtomicLong();
      AtomicBoolean flooding = new AtomicBoolean(true);
      Thread sampler = Thread.ofPlatform().name("heap-sampler").start(() -> {
        while (flooding.get()) {
          peakHeap.accumulateAndGet(heapAfterGc() - baseline, Math::max);
          // Each gauge on its own: bytesWaiting is published once per loop iteration, so for a
          // moment a batch that has just started flushing is in both.
          BufferStats stats = buffer.stats();
          peakGauges.accumulateAndGet(Math.max(stats.bytesWaiting(), stats.bytesFlushing()),
              Math::max);
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20)); // sampling period
        }
      });
      Producers producers = new Producers();
      for (int p = 0; p < producersCount; p++) {
        int id = p;
        long s = r.nextLong();
        producers.start("flooder-" + p, () -> {
          SplittableRandom pr = new SplittableRandom(s);
          for (int i = 0; i < perProducer; i++) {
            int roll = pr.nextInt(10);
            Fault fault = roll == 0 ? Fault.CHECKED : roll == 1 ? Fault.PARTIAL : Fault.SLOW;
            Item item = new Item(id, i, fault, itemBytes);
            if (pr.nextBoolean()) {
              out.futures.put(item.id(), buffer.submit(item));
            } else {
              buffer.add(item);
            }
            out.accepted.add(item.id());
          }
        });
      }
      try {
        producers.join();
      } finally {
        flooding.set(false);
        sampler.join();
      }
      long worst = healthyPhase(buffer, backend, out, 999, 10);
      closeAndCheck(buffer, backend, out, setup.toString());
      long heldByProducers = (long) producersCount * itemBytes;
      long slack = 24L << 20;
      System.out.printf("flood keyed=%s maxInFlight=%d %s: %d items of %d KiB, bound %d MiB:"
              + " peak heap retained %.1f MB, peak byte gauge %.1f MB, healthy latency %d ms"
              + ", failed %d, delivered %d%n", keyed, maxInFlight, middleware,
          producersCount * perProducer, itemBytes >> 10, bound >> 20, peakHeap.get() / 1e6,
          peakGauges.get() / 1e6, worst, out.failed.size(), backend.deliveredCount.get());
      assertThat(peakGauges.get()).as("bytes waiting, bytes flushing").isLessThanOrEqualTo(bound);
      assertThat(peakHeap.get()).as("heap retained by the flood")
          .isLessThan(bound + heldByProducers + slack);
      assertThat(out.failed).as("failed items reported").isNotEmpty();
      assertThat(worst).isLessThan(NORMAL_LATENCY.toMillis());
    });
  }
}
