package dev.batchbuffer.internal;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.Async;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.testing.ManualTimeSource;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The MPSC ring on its own, each behaviour deterministically: the exact bound, order and slot
 * reuse, the lazily published consumer index, weights, the lazy start of the consumer, which
 * arrival wakes a waiting consumer (count target, heavy element, close) and which does not, and
 * each way a producer's wait for room ends (room, deadline, interrupt, close) with its answer and
 * the count of blocked producers.
 *
 * <p>Most tests run on one thread with a {@link ScriptedClock}: the consumer's (or producer's) park
 * runs what "happens meanwhile" on the parking thread, and the bound consumer is a thread that is
 * never started by the test, so whether an arrival woke the consumer is read synchronously from
 * that thread's state (the first wake-up starts it). Blocking hand-offs between real threads use
 * the manual clock and bounded waits, so a broken wake-up fails within {@code WAIT}, never hangs.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ChannelTest {
  private final List<Channel<?>> opened = new ArrayList<>();

  /** Closes every channel of the test: a producer that a broken channel keeps looping ends. */
  @AfterEach
  void closeChannels() {
    opened.forEach(Channel::close);
  }

  private <E> Channel<E> track(Channel<E> ch) {
    opened.add(ch);
    return ch;
  }

  /**
   * A clock on which a park does not block: it records the call and runs the next scripted action
   * on the parking thread (what arrives while the caller waits), then returns as a wake-up would.
   * A park with nothing scripted fails the test instead of spinning.
   */
  static final class ScriptedClock implements TimeSource {
    long now = 1_000_000;
    final List<String> parks = new ArrayList<>();
    private final ArrayDeque<Runnable> script = new ArrayDeque<>();
    private final ArrayDeque<Runnable> reads = new ArrayDeque<>();

    void onPark(Runnable action) {
      script.add(action);
    }

    /** Runs {@code action} at the next reading of the time not claimed by an earlier one. */
    void onRead(Runnable action) {
      reads.add(action);
    }

    @Override
    public long nanoTime() {
      Runnable action = reads.poll();
      if (action != null) {
        action.run();
      }
      return now;
    }

    @Override
    public void park(Object blocker) {
      parks.add("park");
      next();
    }

    @Override
    public void parkNanos(Object blocker, long nanos) {
      parks.add("parkNanos " + nanos);
      next();
    }

    private void next() {
      Runnable action = script.poll();
      if (action == null) {
        throw new AssertionError("parked with nothing scripted to happen (parks: " + parks + ")");
      }
      action.run();
    }
  }

  /** A consumer thread the test never starts: the channel's first wake-up starts it. */
  private static Thread consumerThread() {
    return Thread.ofVirtual().name("consumer").unstarted(() -> {});
  }

  private static String state(Thread consumer) {
    return consumer.getState() == Thread.State.NEW ? "asleep" : "woken";
  }

  // ---- bound, order, slots ----

  @Test
  void boundIsExactEvenWhenNotAPowerOfTwo() {
    Channel<Integer> ch = new Channel<>(3, TimeSource.system());
    assertThat(ch.bound()).isEqualTo(3);
    assertThat(ch.tryOffer(1)).isEqualTo(Channel.OK);
    assertThat(ch.tryOffer(2)).isEqualTo(Channel.OK);
    assertThat(ch.tryOffer(3)).isEqualTo(Channel.OK);
    assertThat(ch.tryOffer(4)).isEqualTo(Channel.FULL);
    assertThat(ch.size()).isEqualTo(3);
    assertThat(ch.poll()).isEqualTo(1);
    assertThat(ch.tryOffer(4)).isEqualTo(Channel.OK);
    assertThat(List.of(ch.poll(), ch.poll(), ch.poll())).containsExactly(2, 3, 4);
    assertThat(ch.poll()).isNull();
    assertThat(ch.accepted()).isEqualTo(4);
    assertThat(ch.size()).isZero();
  }

  @Test
  void aBoundOfOneHoldsOneItemAtATime() {
    Channel<String> ch = new Channel<>(1, TimeSource.system());
    assertThat(ch.tryOffer("a")).isEqualTo(Channel.OK);
    assertThat(ch.tryOffer("b")).isEqualTo(Channel.FULL);
    assertThat(ch.poll()).isEqualTo("a");
    assertThat(ch.tryOffer("b")).isEqualTo(Channel.OK);
    assertThat(ch.poll()).isEqualTo("b");
  }

  @Test
  void boundOutOfRangeIsRejectedAndBothEndsOfTheRangeAreAllowed() {
    assertThatThrownBy(() -> new Channel<Integer>(0, TimeSource.system()))
        .hasMessage("bound must be in [1, 2^30] (was 0)");
    assertThatThrownBy(() -> new Channel<Integer>((1 << 30) + 1, TimeSource.system()))
        .hasMessage("bound must be in [1, 2^30] (was 1073741825)");
    assertThat(new Channel<Integer>(1, TimeSource.system()).bound()).isEqualTo(1);
    // The ring is made by the first use: a channel of the largest bound costs nothing until then.
    assertThat(new Channel<Integer>(1 << 30, TimeSource.system()).bound()).isEqualTo(1 << 30);
  }

  @Test
  void aChannelNeverUsedReportsEmptyOpenAndUnweighted() {
    Channel<String> ch = new Channel<>(4, true, false, TimeSource.system());
    assertThat(ch.size()).isZero();
    assertThat(ch.accepted()).isZero();
    assertThat(ch.blockedProducers()).isZero();
    assertThat(ch.isClosed()).isFalse();
    assertThat(ch.lastWeight()).isZero();
    assertThat(ch.poll()).isNull(); // makes the ring, with nothing in it
    assertThat(ch.isClosed()).isFalse();
    assertThat(ch.size()).isZero();
  }

  @Test
  void closedChannelRefusesOffersAndKeepsWhatItHolds() {
    Channel<Integer> ch = new Channel<>(4, TimeSource.system());
    ch.tryOffer(1);
    assertThat(ch.close()).isTrue();
    assertThat(ch.close()).as("second close").isFalse();
    assertThat(ch.isClosed()).isTrue();
    assertThat(ch.tryOffer(2)).isEqualTo(Channel.CLOSED);
    assertThat(ch.accepted()).isEqualTo(1);
    assertThat(ch.size()).isEqualTo(1);
    assertThat(ch.poll()).isEqualTo(1);
    assertThat(ch.poll()).isNull();
  }

  @Test
  void closingAChannelThatNeverTookAnItemIsTheFirstClose() throws Exception {
    Channel<String> ch = new Channel<>(4, TimeSource.system());
    assertThat(ch.close()).isTrue();
    assertThat(ch.isClosed()).isTrue();
    assertThat(ch.tryOffer("a")).isEqualTo(Channel.CLOSED);
    assertThat(ch.put("a", 0L, false, 0)).isEqualTo(Channel.CLOSED);
    assertThat(ch.accepted()).isZero();
    assertThat(ch.poll()).isNull();
  }

  @Test
  void anEmptiedSlotIsNotReadAgainAfterTheRingWraps() {
    Channel<String> ch = new Channel<>(2, TimeSource.system());
    ch.tryOffer("a");
    ch.tryOffer("b");
    assertThat(ch.poll()).isEqualTo("a");
    assertThat(ch.poll()).isEqualTo("b");
    assertThat(ch.poll()).as("slot 0 again, emptied").isNull();
    ch.tryOffer("c");
    assertThat(ch.poll()).isEqualTo("c");
    assertThat(ch.poll()).isNull();
  }

  @Test
  void anEmptyPollDoesNotMoveTheConsumerOn() {
    Channel<String> ch = new Channel<>(4, TimeSource.system());
    assertThat(ch.poll()).isNull();
    assertThat(ch.poll()).isNull();
    ch.tryOffer("a");
    assertThat(ch.poll()).isEqualTo("a");
  }

  @Test
  void theConsumerIndexIsPublishedEveryFewPollsSoProducersSeeRoomLate() {
    // bound 16: published every 16 / 8 = 2 polls
    Channel<Integer> ch = new Channel<>(16, TimeSource.system());
    for (int i = 0; i < 16; i++) {
      ch.tryOffer(i);
    }
    assertThat(ch.poll()).isEqualTo(0);
    assertThat(ch.tryOffer(16)).as("one poll: not yet published").isEqualTo(Channel.FULL);
    assertThat(ch.size()).isEqualTo(16);
    assertThat(ch.poll()).isEqualTo(1);
    assertThat(ch.size()).as("two polls: published").isEqualTo(14);
    assertThat(ch.tryOffer(16)).isEqualTo(Channel.OK);
    assertThat(ch.size()).isEqualTo(15);
    assertThat(ch.poll()).isEqualTo(2);
    assertThat(ch.size()).as("the third poll is not published on its own").isEqualTo(15);
    assertThat(ch.poll()).isEqualTo(3);
    assertThat(ch.size()).isEqualTo(13);
  }

  @Test
  void releaseSlotsPublishesWhatThePollsEmptied() {
    Channel<Integer> ch = new Channel<>(16, TimeSource.system());
    for (int i = 0; i < 16; i++) {
      ch.tryOffer(i);
    }
    ch.releaseSlots();
    assertThat(ch.size()).as("nothing emptied yet").isEqualTo(16);
    assertThat(ch.poll()).isEqualTo(0);
    assertThat(ch.tryOffer(16)).isEqualTo(Channel.FULL);
    ch.releaseSlots();
    assertThat(ch.size()).isEqualTo(15);
    assertThat(ch.tryOffer(16)).isEqualTo(Channel.OK);
    assertThat(ch.size()).isEqualTo(16);
  }

  // ---- weights ----

  @Test
  void aWeightedChannelGivesBackTheWeightOfEachPolledElement() {
    Channel<String> ch = new Channel<>(4, true, false, TimeSource.system());
    ch.tryOffer("a", 7);
    ch.tryOffer("b", 9);
    assertThat(ch.lastWeight()).as("before any poll").isZero();
    assertThat(ch.poll()).isEqualTo("a");
    assertThat(ch.lastWeight()).isEqualTo(7);
    assertThat(ch.poll()).isEqualTo("b");
    assertThat(ch.lastWeight()).isEqualTo(9);
  }

  @Test
  void anUnweightedChannelKeepsNoWeight() {
    Channel<String> ch = new Channel<>(4, false, false, TimeSource.system());
    ch.tryOffer("a", 7);
    assertThat(ch.poll()).isEqualTo("a");
    assertThat(ch.lastWeight()).isZero();
  }

  // ---- starting and waking the consumer ----

  @Test
  void theFirstArrivalStartsTheBoundConsumer() {
    Channel<String> ch = new Channel<>(4, new ScriptedClock());
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    assertThat(ch.isConsumer(consumer)).isTrue();
    assertThat(ch.isConsumer(Thread.currentThread())).isFalse();
    assertThat(state(consumer)).as("binding does not start it").isEqualTo("asleep");
    ch.tryOffer("a");
    assertThat(state(consumer)).isEqualTo("woken");
    ch.tryOffer("b"); // a wake-up of a started consumer unparks it: no second start
    ch.startConsumer();
    ch.wakeConsumer();
    assertThat(ch.accepted()).isEqualTo(2);
  }

  @Test
  void startConsumerStartsItWithoutAnArrival() {
    Channel<String> ch = new Channel<>(4, new ScriptedClock());
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    ch.startConsumer();
    assertThat(state(consumer)).isEqualTo("woken");
    ch.startConsumer();
  }

  @Test
  void wakeConsumerStartsAConsumerNotStartedYetAndIgnoresAMissingOne() {
    Channel<String> unbound = new Channel<>(4, new ScriptedClock());
    unbound.wakeConsumer();
    unbound.startConsumer();
    assertThat(unbound.tryOffer("a")).isEqualTo(Channel.OK);

    Channel<String> ch = new Channel<>(4, new ScriptedClock());
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    ch.wakeConsumer();
    assertThat(state(consumer)).isEqualTo("woken");
  }

  @Test
  void closeWakesTheConsumer() {
    Channel<String> ch = new Channel<>(4, new ScriptedClock());
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    ch.close();
    assertThat(state(consumer)).isEqualTo("woken");
  }

  @Test
  void aWaitingConsumerIsWokenByTheArrivalThatReachesItsTargetAndByNoEarlierOne() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, clock);
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    List<String> seen = new ArrayList<>();
    clock.onPark(() -> {
      for (String e : List.of("a", "b", "c")) {
        ch.tryOffer(e);
        seen.add(e + ": " + state(consumer));
      }
    });
    ch.await(3, false, 0);
    assertThat(clock.parks).containsExactly("park");
    assertThat(seen).containsExactly("a: asleep", "b: asleep", "c: woken");
  }

  @Test
  void aConsumerCountsItsTargetFromWhereItIs() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, clock);
    ch.tryOffer("a");
    ch.tryOffer("b");
    assertThat(ch.poll()).isEqualTo("a");
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    List<String> seen = new ArrayList<>();
    clock.onPark(() -> {
      ch.tryOffer("c");
      seen.add("c: " + state(consumer));
    });
    ch.await(2, false, 0); // b waits; c makes two
    assertThat(clock.parks).containsExactly("park");
    assertThat(seen).containsExactly("c: woken");
  }

  @Test
  void aConsumerDoesNotWaitForItemsAlreadyThere() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, clock);
    ch.tryOffer("a");
    ch.tryOffer("b");
    ch.await(2, false, 0);
    ch.await(1, true, clock.now + 1_000);
    assertThat(clock.parks).isEmpty();
  }

  @Test
  void aTimedWaitParksUntilItsDeadlineAndALaterArrivalDoesNotWakeTheConsumer() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, clock);
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    clock.onPark(() -> clock.now += 100); // nothing arrives; the deadline passes
    ch.await(2, true, clock.now + 100);
    assertThat(clock.parks).containsExactly("parkNanos 100");
    ch.tryOffer("a");
    ch.tryOffer("b");
    assertThat(state(consumer)).as("no one waits for the target any more").isEqualTo("asleep");
  }

  @Test
  void aParkedConsumerThreadIsUnparkedByTheArrivalThatReachesItsTarget() throws Exception {
    ManualTimeSource time = new ManualTimeSource(5_000_000_000L);
    Channel<String> ch = track(new Channel<>(4, time));
    CompletableFuture<Integer> woken = new CompletableFuture<>();
    Thread consumer = Thread.ofVirtual().name("consumer").unstarted(() -> {
      while (ch.size() < 2) { // a park may end spuriously
        ch.await(2, false, 0);
      }
      woken.complete(ch.size());
    });
    ch.bindConsumer(consumer);
    ch.startConsumer();
    time.awaitWaiters(1, WAIT);
    ch.tryOffer("a");
    ch.tryOffer("b");
    assertThat(woken.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(2);
  }

  @Test
  void aClosedChannelEndsAWaitAtOnceAndCloseEndsAWaitInProgress() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, clock);
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    List<String> seen = new ArrayList<>();
    clock.onPark(() -> {
      ch.close();
      seen.add("closed: " + state(consumer));
    });
    ch.await(1, false, 0);
    assertThat(seen).containsExactly("closed: woken");
    ch.await(1, false, 0);
    assertThat(clock.parks).as("the second wait, on a closed channel").containsExactly("park");
  }

  // ---- hints: which element is heavy enough to end a wait early ----

  /**
   * Offers elements of the given weights one by one while the consumer waits for {@code target}
   * elements, and says after each arrival whether it woke the consumer ("asleep" or "woken").
   */
  private static List<String> statesAfterEach(Channel<String> ch, ScriptedClock clock,
      Thread consumer, int target, long... weights) {
    List<String> seen = new ArrayList<>();
    clock.onPark(() -> {
      for (int i = 0; i < weights.length; i++) {
        ch.tryOffer("e" + i, weights[i]);
        seen.add(state(consumer));
      }
    });
    ch.await(target, false, 0);
    return seen;
  }

  @Test
  void anElementHeavierThanTheConsumerExpectsWakesItBeforeItsTarget() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, true, true, clock);
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    ch.expect(10);
    assertThat(statesAfterEach(ch, clock, consumer, 5, 10, 11)).containsExactly("asleep", "woken");
  }

  @Test
  void anUnweighedElementWakesAHintedConsumerWhateverItExpects() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, true, true, clock);
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    ch.expect(Long.MAX_VALUE);
    assertThat(statesAfterEach(ch, clock, consumer, 5, Long.MAX_VALUE, Channel.UNWEIGHED))
        .containsExactly("asleep", "woken");
  }

  @Test
  void aHintedConsumerThatSaidNothingExpectsNothingHeavierThanZero() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, false, true, clock);
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    assertThat(statesAfterEach(ch, clock, consumer, 5, 0, 1)).containsExactly("asleep", "woken");
  }

  @Test
  void aChannelThatIsNotHintedWakesOnlyAtTheTargetWhateverTheWeights() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, true, false, clock);
    Thread consumer = consumerThread();
    ch.bindConsumer(consumer);
    assertThat(statesAfterEach(ch, clock, consumer, 3, Channel.UNWEIGHED, 1_000_000))
        .containsExactly("asleep", "asleep");
  }

  @Test
  void aHeavyElementThatArrivedBeforeTheWaitEndsItAtOnceUntilItIsPolled() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, true, true, clock);
    ch.expect(10);
    ch.tryOffer("a", 11);
    ch.await(5, false, 0);
    assertThat(clock.parks).as("a is heavy: no wait").isEmpty();
    assertThat(ch.poll()).isEqualTo("a");
    clock.onPark(() -> {});
    ch.await(5, false, 0);
    assertThat(clock.parks).as("a was taken: the next wait waits").containsExactly("park");
  }

  @Test
  void lightElementsThatArrivedBeforeTheWaitDoNotEndIt() {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(8, true, true, clock);
    ch.expect(10);
    ch.tryOffer("a", 10);
    ch.tryOffer("b", 3);
    clock.onPark(() -> {});
    ch.await(5, false, 0);
    assertThat(clock.parks).containsExactly("park");
  }

  // ---- producers waiting for room ----

  @Test
  void putAddsOnceAndAtOnceWhenThereIsRoom() throws Exception {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(4, clock);
    assertThat(ch.put("a", 0L, false, 0)).isEqualTo(Channel.OK);
    assertThat(ch.put("b", 0L, true, clock.now + 1)).isEqualTo(Channel.OK);
    assertThat(ch.accepted()).isEqualTo(2);
    assertThat(clock.parks).isEmpty();
  }

  @Test
  void aTimedPutWhoseDeadlineHasPassedAnswersFullWithoutWaiting() throws Exception {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(1, clock);
    ch.tryOffer("a");
    assertThat(ch.put("b", 0L, true, clock.now)).isEqualTo(Channel.FULL);
    assertThat(clock.parks).isEmpty();
    assertThat(ch.blockedProducers()).isZero();
    assertThat(ch.accepted()).isEqualTo(1);
  }

  @Test
  void aTimedPutWhoseDeadlinePassesBeforeItWouldParkAnswersFullWithoutParking() throws Exception {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(1, clock);
    ch.tryOffer("a");
    long deadline = clock.now + 1;
    List<Integer> blockedAtEachLook = new ArrayList<>();
    Runnable look = () -> blockedAtEachLook.add(ch.blockedProducers());
    clock.onRead(look); // put's own look: 1 ns left
    clock.onRead(() -> { // by its first re-try the deadline has come
      look.run();
      clock.now += 1;
    });
    for (int i = 0; i < 3; i++) {
      clock.onRead(look);
    }
    assertThat(ch.put("b", 0L, true, deadline)).isEqualTo(Channel.FULL);
    assertThat(blockedAtEachLook).as("gives up at its first look past the deadline, unblocked")
        .containsExactly(0, 0);
    assertThat(clock.parks).isEmpty();
    assertThat(ch.blockedProducers()).isZero();
    assertThat(ch.accepted()).isEqualTo(1);
  }

  @Test
  void aProducerOnAFullChannelIsCountedWhileItWaitsAndGetsTheSlotTheConsumerFrees()
      throws Exception {
    ManualTimeSource time = new ManualTimeSource(5_000_000_000L);
    // bound 16: the consumer index is published every 2 polls
    Channel<Integer> ch = track(new Channel<>(16, time));
    for (int i = 0; i < 16; i++) {
      ch.tryOffer(i);
    }
    CompletableFuture<Integer> producer = Async.call(() -> ch.put(16, 0L, false, 0));
    time.awaitWaiters(1, WAIT);
    assertThat(ch.blockedProducers()).isEqualTo(1);
    assertThat(producer).isNotDone();
    assertThat(ch.poll()).isEqualTo(0);
    ch.signalProducers(); // publishes the emptied slot, then wakes the producer
    assertThat(producer.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(Channel.OK);
    assertThat(ch.blockedProducers()).isZero();
    assertThat(ch.accepted()).isEqualTo(17);
  }

  @Test
  void aConsumerAboutToWaitFirstLetsBlockedProducersIntoTheSlotsItEmptied() throws Exception {
    ManualTimeSource time = new ManualTimeSource(5_000_000_000L);
    Channel<Integer> ch = track(new Channel<>(16, time));
    for (int i = 0; i < 16; i++) {
      ch.tryOffer(i);
    }
    CompletableFuture<Integer> producer = Async.call(() -> ch.put(16, 0L, false, 0));
    time.awaitWaiters(1, WAIT);
    assertThat(ch.poll()).isEqualTo(0);
    ch.await(1, true, time.nanoTime()); // items are there: returns at once, after the signal
    assertThat(producer.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(Channel.OK);
  }

  @Test
  void aTimedPutGivesUpAtItsDeadlineAndNotBefore() throws Exception {
    ManualTimeSource time = new ManualTimeSource(5_000_000_000L);
    Channel<String> ch = track(new Channel<>(1, time));
    ch.tryOffer("a");
    long deadline = time.nanoTime() + Duration.ofSeconds(1).toNanos();
    CompletableFuture<Integer> producer = Async.call(() -> ch.put("b", 0L, true, deadline));
    time.awaitTimedWaiters(1, WAIT);
    time.advance(Duration.ofMillis(999));
    time.awaitTimedWaiters(1, WAIT);
    assertThat(producer).as("1 ms before the deadline").isNotDone();
    time.advance(Duration.ofMillis(1));
    assertThat(producer.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(Channel.FULL);
    assertThat(ch.blockedProducers()).isZero();
    assertThat(ch.accepted()).isEqualTo(1);
  }

  @Test
  void anInterruptedProducerThrowsAndAddsNothing() throws Exception {
    ManualTimeSource time = new ManualTimeSource(5_000_000_000L);
    Channel<String> ch = track(new Channel<>(1, time));
    ch.tryOffer("a");
    CompletableFuture<Thread> thread = new CompletableFuture<>();
    CompletableFuture<Integer> producer = Async.call(() -> {
      thread.complete(Thread.currentThread());
      return ch.put("b", 0L, false, 0);
    });
    time.awaitWaiters(1, WAIT);
    thread.get().interrupt();
    assertThatThrownBy(() -> producer.get(WAIT.toMillis(), TimeUnit.MILLISECONDS))
        .isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(InterruptedException.class);
    assertThat(ch.blockedProducers()).isZero();
    assertThat(ch.accepted()).isEqualTo(1);
    assertThat(ch.poll()).isEqualTo("a");
    assertThat(ch.poll()).isNull();
  }

  @Test
  void closeEndsAProducersWaitWithClosed() throws Exception {
    ManualTimeSource time = new ManualTimeSource(5_000_000_000L);
    Channel<String> ch = new Channel<>(1, time);
    ch.tryOffer("a");
    CompletableFuture<Integer> producer = Async.call(() -> ch.put("b", 0L, false, 0));
    time.awaitWaiters(1, WAIT);
    ch.close();
    assertThat(producer.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(Channel.CLOSED);
    assertThat(ch.blockedProducers()).isZero();
    assertThat(ch.accepted()).isEqualTo(1);
  }

  @Test
  void theConsumerOfAContendedChannelStillWaitsWhenNothingMoreArrives() throws Exception {
    ScriptedClock clock = new ScriptedClock();
    Channel<String> ch = new Channel<>(1, clock);
    ch.tryOffer("a");
    List<String> seen = new ArrayList<>();
    clock.onPark(() -> { // the producer found no room: the consumer takes a meanwhile
      seen.add("blocked producers: " + ch.blockedProducers());
      seen.add("polled " + ch.poll());
      ch.signalProducers();
    });
    assertThat(ch.put("b", 0L, false, 0)).isEqualTo(Channel.OK);
    assertThat(ch.blockedProducers()).isZero();
    assertThat(ch.poll()).isEqualTo("b");
    clock.onPark(() -> ch.tryOffer("c"));
    ch.await(1, false, 0);
    assertThat(clock.parks).as("the producer's wait, then the consumer's").containsExactly("park",
        "park");
    assertThat(seen).containsExactly("blocked producers: 1", "polled a");
  }
}
