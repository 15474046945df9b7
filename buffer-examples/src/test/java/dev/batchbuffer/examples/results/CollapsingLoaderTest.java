package dev.batchbuffer.examples.results;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link CollapsingLoader} collapses concurrent loads into one lookup per batch of distinct keys,
 * answers every caller of a key with that lookup's value, answers a missing key with
 * {@code Optional.empty()}, fails exactly the callers of a failed lookup, and answers every pending
 * load on close. The linger runs on a manual clock, so nothing here waits on real time.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CollapsingLoaderTest {
  static final Duration LINGER = Duration.ofMillis(5);
  static final Duration WAIT = Duration.ofSeconds(10);

  final ManualTimeSource time = new ManualTimeSource();

  /** A value of one lookup: which key, and which lookup answered it. */
  record Value(String key, int lookup) {}

  /** A backend that records every lookup's keys and answers each key it knows with a new value. */
  static final class Backend implements CollapsingLoader.BatchLookup<String, Value> {
    final List<List<String>> lookups = new CopyOnWriteArrayList<>();
    final Set<String> missing;
    final Set<String> failing;

    Backend(Set<String> missing, Set<String> failing) {
      this.missing = missing;
      this.failing = failing;
    }

    Backend() {
      this(Set.of(), Set.of());
    }

    @Override
    public synchronized Map<String, Value> lookup(Set<String> keys) throws IOException {
      int n = lookups.size();
      lookups.add(List.copyOf(keys));
      for (String key : keys) {
        if (failing.contains(key)) {
          throw new IOException("lookup " + n + " failed on " + key);
        }
      }
      Map<String, Value> found = new HashMap<>();
      for (String key : keys) {
        if (!missing.contains(key)) {
          found.put(key, new Value(key, n));
        }
      }
      return found;
    }
  }

  @Test
  void hundredsOfConcurrentCallersWithDuplicateKeysShareOneLookupPerBatch() throws Exception {
    Backend backend = new Backend();
    int callers = 400;
    int distinct = 20;
    List<Future<Optional<Value>>> answers = new ArrayList<>();
    try (CollapsingLoader<String, Value> loader =
             CollapsingLoader.start(backend, LINGER, 100, 2, time);
         ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < callers; i++) {
        String key = "k" + (i % distinct);
        answers.add(threads.submit(() -> loader.load(key)));
      }
      for (int i = 0; i < callers; i++) {
        Value v = answers.get(i).get(WAIT.toSeconds(), TimeUnit.SECONDS).orElseThrow();
        assertThat(v.key()).isEqualTo("k" + (i % distinct));
        assertThat(backend.lookups.get(v.lookup())).as("the lookup that answered caller %d", i)
            .contains(v.key());
      }
    }
    // Batches of 100 calls (the clock never reaches the linger): 4 lookups, not 400.
    assertThat(backend.lookups).hasSize(callers / 100);
    int keysLookedUp = 0;
    for (List<String> keys : backend.lookups) {
      assertThat(keys).doesNotHaveDuplicates().hasSizeLessThanOrEqualTo(distinct);
      keysLookedUp += keys.size();
    }
    assertThat(keysLookedUp).isLessThanOrEqualTo(callers / 100 * distinct);
    // Every caller of a key in one lookup got the very same value: one answer per key per lookup.
    Set<Value> distinctAnswers = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    for (Future<Optional<Value>> answer : answers) {
      distinctAnswers.add(answer.get().orElseThrow());
    }
    assertThat(distinctAnswers).hasSize(keysLookedUp);
  }

  @Test
  void aPartialBatchIsLookedUpOnceTheLingerHasPassed() throws Exception {
    Backend backend = new Backend();
    try (CollapsingLoader<String, Value> loader =
             CollapsingLoader.start(backend, LINGER, 100, 1, time)) {
      CompletableFuture<Optional<Value>> a = loader.loadAsync("a");
      CompletableFuture<Optional<Value>> b = loader.loadAsync("b");
      CompletableFuture<Optional<Value>> a2 = loader.loadAsync("a");
      time.awaitTimedWaiters(1, WAIT); // the loop waits for the linger of its partial batch
      assertThat(backend.lookups).isEmpty();
      time.advance(LINGER);
      assertThat(a.get(WAIT.toSeconds(), TimeUnit.SECONDS)).contains(new Value("a", 0));
      assertThat(b.get(WAIT.toSeconds(), TimeUnit.SECONDS)).contains(new Value("b", 0));
      assertThat(a2.get(WAIT.toSeconds(), TimeUnit.SECONDS)).containsSame(a.get().orElseThrow());
      assertThat(backend.lookups).containsExactly(List.of("a", "b"));
    }
  }

  @Test
  void aMissingKeyIsAnsweredWithEmpty() throws Exception {
    Backend backend = new Backend(Set.of("ghost"), Set.of());
    try (CollapsingLoader<String, Value> loader =
             CollapsingLoader.start(backend, LINGER, 3, 1, time)) {
      CompletableFuture<Optional<Value>> ghost = loader.loadAsync("ghost");
      CompletableFuture<Optional<Value>> present = loader.loadAsync("a");
      CompletableFuture<Optional<Value>> ghostAgain = loader.loadAsync("ghost");
      assertThat(ghost.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEmpty();
      assertThat(ghostAgain.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEmpty();
      assertThat(present.get(WAIT.toSeconds(), TimeUnit.SECONDS)).contains(new Value("a", 0));
    }
    assertThat(backend.lookups).containsExactly(List.of("ghost", "a"));
  }

  @Test
  void aFailedLookupFailsExactlyTheCallersOfItsKeysWhileOtherBatchesSucceed() throws Exception {
    Backend backend = new Backend(Set.of(), Set.of("bad"));
    List<CompletableFuture<Optional<Value>>> first = new ArrayList<>();
    List<CompletableFuture<Optional<Value>>> second = new ArrayList<>();
    try (CollapsingLoader<String, Value> loader =
             CollapsingLoader.start(backend, LINGER, 3, 1, time)) {
      for (String key : List.of("a", "bad", "a")) {   // batch 1: its lookup fails
        first.add(loader.loadAsync(key));
      }
      for (String key : List.of("a", "c", "c")) {     // batch 2: its lookup succeeds
        second.add(loader.loadAsync(key));
      }
    }
    assertThat(backend.lookups).containsExactly(List.of("a", "bad"), List.of("a", "c"));
    Set<Throwable> causes = new HashSet<>();
    for (CompletableFuture<Optional<Value>> f : first) {
      DeliveryException e = failure(f);
      assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED);
      assertThat(e.getCause()).isInstanceOf(IOException.class).hasMessage("lookup 0 failed on bad");
      causes.add(e.getCause());
    }
    assertThat(causes).as("one lookup, one failure").hasSize(1);
    assertThat(second.get(0).get()).contains(new Value("a", 1));
    assertThat(second.get(1).get()).contains(new Value("c", 1));
    assertThat(second.get(2).get()).containsSame(second.get(1).get().orElseThrow());
  }

  @Test
  void loadThrowsTheDeliveryExceptionOfAFailedLookup() throws Exception {
    Backend backend = new Backend(Set.of(), Set.of("bad"));
    try (CollapsingLoader<String, Value> loader =
             CollapsingLoader.start(backend, LINGER, 1, 1, time)) {
      assertThatThrownBy(() -> loader.load("bad"))
          .isInstanceOfSatisfying(DeliveryException.class,
              e -> assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED))
          .hasCauseInstanceOf(IOException.class);
      assertThat(loader.load("good")).contains(new Value("good", 1));
    }
  }

  @Test
  void closeAnswersEveryPendingLoad() throws Exception {
    Backend backend = new Backend();
    CollapsingLoader<String, Value> loader = CollapsingLoader.start(backend, LINGER, 100, 1, time);
    List<CompletableFuture<Optional<Value>>> pending = new ArrayList<>();
    for (String key : List.of("a", "b", "a", "c", "b")) {
      pending.add(loader.loadAsync(key));
    }
    time.awaitTimedWaiters(1, WAIT); // parked on the linger, which never passes
    assertThat(pending).noneMatch(CompletableFuture::isDone);
    loader.close();
    assertThat(pending).allMatch(f -> f.isDone() && !f.isCompletedExceptionally());
    assertThat(backend.lookups).containsExactly(List.of("a", "b", "c"));
    assertThat(pending.get(4).get()).contains(new Value("b", 0));
    assertThatThrownBy(() -> loader.loadAsync("late")).isInstanceOf(IllegalStateException.class);
  }

  static DeliveryException failure(CompletableFuture<?> f) throws InterruptedException {
    try {
      f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof DeliveryException d) {
        return d;
      }
      throw new AssertionError("not a DeliveryException", e.getCause());
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("the future did not complete", e);
    }
    throw new AssertionError("the future succeeded: " + f.join());
  }
}
