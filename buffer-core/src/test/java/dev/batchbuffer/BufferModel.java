package dev.batchbuffer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.jspecify.annotations.Nullable;

/**
 * The model {@link StatefulPropertyTest} checks a buffer against: what was accepted and in which
 * order, what the backend delivered, what the callbacks received, which flushes ran, and from that
 * what every future, every {@code flush()} result, the listener and {@link BufferStats} must say.
 * Callbacks record into it from the buffer's threads; violations seen there are kept and reported
 * by the test thread. Thread-safe: every method holds the model's lock, and none calls the buffer.
 */
final class BufferModel {

  /** Where an accepted item ended. */
  enum Bucket { DELIVERED, FAILED, REJECTED, UNDELIVERED }

  /** One call of the outermost flush function: a batch the buffer handed over. */
  static final class Outer {
    final long id;
    final long key;
    final List<Long> batch;
    boolean exited;
    @Nullable Throwable thrown;
    int backendCalls;

    Outer(long id, long key, List<Long> batch) {
      this.id = id;
      this.key = key;
      this.batch = batch;
    }

    /** Whether the buffer counts this call as failed (the listener hears flushFailed). */
    boolean failed() {
      return thrown != null
          && !(thrown instanceof PartialFlushException p && p.failedIndexes().isEmpty());
    }
  }

  /** A {@code flush()} call: its number, and how many items were accepted before it. */
  private record Request(int number, long acceptedBefore, CompletableFuture<Void> result) {}

  /** Something the loop did that a {@code flush()} result depends on, in the loop's order. */
  private record Event(int failedItems, int request, @Nullable Throwable outcome,
      boolean afterCloseWithin) {}

  private final StatefulScenario sc;
  private final List<String> violations = new ArrayList<>();
  private long nextItem;
  private long nextIndex;
  /** Acceptance position of every item offered (candidates included), by item. */
  private final Map<Long, Long> indexOf = new HashMap<>();
  private final Map<Long, Boolean> accepted = new LinkedHashMap<>();
  private final Map<Long, CompletableFuture<Void>> futures = new LinkedHashMap<>();
  private final Map<Long, Bucket> bucket = new HashMap<>();
  private final List<Outer> outers = new ArrayList<>();
  private final Map<Long, Outer> outerOf = new HashMap<>();
  private final Map<Long, Integer> runningPerKey = new HashMap<>();
  private final Map<Long, Long> lastHanded = new HashMap<>();
  private int outerRunning;
  private int backendRunning;
  private long retriedItems;
  private final List<Request> requests = new ArrayList<>();
  private final List<Event> events = new ArrayList<>();
  private int eventsChecked;
  /** Items a flush() result completed ahead of, while a close(timeout) may have given them up. */
  private final List<String> mustSettle = new ArrayList<>();
  private int failedCount;
  private int rejectedCount;
  private int undeliveredCount;
  long listenerFlushed;
  long listenerFailed;
  long listenerRejected;
  long listenerThrows;
  long listenerClosed;
  long hookRuns;
  long hookThrows;
  long refused;
  boolean closeIssued;
  boolean closeWithinIssued;
  /** Set when close()/close(timeout) returned or the listener heard closed: nothing flushes after. */
  boolean closeDone;
  long activity;

  BufferModel(StatefulScenario sc) {
    this.sc = sc;
  }

  synchronized void violation(String what) {
    violations.add(what);
  }

  synchronized List<String> violations() {
    return List.copyOf(violations);
  }

  synchronized void touch() {
    activity++;
  }

  synchronized long activity() {
    return activity;
  }

  // ---- admission ------------------------------------------------------------------------------

  /** A new item, not yet offered. */
  synchronized long nextItem() {
    return ++nextItem;
  }

  /**
   * The item is about to be offered: it takes the next acceptance position now, so that the loop
   * may flush it before its producer returns. No other item is offered until it is decided.
   */
  synchronized void offering(long item) {
    activity++;
    indexOf.put(item, nextIndex++);
  }

  synchronized void accepted(long item, @Nullable CompletableFuture<Void> future) {
    activity++;
    if (!indexOf.containsKey(item)) {
      violations.add("item " + item + " accepted without being offered");
    }
    accepted.put(item, Boolean.TRUE);
    if (future != null) {
      futures.put(item, future);
    }
  }

  synchronized void notAccepted(long item) {
    activity++;
    indexOf.remove(item);
    if (outerOf.containsKey(item) || bucket.containsKey(item)) {
      violations.add("item " + item + " was refused to its producer, yet reached the buffer's "
          + (outerOf.containsKey(item) ? "flush function" : "outcome " + bucket.get(item)));
    }
  }

  synchronized void refusedBecauseClosed(String what) {
    activity++;
    refused++;
    if (!closeIssued) {
      violations.add(what + " threw 'closed' before any close was called");
    }
  }

  synchronized int acceptedCount() {
    return accepted.size();
  }

  synchronized long position() {
    return nextIndex;
  }

  /** The bytes held under the memory bound: accepted items not yet settled. */
  synchronized long memoryHeld() {
    long held = 0;
    for (long item : accepted.keySet()) {
      if (!settled(item)) {
        held += sc.memoryWeight(item);
      }
    }
    return held;
  }

  // ---- flushes --------------------------------------------------------------------------------

  /** The buffer hands a batch to the outermost flush function. */
  synchronized Outer enterOuter(long key, List<Long> batch) {
    activity++;
    Outer o = new Outer(outers.size(), key, List.copyOf(batch));
    outers.add(o);
    String where = "flush #" + o.id + " (key " + key + ") " + batch;
    if (closeDone) {
      violations.add(where + " started after the close said it was done");
    }
    String broken = sc.limitBroken(batch);
    if (broken != null) {
      violations.add(where + " breaks the policy: " + broken);
    }
    outerRunning++;
    int ofKey = runningPerKey.merge(key, 1, Integer::sum);
    if (outerRunning > sc.maxInFlight()) {
      violations.add(where + ": " + outerRunning + " flushes at once, above maxInFlight "
          + sc.maxInFlight());
    }
    boolean ordered = sc.keyed() || sc.maxInFlight() == 1;
    if (ordered && ofKey > 1) {
      violations.add(where + ": two flushes of one key at once");
    }
    long previous = ordered ? lastHanded.getOrDefault(key, -1L) : -1L;
    for (long item : batch) {
      Long index = indexOf.get(item);
      if (index == null) {
        violations.add(where + ": item " + item + " was never offered");
        continue;
      }
      if (outerOf.containsKey(item)) {
        violations.add(where + ": item " + item + " was already handed over in flush #"
            + outerOf.get(item).id);
      }
      outerOf.put(item, o);
      if (sc.loopRejects(item)) {
        violations.add(where + ": item " + item + " should have gone to onReject");
      }
      if (sc.orderKey(item) != key) {
        violations.add(where + ": item " + item + " belongs to key " + sc.orderKey(item));
      }
      if (index <= previous) {
        violations.add(where + ": item " + item + " (accepted #" + index + ") is out of order, "
            + (ordered ? "after #" + previous + " of its key" : "within its batch"));
      }
      previous = index;
    }
    if (ordered) {
      lastHanded.put(key, previous);
    }
    return o;
  }

  synchronized void exitOuter(Outer o, @Nullable Throwable thrown) {
    activity++;
    o.exited = true;
    o.thrown = thrown;
    outerRunning--;
    runningPerKey.merge(o.key, -1, Integer::sum);
  }

  synchronized int outerRunning() {
    return outerRunning;
  }

  /** Items in flushes that have not returned. */
  synchronized long itemsInRunningFlushes() {
    long n = 0;
    for (Outer o : outers) {
      if (!o.exited) {
        n += o.batch.size();
      }
    }
    return n;
  }

  synchronized void enterBackend(List<Long> batch) {
    activity++;
    backendRunning++;
    Outer o = batch.isEmpty() ? null : outerOf.get(batch.get(0));
    if (o == null || o.exited) {
      violations.add("the backend got " + batch + ", which no running flush holds");
      return;
    }
    if (o.backendCalls++ > 0) {
      retriedItems += batch.size();
    }
    for (long item : batch) {
      if (outerOf.get(item) != o) {
        violations.add("the backend got " + batch + ", not all from flush #" + o.id);
      }
    }
  }

  synchronized void exitBackend() {
    activity++;
    backendRunning--;
  }

  synchronized int backendRunning() {
    return backendRunning;
  }

  /** The backend wrote these items. */
  synchronized void delivered(List<Long> items) {
    for (long item : items) {
      put(item, Bucket.DELIVERED, "the backend");
    }
  }

  synchronized void onReject(long item) {
    activity++;
    rejectedCount++;
    if (!accepted.containsKey(item) && !indexOf.containsKey(item)) {
      violations.add("onReject got " + item + ", which was never accepted");
    }
    if (!sc.loopRejects(item)) {
      violations.add("onReject got " + item + ", which no rule refuses");
    }
    put(item, Bucket.REJECTED, "onReject");
  }

  synchronized void onFlushError(Exception e, List<Long> items) {
    activity++;
    failedCount += items.size();
    if (e instanceof PartialFlushException p && !p.failedItems(items).equals(items)) {
      violations.add("onFlushError's PartialFlushException " + p.failedIndexes()
          + " does not index its list " + items);
    }
    for (long item : items) {
      put(item, Bucket.FAILED, "onFlushError");
      Outer o = outerOf.get(item);
      if (o != null && !o.exited) {
        violations.add("onFlushError got " + item + " while its flush #" + o.id + " still runs");
      }
    }
    events.add(new Event(items.size(), -1, null, closeWithinIssued));
  }

  /** What a close(timeout) returned as undelivered. */
  synchronized void undelivered(List<Long> items) {
    activity++;
    undeliveredCount += items.size();
    Map<Long, Long> lastOfKey = new HashMap<>();
    for (long item : items) {
      put(item, Bucket.UNDELIVERED, "close(timeout)");
      Long index = indexOf.get(item);
      long key = sc.keyed() ? sc.orderKey(item) : 0;
      Long last = lastOfKey.put(key, index == null ? -1 : index);
      if (index != null && last != null && last >= index) {
        violations.add("close(timeout)'s undelivered " + items + " is not in acceptance order"
            + " (per key) at " + item);
      }
    }
  }

  private void put(long item, Bucket b, String who) {
    activity++;
    if (!accepted.containsKey(item) && !indexOf.containsKey(item)) {
      violations.add(who + " reports item " + item + ", which was never accepted");
    }
    Bucket before = bucket.putIfAbsent(item, b);
    if (before != null) {
      violations.add(who + " reports item " + item + " as " + b + ", but it was already "
          + before);
    }
  }

  /** Whether the item has reached its outcome (a delivered one: once its flush has returned). */
  private boolean settled(long item) {
    Bucket b = bucket.get(item);
    if (b == null) {
      return false;
    }
    if (b != Bucket.DELIVERED) {
      return true;
    }
    Outer o = outerOf.get(item);
    return o != null && o.exited;
  }

  // ---- flush() --------------------------------------------------------------------------------

  /** Watches a flush() result; must be called as soon as flush() returned it. */
  synchronized void watchFlush(int number, long acceptedBefore, CompletableFuture<Void> result) {
    activity++;
    requests.add(new Request(number, acceptedBefore, result));
    var unused = result.whenComplete((v, e) -> flushCompleted(number, acceptedBefore, e));
  }

  private synchronized void flushCompleted(int number, long acceptedBefore, @Nullable Throwable e) {
    activity++;
    for (Map.Entry<Long, Boolean> entry : accepted.entrySet()) {
      long item = entry.getKey();
      if (indexOf.getOrDefault(item, Long.MAX_VALUE) < acceptedBefore && !settled(item)) {
        if (closeWithinIssued) {
          // Given up by close(timeout): settled now, but the model hears it when close returns.
          mustSettle.add(item + " ahead of flush() #" + number);
        } else {
          violations.add("flush() #" + number + " completed before item " + item
              + ", accepted ahead of it, was settled");
        }
      }
      CompletableFuture<Void> f = futures.get(item);
      if (f != null && indexOf.getOrDefault(item, Long.MAX_VALUE) < acceptedBefore && !f.isDone()) {
        violations.add("flush() #" + number + " completed before the future of item " + item);
      }
    }
    events.add(new Event(0, number, e, closeWithinIssued));
  }

  // ---- checks ---------------------------------------------------------------------------------

  /**
   * Checks what must hold at a quiescent point.
   *
   * @param s a stats snapshot taken while nothing moved
   * @param exactFlushing whether the items in flushes are exactly those of running flush calls
   *     (not so for a keyed buffer with flushes queued behind a running one of their key)
   * @return what does not hold
   */
  synchronized List<String> checkQuiescent(BufferStats s, boolean exactFlushing) {
    List<String> problems = new ArrayList<>(violations);
    for (String m : mustSettle) {
      long item = Long.parseLong(m.substring(0, m.indexOf(' ')));
      if (!settled(item)) {
        problems.add("item " + m + " is not settled, though that flush() completed");
      }
    }
    long flushed = 0;
    for (Map.Entry<Long, Bucket> e : bucket.entrySet()) {
      if (e.getValue() == Bucket.DELIVERED && settled(e.getKey())) {
        flushed++;
      }
    }
    long settledSum = s.flushed() + s.failed() + s.rejected() + s.undelivered();
    if (s.accepted() != settledSum + s.itemsWaiting() + s.itemsFlushing()) {
      problems.add("accounting identity broken: accepted " + s.accepted() + " != flushed "
          + s.flushed() + " + failed " + s.failed() + " + rejected " + s.rejected()
          + " + undelivered " + s.undelivered() + " + waiting " + s.itemsWaiting()
          + " + flushing " + s.itemsFlushing());
    }
    expect(problems, "stats.accepted", s.accepted(), accepted.size());
    expect(problems, "stats.flushed (items the backend took, settled)", s.flushed(), flushed);
    expect(problems, "stats.failed (items handed to onFlushError)", s.failed(), failedCount);
    expect(problems, "stats.rejected (items handed to onReject)", s.rejected(), rejectedCount);
    expect(problems, "stats.undelivered (close(timeout) lists)", s.undelivered(), undeliveredCount);
    expect(problems, "stats.refused", s.refused(), refused);
    expect(problems, "stats.listenerErrors", s.listenerErrors(), listenerThrows);
    expect(problems, "stats.hookErrors", s.hookErrors(), hookThrows);
    expect(problems, "stats.retried", s.retried(), retriedItems);
    long running = itemsInRunningFlushes();
    if (exactFlushing ? s.itemsFlushing() != running : s.itemsFlushing() < running) {
      problems.add("stats.itemsFlushing " + s.itemsFlushing() + ", but running flushes hold "
          + running);
    }
    long exited = 0;
    long failedCalls = 0;
    for (Outer o : outers) {
      if (o.exited) {
        exited++;
        failedCalls += o.failed() ? 1 : 0;
        for (long item : o.batch) {
          Bucket b = bucket.get(item);
          if (b == null || b == Bucket.REJECTED) {
            problems.add("item " + item + " of returned flush #" + o.id + " has outcome " + b);
          }
        }
      }
    }
    expect(problems, "listener flushed + flushFailed", listenerFlushed + listenerFailed, exited);
    expect(problems, "listener flushFailed", listenerFailed, failedCalls);
    expect(problems, "listener rejected", listenerRejected, rejectedCount);
    for (long item : bucket.keySet()) {
      if (!accepted.containsKey(item)) {
        problems.add("item " + item + " has outcome " + bucket.get(item)
            + " but its producer was not told it was accepted");
      }
    }
    for (Map.Entry<Long, CompletableFuture<Void>> e : futures.entrySet()) {
      long item = e.getKey();
      CompletableFuture<Void> f = e.getValue();
      boolean settled = settled(item);
      if (f.isDone() != settled) {
        problems.add("item " + item + "'s future is " + (f.isDone() ? "done" : "not done")
            + " but the item is " + (settled ? "settled as " + bucket.get(item) : "not settled"));
      } else if (settled) {
        DeliveryException.Reason reason = reasonOf(f);
        Bucket b = Objects.requireNonNull(bucket.get(item));
        Bucket said = reason == null ? Bucket.DELIVERED : switch (reason) {
          case FAILED, EXPIRED -> Bucket.FAILED; // an expired item went to onFlushError
          case REJECTED -> Bucket.REJECTED;
          case UNDELIVERED -> Bucket.UNDELIVERED;
          case KEY_PAUSED -> Bucket.FAILED;
        };
        if (said != b) {
          problems.add("item " + item + "'s future says " + said + " but it was " + b);
        }
      }
    }
    // flush() results, in the loop's order: a result fails iff items failed since the previous.
    for (; eventsChecked < events.size(); eventsChecked++) {
      Event ev = events.get(eventsChecked);
      if (ev.request() < 0) {
        continue;
      }
      boolean failedBefore = false;
      for (int i = eventsChecked - 1; i >= 0 && events.get(i).request() < 0; i--) {
        failedBefore |= events.get(i).failedItems() > 0;
      }
      Throwable outcome = ev.outcome();
      if (!ev.afterCloseWithin() && failedBefore != (outcome != null)) {
        problems.add("flush() #" + ev.request() + " " + (outcome == null ? "succeeded" : "failed")
            + " though items " + (failedBefore ? "failed" : "did not fail")
            + " since the previous flush(): " + outcome);
      }
      if (outcome != null && !(unwrap(outcome) instanceof DeliveryException)) {
        problems.add("flush() #" + ev.request() + " failed with " + outcome
            + ", not a DeliveryException");
      }
    }
    return problems;
  }

  /** Checks what must hold once the buffer has closed, beside {@link #checkQuiescent}. */
  synchronized List<String> checkClosed(BufferStats s) {
    List<String> problems = new ArrayList<>();
    if (s.state() != BufferStats.State.CLOSED) {
      problems.add("state " + s.state() + " after close");
    }
    if (s.itemsWaiting() != 0 || s.itemsFlushing() != 0) {
      problems.add("after close " + s.itemsWaiting() + " items wait and " + s.itemsFlushing()
          + " flush");
    }
    for (long item : accepted.keySet()) {
      Bucket b = bucket.get(item);
      if (b == null) {
        problems.add("item " + item + " was accepted and never settled");
      } else if (sc.loopRejects(item) != (b == Bucket.REJECTED) && b != Bucket.UNDELIVERED) {
        problems.add("item " + item + " ended " + b + ", but the rules "
            + (sc.loopRejects(item) ? "refuse" : "admit") + " it");
      }
    }
    for (Request r : requests) {
      if (!r.result().isDone()) {
        problems.add("flush() #" + r.number() + " never completed");
      }
    }
    if (listenerClosed != 1) {
      problems.add("the listener heard closed " + listenerClosed + " times");
    }
    if (outerRunning != 0 || backendRunning != 0) {
      problems.add(outerRunning + " flushes still run after close");
    }
    if (!(sc.keyed() || sc.maxInFlight() == 1)) {
      // Flushes of a plain buffer may start in any order; their batches are still cut in order.
      List<Outer> byFirst = new ArrayList<>(outers);
      byFirst.sort((a, b) -> Long.compare(indexOf.getOrDefault(a.batch.get(0), -1L),
          indexOf.getOrDefault(b.batch.get(0), -1L)));
      long previous = -1;
      for (Outer o : byFirst) {
        for (long item : o.batch) {
          long index = indexOf.getOrDefault(item, -1L);
          if (index <= previous) {
            problems.add("batches are not cut in acceptance order: flush #" + o.id + " " + o.batch);
          }
          previous = index;
        }
      }
    }
    return problems;
  }

  private static void expect(List<String> problems, String what, long actual, long expected) {
    if (actual != expected) {
      problems.add(what + " is " + actual + ", the model says " + expected);
    }
  }

  private static DeliveryException.@Nullable Reason reasonOf(CompletableFuture<Void> f) {
    try {
      f.join();
      return null;
    } catch (CompletionException e) {
      return unwrap(e) instanceof DeliveryException d ? d.reason() : null;
    }
  }

  private static Throwable unwrap(Throwable t) {
    return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
  }

  synchronized String summary() {
    return "accepted " + accepted.size() + ", flushes " + outers.size() + " (" + outerRunning
        + " running), outcomes " + bucket.size() + ", futures " + futures.size() + ", flush() "
        + requests.size() + ", closeIssued " + closeIssued + ", closeDone " + closeDone;
  }
}
