package dev.batchbuffer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.BufferListener;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushInfo;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.Oversize;
import dev.batchbuffer.RecordingLoggerFinder;
import dev.batchbuffer.Weigher;
import dev.batchbuffer.testing.ManualTimeSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiPredicate;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The per-item logic on its own, driven directly on the test thread with an inline dispatcher
 * (maxInFlight 1): which item flushes a batch and why (count, bytes, overflow, condition,
 * oversize), what each refusal says (its future's reason and message, onReject, the log), what
 * the policies see and when they are asked, the running counts (items buffered, bytes, memory
 * held, heaviest item), the linger armed by a batch's first item, and that the emptied channel
 * slots are published before any user code runs.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BatcherTest {
  private static final AtomicInteger TESTS = new AtomicInteger();
  private static final long LINGER = 500;

  private final String name = "batcher-test-" + TESTS.incrementAndGet();
  private final ManualTimeSource time = new ManualTimeSource(1_000);
  /** Bound 16: the consumer index is published every 2 polls, or when the loop publishes it. */
  private final Channel<Object> channel = new Channel<>(16, time);
  private final Problems problems = new Problems(name, time);
  /** Each flush as the listener hears it: reason, items, bytes. */
  private final List<String> flushes = new ArrayList<>();
  private final List<List<String>> batches = new ArrayList<>();
  /** The channel's size as the flush function saw it. */
  private final List<Integer> sizesAtFlush = new ArrayList<>();
  private final List<String> rejected = new ArrayList<>();
  private final List<Integer> sizesAtReject = new ArrayList<>();
  private final List<BatchState<String>> armed = new ArrayList<>();
  private final Batcher<String> batcher;

  BatcherTest() {
    BufferListener<String> listener = new BufferListener<>() {
      @Override
      public void flushed(FlushInfo info) {
        flushes.add(info.reason() + " " + info.items() + " items " + info.bytes() + " bytes");
      }
    };
    Telemetry<String> telemetry = new Telemetry<>(name, time, problems, listener);
    Dispatcher<String> dispatcher = new Dispatcher<>(name, time, problems, telemetry,
        (key, batch) -> {
          batches.add(List.copyOf(batch));
          sizesAtFlush.add(channel.size());
        }, null, false,
        item -> {
          rejected.add(item);
          sizesAtReject.add(channel.size());
        },
        (e, items) -> {}, null, 1, false);
    batcher = new Batcher<>(channel, time, problems, dispatcher, armed::add);
  }

  // ---- limits ----

  private static Limits<String> count(int maxItems, int initialLength) {
    return new Limits<>(maxItems, null, Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE,
        Oversize.REJECT, List.of(), List.of(), List.of(), LINGER, initialLength);
  }

  /** A byte limit by string length: {@code maxBytes} per batch, {@code maxItemBytes} per item. */
  private static Limits<String> bytes(Weigher<String> weigher, long maxBytes, long maxItemBytes,
      Oversize oversize) {
    return new Limits<>(Integer.MAX_VALUE, weigher, maxBytes, maxBytes, maxItemBytes, oversize,
        List.of(), List.of(), List.of(), LINGER, 4);
  }

  private static Limits<String> conditions(int maxItems,
      List<BiPredicate<List<String>, String>> overflows,
      List<BiPredicate<List<String>, String>> admissions, List<Predicate<List<String>>> fulls) {
    return new Limits<>(maxItems, null, Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE,
        Oversize.REJECT, overflows, admissions, fulls, LINGER, 4);
  }

  private void add(BatchState<String> s, String... items) {
    for (String item : items) {
      batcher.accept(s, item, 0, null);
    }
  }

  /** Fills the channel and takes one item without publishing it: size() says 16 until published. */
  private void emptyOneSlotUnpublished() {
    for (int i = 0; i < 16; i++) {
      assertThat(channel.tryOffer(i)).isEqualTo(Channel.OK);
    }
    assertThat(channel.poll()).isEqualTo(0);
    assertThat(channel.size()).isEqualTo(16);
  }

  private static String failure(CompletableFuture<Void> future) {
    assertThat(future).isCompletedExceptionally();
    try {
      future.get(0, TimeUnit.SECONDS);
      throw new AssertionError("completed normally");
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof DeliveryException d)) {
        throw new AssertionError("not a DeliveryException", e);
      }
      Throwable cause = d.getCause();
      return d.reason() + ": " + d.getMessage()
          + (cause == null ? "" : " (cause " + cause.getClass().getSimpleName() + ")");
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  private List<String> logged(String text) {
    return RecordingLoggerFinder.linesContaining(name + ": " + text).stream()
        .map(RecordingLoggerFinder.Line::message).toList();
  }

  // ---- the count-only fast path ----

  @Test
  void theItemThatReachesTheCountLimitFlushesTheBatch() {
    BatchState<String> s = new BatchState<>(count(3, 3), null);
    add(s, "a", "b");
    assertThat(s.size()).isEqualTo(2);
    assertThat(batcher.bufferedItems()).isEqualTo(2);
    assertThat(flushes).isEmpty();
    add(s, "c");
    assertThat(batches).containsExactly(List.of("a", "b", "c"));
    assertThat(flushes).containsExactly("COUNT 3 items 0 bytes");
    assertThat(s.size()).isZero();
    assertThat(batcher.bufferedItems()).isZero();
    add(s, "d");
    assertThat(batcher.bufferedItems()).isEqualTo(1);
  }

  @Test
  void theFirstItemOfABatchArmsItsLingerAndOnlyTheFirst() {
    BatchState<String> s = new BatchState<>(count(2, 2), null);
    assertThat(s.armed).isFalse();
    add(s, "a");
    assertThat(armed).containsExactly(s);
    assertThat(s.armed).isTrue();
    assertThat(s.armedAt).isEqualTo(1_000);
    assertThat(s.lastUsed).isEqualTo(1_000);
    assertThat(s.deadline).isEqualTo(1_000 + LINGER);
    time.advance(10, TimeUnit.NANOSECONDS);
    add(s, "b"); // fills and flushes it
    assertThat(armed).hasSize(1);
    assertThat(s.armed).isFalse();
    assertThat(s.deadline).as("kept until the next first item").isEqualTo(1_000 + LINGER);
    add(s, "c");
    assertThat(armed).hasSize(2);
    assertThat(s.armedAt).isEqualTo(1_010);
    assertThat(s.deadline).isEqualTo(1_010 + LINGER);
  }

  @Test
  void theBatchArrayIsMadeByTheFirstItemAndGrowsByHalfAndToAtLeastEight() {
    BatchState<String> s = new BatchState<>(count(100, 2), null);
    assertThat(s.items).isEmpty();
    List<Integer> lengths = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      add(s, "i" + i);
      lengths.add(s.items.length);
    }
    assertThat(lengths).containsExactly(2, 2, 8, 8, 8, 8, 8, 8, 12);
    batcher.flush(s, FlushReason.EXPLICIT);
    assertThat(batches.get(0)).containsExactly("i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7",
        "i8");
    assertThat(s.items).as("given to the flush; the next batch makes its own").isEmpty();
  }

  @Test
  void anExplicitFlushOfAnEmptyBatchDisarmsItAndHandsNothingOver() {
    BatchState<String> s = new BatchState<>(count(3, 3), null);
    s.armed = true;
    batcher.flush(s, FlushReason.EXPLICIT);
    assertThat(s.armed).isFalse();
    assertThat(flushes).isEmpty();
    add(s, "a");
    batcher.flush(s, FlushReason.EXPLICIT);
    assertThat(flushes).containsExactly("EXPLICIT 1 items 0 bytes");
    assertThat(batcher.bufferedItems()).isZero();
  }

  @Test
  void aFlushPublishesTheEmptiedSlotsBeforeTheFlushFunctionRuns() {
    emptyOneSlotUnpublished();
    BatchState<String> s = new BatchState<>(count(1, 1), null);
    add(s, "a");
    assertThat(batches).containsExactly(List.of("a"));
    assertThat(sizesAtFlush).containsExactly(15);
  }

  // ---- memory held and futures (the general path) ----

  @Test
  void theBytesAnItemHoldsUnderTheMemoryBoundAreAddedToItsBatch() {
    BatchState<String> s = new BatchState<>(count(10, 4), null);
    batcher.accept(s, "a", 5, null);
    time.advance(10, TimeUnit.NANOSECONDS);
    batcher.accept(s, "b", 3, null);
    assertThat(s.held).isEqualTo(8);
    assertThat(s.size()).isEqualTo(2);
    assertThat(batcher.bufferedItems()).isEqualTo(2);
    assertThat(armed).as("armed by its first item only").containsExactly(s);
    assertThat(s.armedAt).isEqualTo(1_000);
    assertThat(s.deadline).isEqualTo(1_000 + LINGER);
  }

  @Test
  void trackedItemsFuturesCompleteWhenTheirBatchIsFlushedWhateverItsGrowth() {
    BatchState<String> s = new BatchState<>(count(10, 1), null);
    CompletableFuture<Void> a = new CompletableFuture<>();
    CompletableFuture<Void> c = new CompletableFuture<>();
    batcher.accept(s, "a", 0, a);
    batcher.accept(s, "b", 0, null);
    batcher.accept(s, "c", 0, c);
    assertThat(s.items).hasSize(8);
    assertThat(a).isNotDone();
    batcher.flush(s, FlushReason.EXPLICIT);
    assertThat(batches).containsExactly(List.of("a", "b", "c"));
    assertThat(a).isCompleted();
    assertThat(c).isCompleted();
    assertThat(a.isCompletedExceptionally() || c.isCompletedExceptionally()).isFalse();
  }

  @Test
  void theCountLimitAndTheByteLimitFlushOnTheGeneralPathToo() {
    CompletableFuture<Void> f = new CompletableFuture<>();
    BatchState<String> byCount = new BatchState<>(count(2, 2), null);
    batcher.accept(byCount, "a", 0, f);
    assertThat(flushes).isEmpty();
    batcher.accept(byCount, "b", 0, f);
    BatchState<String> byBytes = new BatchState<>(bytes(String::length, 5, 5, Oversize.REJECT),
        null);
    batcher.accept(byBytes, "ccc", 0, f);
    assertThat(flushes).hasSize(1);
    batcher.accept(byBytes, "dd", 0, f); // 5: full
    batcher.accept(byBytes, "eeee", 0, f);
    batcher.accept(byBytes, "ff", 0, f); // 6 would pass 5
    batcher.accept(byBytes, "ggggg", 0, f); // 5, the most one item may weigh: alone, and full
    assertThat(flushes).containsExactly("COUNT 2 items 0 bytes", "BYTES 2 items 5 bytes",
        "OVERFLOW 1 items 4 bytes", "OVERFLOW 1 items 2 bytes", "BYTES 1 items 5 bytes");
    assertThat(rejected).isEmpty();
  }

  // ---- the byte fast path ----

  @Test
  void bytesFlushAtTheLimitAndAnItemThatWouldPassItFlushesTheBatchFirst() {
    List<String> weighed = new ArrayList<>();
    Weigher<String> weigher = item -> {
      weighed.add(item);
      return item.length();
    };
    BatchState<String> s = new BatchState<>(bytes(weigher, 10, 10, Oversize.REJECT), null);
    assertThat(s.bytesOnly).isTrue();
    add(s, "aaaa");
    assertThat(s.maxWeightSeen).isEqualTo(4);
    add(s, "bbbbbb"); // 10: full
    add(s, "ccccccc", "dddd"); // 11 would pass it
    add(s, "eeeeeeeeee"); // 10, the most one item may weigh: alone, and full
    assertThat(flushes).containsExactly("BYTES 2 items 10 bytes", "OVERFLOW 1 items 7 bytes",
        "OVERFLOW 1 items 4 bytes", "BYTES 1 items 10 bytes");
    assertThat(batches).containsExactly(List.of("aaaa", "bbbbbb"), List.of("ccccccc"),
        List.of("dddd"), List.of("eeeeeeeeee"));
    assertThat(weighed).as("each item weighed once")
        .containsExactly("aaaa", "bbbbbb", "ccccccc", "dddd", "eeeeeeeeee");
    assertThat(s.maxWeightSeen).isEqualTo(10);
    assertThat(rejected).isEmpty();
  }

  @Test
  void theHeaviestItemSeenIsKeptAcrossFlushes() {
    BatchState<String> s = new BatchState<>(bytes(String::length, 100, 100, Oversize.REJECT),
        null);
    add(s, "aaa", "a");
    assertThat(s.maxWeightSeen).isEqualTo(3);
    batcher.accept(s, "bbbbb", 0, new CompletableFuture<>()); // the general path keeps it too
    assertThat(s.maxWeightSeen).isEqualTo(5);
    batcher.accept(s, "b", 0, new CompletableFuture<>());
    assertThat(s.maxWeightSeen).isEqualTo(5);
  }

  @Test
  void theWeigherRunsWithTheEmptiedSlotsPublished() {
    emptyOneSlotUnpublished();
    List<Integer> sizes = new ArrayList<>();
    BatchState<String> s = new BatchState<>(bytes(item -> {
      sizes.add(channel.size());
      return 1;
    }, 10, 10, Oversize.REJECT), null);
    add(s, "a");
    assertThat(sizes).containsExactly(15);
  }

  @Test
  void anItemOverThePerItemLimitIsRejectedSayingWhatItWeighsAndIsLogged() {
    BatchState<String> s = new BatchState<>(bytes(String::length, 20, 10, Oversize.REJECT), null);
    add(s, "aa", "xxxxxxxxxxx");
    CompletableFuture<Void> f = new CompletableFuture<>();
    batcher.accept(s, "yyyyyyyyyyyy", 0, f);
    assertThat(rejected).containsExactly("xxxxxxxxxxx", "yyyyyyyyyyyy");
    assertThat(failure(f))
        .isEqualTo("REJECTED: the item weighs 12 bytes, above the per-item limit of 10"
            + " (Oversize.REJECT)");
    assertThat(logged("the item weighs 11 bytes, above the per-item limit of 10"
        + " (Oversize.REJECT); handed to onReject: xxxxxxxxxxx")).hasSize(1);
    assertThat(s.size()).isEqualTo(1);
    assertThat(s.bytes).isEqualTo(2);
    assertThat(s.maxWeightSeen).as("an oversize item does not count").isEqualTo(2);
    assertThat(batcher.bufferedItems()).isEqualTo(1);
    assertThat(flushes).isEmpty();
  }

  @Test
  void aWeightOfZeroIsAcceptedAndANegativeOneRejectsTheItem() {
    BatchState<String> s = new BatchState<>(bytes(item -> item.equals("neg") ? -1 : 0, 10, 10,
        Oversize.REJECT), null);
    CompletableFuture<Void> zero = new CompletableFuture<>();
    batcher.accept(s, "zero", 0, zero);
    add(s, "light");
    CompletableFuture<Void> neg = new CompletableFuture<>();
    batcher.accept(s, "neg", 0, neg);
    add(s, "neg");
    assertThat(s.size()).isEqualTo(2);
    assertThat(zero).isNotDone();
    assertThat(rejected).containsExactly("neg", "neg");
    assertThat(failure(neg)).isEqualTo("REJECTED: the weigher failed on the item:"
        + " java.lang.IllegalArgumentException: weigher returned -1 (must be >= 0)"
        + " (cause IllegalArgumentException)");
    assertThat(logged("weigher threw; the item is handed to onReject")).hasSize(1);
  }

  @Test
  void anItemTheWeigherThrowsOnIsRejectedWithWhatItThrew() {
    BatchState<String> s = new BatchState<>(bytes(item -> {
      if (item.equals("bad")) {
        throw new IllegalStateException("cannot weigh " + item);
      }
      return 1;
    }, 10, 10, Oversize.REJECT), null);
    add(s, "a", "bad", "b");
    assertThat(rejected).containsExactly("bad");
    assertThat(s.size()).isEqualTo(2);
    assertThat(s.bytes).isEqualTo(2);
    CompletableFuture<Void> f = new CompletableFuture<>();
    batcher.accept(s, "bad", 0, f);
    assertThat(failure(f)).isEqualTo("REJECTED: the weigher failed on the item:"
        + " java.lang.IllegalStateException: cannot weigh bad (cause IllegalStateException)");
    assertThat(problems.fatal()).isNull();
  }

  @Test
  void aVirtualMachineErrorFromTheWeigherIsRecordedAsFatal() {
    OutOfMemoryError oom = new OutOfMemoryError("test");
    BatchState<String> s = new BatchState<>(bytes(item -> {
      throw oom;
    }, 10, 10, Oversize.REJECT), null);
    add(s, "a");
    assertThat(rejected).containsExactly("a");
    assertThat(problems.fatal()).isSameAs(oom);
  }

  @Test
  void anOversizeItemSentAloneFlushesTheBatchBeforeItAndGoesInABatchOfItsOwn() {
    BatchState<String> s = new BatchState<>(bytes(String::length, 10, 5, Oversize.SEND_ALONE),
        null);
    add(s, "aa", "bbbbbbbb");
    assertThat(batches).containsExactly(List.of("aa"), List.of("bbbbbbbb"));
    add(s, "ddddddddd", "cc"); // into an empty batch: no empty flush before it
    assertThat(flushes).containsExactly("OVERFLOW 1 items 2 bytes", "OVERSIZE 1 items 8 bytes",
        "OVERSIZE 1 items 9 bytes");
    assertThat(s.size()).isEqualTo(1);
    assertThat(rejected).isEmpty();
    assertThat(s.maxWeightSeen).as("an oversize item does not count").isEqualTo(2);
  }

  @Test
  void anOversizeItemSentAloneIsStillSubjectToCanAdd() {
    Limits<String> limits = new Limits<>(Integer.MAX_VALUE, String::length, 10, 10, 5,
        Oversize.SEND_ALONE, List.of(), List.of((batch, item) -> !item.startsWith("x")), List.of(),
        LINGER, 4);
    BatchState<String> s = new BatchState<>(limits, null);
    add(s, "xxxxxxxx");
    assertThat(rejected).containsExactly("xxxxxxxx");
    assertThat(flushes).isEmpty();
    assertThat(s.size()).isZero();
  }

  @Test
  void aByteLimitWithConditionsAsksThemForEveryItem() {
    Limits<String> limits = new Limits<>(Integer.MAX_VALUE, String::length, 10, 10, 10,
        Oversize.REJECT, List.of(), List.of((batch, item) -> !item.equals("no")), List.of(),
        LINGER, 4);
    BatchState<String> s = new BatchState<>(limits, null);
    assertThat(s.bytesOnly).isFalse();
    add(s, "a", "no", "b");
    assertThat(rejected).containsExactly("no");
    assertThat(s.size()).isEqualTo(2);
    assertThat(s.bytes).isEqualTo(2);
  }

  // ---- custom conditions ----

  @Test
  void willOverflowIsAskedFromTheSecondItemOnAndFlushesTheBatchBeforeTheItem() {
    List<String> asked = new ArrayList<>();
    BiPredicate<List<String>, String> bang = (batch, item) -> {
      asked.add("first " + batch + " " + item);
      return item.startsWith("!");
    };
    BiPredicate<List<String>, String> never = (batch, item) -> {
      asked.add("second " + batch.size() + " " + item);
      return false;
    };
    BatchState<String> s = new BatchState<>(conditions(10, List.of(bang, never), List.of(),
        List.of()), null);
    assertThat(s.countOnly).isFalse();
    add(s, "a", "b", "!c");
    assertThat(asked).containsExactly("first [a] b", "second 1 b", "first [a, b] !c");
    assertThat(flushes).containsExactly("OVERFLOW 2 items 0 bytes");
    assertThat(s.size()).isEqualTo(1);
    assertThat(batcher.bufferedItems()).isEqualTo(1);
  }

  @Test
  void aWillOverflowThatThrowsRejectsTheItemAndLeavesTheBatch() {
    IllegalStateException boom = new IllegalStateException("boom");
    BatchState<String> s = new BatchState<>(conditions(10, List.of((batch, item) -> {
      if (item.equals("bad")) {
        throw boom;
      }
      return false;
    }), List.of(), List.of()), null);
    add(s, "a");
    CompletableFuture<Void> f = new CompletableFuture<>();
    batcher.accept(s, "bad", 0, f);
    assertThat(failure(f)).isEqualTo("REJECTED: willOverflow threw on the item:"
        + " java.lang.IllegalStateException: boom (cause IllegalStateException)");
    assertThat(rejected).containsExactly("bad");
    assertThat(flushes).isEmpty();
    assertThat(s.size()).isEqualTo(1);
    assertThat(logged("willOverflow threw; the item is handed to onReject")).hasSize(1);
  }

  @Test
  void canAddSeesTheBatchAndARefusalSaysHowBigItWas() {
    List<String> seen = new ArrayList<>();
    BiPredicate<List<String>, String> notNo = (batch, item) -> {
      seen.add(batch + " (" + batch.size() + ") + " + item);
      return !item.equals("no");
    };
    BiPredicate<List<String>, String> notNever = (batch, item) -> !item.equals("never");
    BatchState<String> s = new BatchState<>(conditions(10, List.of(), List.of(notNo, notNever),
        List.of()), null);
    add(s, "a", "no", "b");
    CompletableFuture<Void> never = new CompletableFuture<>();
    batcher.accept(s, "never", 0, never);
    assertThat(seen).containsExactly("[] (0) + a", "[a] (1) + no", "[a] (1) + b",
        "[a, b] (2) + never");
    assertThat(rejected).containsExactly("no", "never");
    assertThat(failure(never)).isEqualTo("REJECTED: canAdd refused the item (batch of 2 items)");
    assertThat(s.size()).isEqualTo(2);
    assertThat(batcher.bufferedItems()).isEqualTo(2);
  }

  @Test
  void theBatchAPolicySeesIsReadOnlyAndBoundedByItsSize() {
    List<String> failures = new ArrayList<>();
    BatchState<String> s = new BatchState<>(conditions(10, List.of(), List.of((batch, item) -> {
      failures.add(catching(() -> batch.get(batch.size())));
      failures.add(catching(() -> batch.add(item)));
      return true;
    }), List.of()), null);
    add(s, "a");
    assertThat(failures).containsExactly("IndexOutOfBoundsException",
        "UnsupportedOperationException");
  }

  private static String catching(Supplier<?> action) {
    try {
      return "returned " + action.get();
    } catch (RuntimeException e) {
      return e.getClass().getSimpleName();
    }
  }

  @Test
  void aCanAddThatThrowsRejectsTheItemWithWhatItThrew() {
    BatchState<String> s = new BatchState<>(conditions(10, List.of(), List.of((batch, item) -> {
      throw new IllegalStateException("no " + item);
    }), List.of()), null);
    CompletableFuture<Void> f = new CompletableFuture<>();
    batcher.accept(s, "a", 0, f);
    assertThat(failure(f)).isEqualTo("REJECTED: canAdd threw on the item:"
        + " java.lang.IllegalStateException: no a (cause IllegalStateException)");
    assertThat(rejected).containsExactly("a");
    assertThat(s.size()).isZero();
    assertThat(logged("canAdd threw; the item is handed to onReject")).hasSize(1);
    assertThat(problems.fatal()).isNull();
  }

  @Test
  void aVirtualMachineErrorFromAPolicyIsRecordedAsFatal() {
    StackOverflowError error = new StackOverflowError("test");
    BatchState<String> s = new BatchState<>(conditions(10, List.of(), List.of((batch, item) -> {
      throw error;
    }), List.of()), null);
    add(s, "a");
    assertThat(rejected).containsExactly("a");
    assertThat(problems.fatal()).isSameAs(error);
  }

  @Test
  void shouldFlushIsAskedAfterEachItemAndAnyOneThatSaysYesFlushes() {
    List<String> asked = new ArrayList<>();
    Predicate<List<String>> never = batch -> {
      asked.add("never " + batch);
      return false;
    };
    Predicate<List<String>> two = batch -> batch.size() == 2;
    BatchState<String> s = new BatchState<>(conditions(10, List.of(), List.of(),
        List.of(never, two)), null);
    add(s, "a");
    assertThat(flushes).isEmpty();
    add(s, "b");
    assertThat(flushes).containsExactly("CONDITION 2 items 0 bytes");
    assertThat(asked).containsExactly("never [a]", "never [a, b]");
  }

  @Test
  void aShouldFlushThatThrowsFlushesTheBatch() {
    BatchState<String> s = new BatchState<>(conditions(10, List.of(), List.of(),
        List.of(batch -> {
          if (batch.contains("bad")) {
            throw new IllegalStateException("boom");
          }
          return false;
        })), null);
    add(s, "a", "bad");
    assertThat(flushes).containsExactly("CONDITION 2 items 0 bytes");
    assertThat(logged("shouldFlush threw; flushing the batch now")).hasSize(1);
    assertThat(rejected).isEmpty();
  }

  @Test
  void aVirtualMachineErrorFromShouldFlushIsRecordedAsFatal() {
    OutOfMemoryError oom = new OutOfMemoryError("test");
    BatchState<String> s = new BatchState<>(conditions(10, List.of(), List.of(),
        List.of(batch -> {
          throw oom;
        })), null);
    add(s, "a");
    assertThat(problems.fatal()).isSameAs(oom);
  }

  @Test
  void policiesRunWithTheEmptiedSlotsPublished() {
    emptyOneSlotUnpublished();
    List<Integer> sizes = new ArrayList<>();
    BatchState<String> s = new BatchState<>(conditions(10, List.of(), List.of((batch, item) -> {
      sizes.add(channel.size());
      return true;
    }), List.of()), null);
    add(s, "a");
    assertThat(sizes).containsExactly(15);
  }

  // ---- refusals ----

  @Test
  void aRejectFailsTheFutureAndRunsOnRejectWithTheEmptiedSlotsPublished() {
    emptyOneSlotUnpublished();
    CompletableFuture<Void> f = new CompletableFuture<>();
    IllegalStateException cause = new IllegalStateException("why");
    batcher.reject("a", 0, f, "refused for a test", cause);
    assertThat(rejected).containsExactly("a");
    assertThat(sizesAtReject).containsExactly(15);
    assertThat(failure(f)).isEqualTo("REJECTED: refused for a test (cause IllegalStateException)");
    assertThatThrownBy(() -> f.get(0, TimeUnit.SECONDS)).hasRootCause(cause);
  }
}
