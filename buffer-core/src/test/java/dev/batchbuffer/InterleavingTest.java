package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.StressOptions;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Interleavings of {@code add}, {@code offer}, {@code submit}, {@code flush()}, {@code close()} and
 * {@code close(Duration)}, run by Lincheck on real threads (stress mode) against a {@link Buffer}
 * and a {@link KeyedBuffer}, each with one flush at a time and with three, on a channel of one item
 * so that producers block. Each invocation is a fresh buffer, a few operations before, three threads
 * of three operations at once, and a few after; it proves:
 *
 * <ul>
 *   <li>admission is linearizable against the specification "open until a close starts" ({@link
 *       Admission}): each call returns whether the buffer was still open to it, so once any close
 *       has returned, every call is refused, and a call that started before it may go either way;
 *   <li>no item is lost, flushed twice, or both refused and flushed: each call's own answer
 *       (accepted, refused because full, refused because closed) is compared after the last close
 *       with what the flush function received, and {@link Ledger}'s identity holds;
 *   <li>{@code close()} and {@code close(Duration)} (which must say drained) return only after the
 *       flush of every accepted item has returned, and the future of {@code flush()} completes
 *       only after the flush of every item accepted before the call; the flush function and the
 *       calls stamp their ends on one counter, and the stamps are compared;
 *   <li>every future of {@code submit} that was accepted completes normally by the time close
 *       returns, and no call hangs (Lincheck fails an invocation that does not finish).
 * </ul>
 *
 * <p>Stress mode, not model checking: Lincheck's model checker (3.7) runs only the threads it starts
 * and does not follow the loop's virtual thread. With it, even {@code offer} against {@code close}
 * alone fails as "Non-determinism found": the first run of a scenario hangs in {@code close()}
 * (the loop it waits for is outside the checker's schedule), its replay does not, and the trace
 * shows {@code Thread.start()} of the loop with none of the loop's steps.
 *
 * <p>Not jcstress: its harness runs a few non-blocking actors on shared fields millions of times
 * and sorts the outcomes, which suits a memory-model race in a few lines; these properties are
 * about whole histories (blocking producers, a close that drains, a check after it) on a fresh
 * buffer each time, which a Lincheck invocation is, and the re-entrant calls are made directly by
 * {@link InterleavingFromCallbacksTest}.
 *
 * <p>Lincheck draws its scenarios from a fixed seed, so a run is repeatable up to the machine's
 * interleaving, and a failure prints the scenario and every call's result. The default build runs
 * {@value #DEFAULT_SCENARIOS} scenarios of {@value #DEFAULT_INVOCATIONS} invocations per shape;
 * {@code -Dbatchbuffer.lincheckScenarios=N} and {@code -Dbatchbuffer.lincheckInvocations=N} raise
 * them for a long run.
 */
@Order(1) // first in the suite: see junit-platform.properties
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class InterleavingTest {
  static final int DEFAULT_SCENARIOS = 10;
  static final int DEFAULT_INVOCATIONS = 100;
  static final int SCENARIOS = Integer.getInteger("batchbuffer.lincheckScenarios",
      DEFAULT_SCENARIOS);
  static final int INVOCATIONS = Integer.getInteger("batchbuffer.lincheckInvocations",
      DEFAULT_INVOCATIONS);
  /** An invocation takes about a millisecond; one that has not finished in this long hangs. */
  static final long HANG_MILLIS = 5_000;

  /** What the runs of each shape did, summed over its invocations: proof that the races happened. */
  static final Map<String, Map<String, LongAdder>> SEEN = new ConcurrentHashMap<>();

  static Stream<Class<? extends Scenario>> shapes() {
    return Stream.of(PlainOneFlushAtATime.class, PlainThreeFlushesAtOnce.class,
        KeyedOneFlushAtATime.class, KeyedThreeFlushesAtOnce.class);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("shapes")
  void admissionIsLinearizableAndEveryAcceptedItemIsFlushedOnceBeforeCloseReturns(
      Class<? extends Scenario> shape) {
    new Stress()
        .iterations(SCENARIOS)
        .invocationsPerIteration(INVOCATIONS)
        .threads(3)
        .actorsPerThread(3)
        .actorsBefore(2)
        .actorsAfter(2)
        .sequentialSpecification(Admission.class)
        .check(shape);
    Map<String, LongAdder> seen = SEEN.getOrDefault(shape.getSimpleName(), Map.of());
    System.out.printf("%s: %s%n", shape.getSimpleName(), seen);
    // The runs must have raced what this test is about, or its passing means little.
    assertThat(seen).as("what the runs of %s did", shape.getSimpleName())
        .containsKeys("accepted", "refused because full", "refused because closed",
            "producer blocked", "flush() waited");
  }

  /** Lincheck's stress mode, with a hang reported after 5 s instead of its default 30 s. */
  static final class Stress extends StressOptions {
    Stress() {
      setTimeoutMs(HANG_MILLIS);
    }
  }

  /**
   * The sequential specification: every call is answered "open" until a close; the interleaving
   * decides only which calls came before it.
   */
  public static final class Admission {
    private boolean closed;

    public Admission() {}

    public boolean add() {
      return !closed;
    }

    public boolean offer() {
      return !closed;
    }

    public boolean submit() {
      return !closed;
    }

    public boolean flush() {
      return !closed;
    }

    public void close() {
      closed = true;
    }

    public void closeWithin() {
      closed = true;
    }
  }

  /**
   * One invocation: a fresh buffer, the calls Lincheck makes on it, and what each call and the
   * flush function saw. Items are numbered in call order; every call returns whether the buffer
   * was open to it, the rest goes into the ledgers checked by {@link #settled()}.
   */
  public abstract static class Scenario {
    /** One counter for every end: a flush's, an acceptance's, a close's. */
    private final AtomicLong stamps = new AtomicLong();
    private final AtomicInteger ids = new AtomicInteger();
    private final Ledger<Integer> ledger = new Ledger<>();
    /** Item -> stamp taken after its add/offer/submit returned it accepted. */
    private final Map<Integer, Long> accepted = new ConcurrentHashMap<>();
    private final Set<Integer> refused = ConcurrentHashMap.newKeySet();
    /** Item -> stamp taken at the end of the flush function call that received it. */
    private final Map<Integer, Long> flushedAt = new ConcurrentHashMap<>();
    private final Map<Integer, CompletableFuture<Void>> futures = new ConcurrentHashMap<>();
    /** Stamps taken after each close() or drained close(Duration) returned. */
    private final Queue<Long> closeReturns = new ConcurrentLinkedQueue<>();
    private final Queue<String> violations = new ConcurrentLinkedQueue<>();
    private final String shape = getClass().getSimpleName();
    private final BufferFace<Integer> target;

    Scenario(boolean keyed, int maxInFlight) {
      BufferListener<Integer> listener = new BufferListener<>() {
        @Override
        public void producerBlocked(String buffer) {
          seen("producer blocked");
        }
      };
      this.target = InterleavingTarget.start(
          InterleavingTarget.Shape.of(keyed, maxInFlight, 2, 1, Duration.ofMillis(1))
              .with(TimeSource.system(), listener, null, false),
          this::flush);
    }

    private void seen(String what) {
      SEEN.computeIfAbsent(shape, s -> new ConcurrentHashMap<>())
          .computeIfAbsent(what, w -> new LongAdder()).increment();
    }

    /** The flush function: records the batch, takes a little while, stamps its end. */
    private void flush(List<Integer> batch) {
      ledger.flushed.flush(batch);
      LockSupport.parkNanos(20_000); // a backend call: long enough for producers to fill the channel
      long end = stamps.incrementAndGet();
      for (Integer item : batch) {
        flushedAt.put(item, end);
      }
    }

    private void accept(int item) {
      ledger.accepted.incrementAndGet();
      accepted.put(item, stamps.incrementAndGet());
      seen("accepted");
    }

    private boolean refuse(int item, boolean closed) {
      refused.add(item);
      seen(closed ? "refused because closed" : "refused because full");
      return !closed;
    }

    @Operation(blocking = true)
    public boolean add() throws InterruptedException {
      int item = ids.incrementAndGet();
      try {
        target.add(item);
      } catch (IllegalStateException e) {
        return refuse(item, true);
      }
      accept(item);
      return true;
    }

    @Operation
    public boolean offer() {
      int item = ids.incrementAndGet();
      boolean added;
      try {
        added = target.offer(item);
      } catch (IllegalStateException e) {
        return refuse(item, true);
      }
      if (!added) {
        return refuse(item, false);
      }
      accept(item);
      return true;
    }

    @Operation(blocking = true)
    public boolean submit() throws InterruptedException {
      int item = ids.incrementAndGet();
      CompletableFuture<Void> future;
      try {
        future = target.submit(item);
      } catch (IllegalStateException e) {
        return refuse(item, true);
      }
      futures.put(item, future);
      accept(item);
      return true;
    }

    @Operation(blocking = true)
    public boolean flush() throws InterruptedException {
      long called = stamps.incrementAndGet();
      CompletableFuture<Void> done;
      try {
        done = target.flush();
      } catch (IllegalStateException e) {
        return false;
      }
      try {
        done.get(10, TimeUnit.SECONDS);
      } catch (ExecutionException | TimeoutException e) {
        violations.add("flush() did not complete normally: " + e);
        return true;
      }
      long returned = stamps.incrementAndGet();
      seen("flush() waited");
      accepted.forEach((item, at) -> {
        Long end = flushedAt.get(item);
        if (at < called && (end == null || end > returned)) {
          violations.add("flush() completed before the flush of item " + item
              + ", accepted before the call, returned");
        }
      });
      return true;
    }

    @Operation(blocking = true, runOnce = true)
    public void close() {
      target.close();
      closeReturns.add(stamps.incrementAndGet());
    }

    @Operation(blocking = true, runOnce = true)
    public void closeWithin() {
      CloseResult<Integer> result = target.close(Duration.ofSeconds(10));
      long returned = stamps.incrementAndGet();
      if (result.drained()) {
        closeReturns.add(returned);
      } else {
        violations.add("close(10 s) did not drain: " + result);
      }
    }

    /** After every invocation: closes (once more) and compares every call's answer with the flushes. */
    @Validate
    public void settled() {
      target.close();
      closeReturns.add(stamps.incrementAndGet());
      List<String> problems = new ArrayList<>(violations);
      Set<Integer> received = new HashSet<>();
      for (Integer item : ledger.flushed.items()) {
        if (!received.add(item)) {
          problems.add("item " + item + " was flushed twice");
        }
        if (refused.contains(item)) {
          problems.add("item " + item + " was refused and flushed");
        } else if (!accepted.containsKey(item)) {
          problems.add("item " + item + " was flushed but its call had not returned");
        }
      }
      accepted.forEach((item, at) -> {
        if (!received.contains(item)) {
          problems.add("item " + item + " was accepted and never flushed");
          return;
        }
        long end = flushedAt.getOrDefault(item, Long.MAX_VALUE);
        for (long closed : closeReturns) {
          if (end > closed) {
            problems.add("a close returned before the flush of accepted item " + item
                + " returned");
          }
        }
        CompletableFuture<Void> future = futures.get(item);
        if (future != null && (!future.isDone() || future.isCompletedExceptionally())) {
          problems.add("the future of item " + item + " is " + future + " after close");
        }
      });
      if (ledger.failed.size() + ledger.rejected.size() > 0) {
        problems.add("items failed " + ledger.failed + " or were rejected " + ledger.rejected);
      }
      if (problems.isEmpty()) {
        ledger.assertBalanced();
        return;
      }
      throw new AssertionError(shape + ": " + String.join("\n", problems)
          + "\naccepted " + accepted.keySet() + ", refused " + refused + ", batches "
          + ledger.flushed.batches());
    }
  }

  /** A {@code Buffer} whose flushes run on the loop, one at a time. */
  public static final class PlainOneFlushAtATime extends Scenario {
    public PlainOneFlushAtATime() {
      super(false, 1);
    }
  }

  /** A {@code Buffer} with up to three flushes at once, each on a thread of its own. */
  public static final class PlainThreeFlushesAtOnce extends Scenario {
    public PlainThreeFlushesAtOnce() {
      super(false, 3);
    }
  }

  /** A {@code KeyedBuffer} of two keys, one flush at a time. */
  public static final class KeyedOneFlushAtATime extends Scenario {
    public KeyedOneFlushAtATime() {
      super(true, 1);
    }
  }

  /** A {@code KeyedBuffer} of two keys with up to three flushes at once. */
  public static final class KeyedThreeFlushesAtOnce extends Scenario {
    public KeyedThreeFlushesAtOnce() {
      super(true, 3);
    }
  }
}
