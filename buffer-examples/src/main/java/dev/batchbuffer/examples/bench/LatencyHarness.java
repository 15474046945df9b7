package dev.batchbuffer.examples.bench;

import dev.batchbuffer.FlushFunc;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * Latency at a low, steady rate, where the linger decides: per contender, one producer adds one item
 * per millisecond, paced to an absolute schedule, for a few seconds (batches of 100, 5 ms linger,
 * a queue of 200). It records each item's latency (from the {@code add} call to the flush function
 * receiving it) and each batch's oldest-item age (at flush entry, the time since the {@code add} of
 * its first item), and prints p50, p99 and max of both per contender; {@code --json FILE} writes
 * them for {@code scripts/chart.py}. Not a JMH benchmark: a single timeline per contender, measured
 * with {@code System.nanoTime()}, after a warm-up run of the same kind.
 *
 * <p>Run: {@code ./mvnw -q compile exec:exec@latency -Dlatency.args="--seconds 10"}. Options:
 * {@code --seconds} (default 10), {@code --warmup-seconds} (2), {@code --contenders} (a
 * comma-separated list of {@link Peer} labels, or {@code all}), {@code --json FILE}.
 */
public final class LatencyHarness {
  /** Items per second: one per millisecond. */
  static final int RATE = 1000;

  private LatencyHarness() {}

  /**
   * What to run.
   *
   * @param contenders the contenders, in order
   * @param seconds how long each contender is measured
   * @param warmupSeconds how long each contender runs first, unmeasured
   * @param json where to write the results, if anywhere
   */
  public record Options(List<Peer> contenders, double seconds, double warmupSeconds,
      @Nullable Path json) {}

  /**
   * One contender's latencies, in nanoseconds.
   *
   * @param contender the contender's label
   * @param batches how many batches the flushes saw
   * @param itemLatency add call to flush entry, per item
   * @param oldestAge at flush entry, the age of the batch's first item, per batch
   */
  public record Result(String contender, int batches, HarnessSupport.Summary itemLatency,
      HarnessSupport.Summary oldestAge) {
    String json() {
      return "{\"contender\": " + HarnessSupport.quote(contender) + ", \"items\": "
          + itemLatency.count() + ", \"batches\": " + batches + ", \"meanBatch\": "
          + HarnessSupport.number((double) itemLatency.count() / batches)
          + ", \"itemLatencyNanos\": " + itemLatency.json() + ", \"oldestAgeNanos\": "
          + oldestAge.json() + "}";
    }
  }

  /**
   * Runs the harness from the command line.
   *
   * @param args the options above
   * @throws Exception if a contender fails or the JSON cannot be written
   */
  public static void main(String[] args) throws Exception {
    HarnessSupport.Args a = new HarnessSupport.Args(args,
        Set.of("seconds", "warmup-seconds", "contenders", "json"));
    run(new Options(Peer.parse(a.text("contenders", "all")), a.decimal("seconds", 10),
        a.decimal("warmup-seconds", 2), a.path("json")), System.out);
  }

  /**
   * Measures every contender in turn, prints the table and writes the JSON.
   *
   * @param options what to run
   * @param out where the table goes
   * @return the results, in the options' order
   * @throws InterruptedException if interrupted while pacing
   * @throws IOException if the JSON cannot be written
   */
  public static List<Result> run(Options options, PrintStream out)
      throws InterruptedException, IOException {
    out.printf(Locale.ROOT, "%d item/s from one producer for %.1f s per contender (warm-up %.1f s),"
        + " batches of %d, linger %d ms%n", RATE, options.seconds(), options.warmupSeconds(),
        Contender.Settings.DEFAULT.capacity(), Contender.Settings.DEFAULT.linger().toMillis());
    out.printf(Locale.ROOT, "%-12s %8s %7s %9s %9s %9s %9s %9s %9s%n", "contender", "items",
        "batch", "lat p50", "lat p99", "lat max", "age p50", "age p99", "age max");
    List<Result> results = new ArrayList<>();
    for (Peer peer : options.contenders()) {
      if (options.warmupSeconds() > 0) {
        measure(peer, options.warmupSeconds());
      }
      Result r = measure(peer, options.seconds());
      results.add(r);
      out.printf(Locale.ROOT, "%-12s %8d %7.1f %9s %9s %9s %9s %9s %9s%n", r.contender(),
          r.itemLatency().count(), (double) r.itemLatency().count() / r.batches(),
          HarnessSupport.millis(r.itemLatency().p50()), HarnessSupport.millis(r.itemLatency().p99()),
          HarnessSupport.millis(r.itemLatency().max()), HarnessSupport.millis(r.oldestAge().p50()),
          HarnessSupport.millis(r.oldestAge().p99()), HarnessSupport.millis(r.oldestAge().max()));
    }
    out.println("(milliseconds; lat = add call to flush entry per item, age = oldest item's age at"
        + " flush entry per batch)");
    Path json = options.json();
    if (json != null) {
      HarnessSupport.writeJson(json, "latency", "\"seconds\": "
          + HarnessSupport.number(options.seconds()) + ", \"ratePerSecond\": " + RATE
          + ", \"capacity\": " + Contender.Settings.DEFAULT.capacity() + ", \"lingerNanos\": "
          + Contender.Settings.DEFAULT.lingerNanos(), results.stream().map(Result::json).toList());
      out.println("wrote " + json);
    }
    return results;
  }

  /** One paced run of one contender. */
  static Result measure(Peer peer, double seconds) throws InterruptedException {
    int n = Math.max(1, (int) Math.round(seconds * RATE));
    Long[] items = new Long[n];
    for (int i = 0; i < n; i++) {
      items[i] = (long) i;
    }
    long[] added = new long[n];
    long[] received = new long[n];
    boolean[] seen = new boolean[n];
    long[] ages = new long[n];
    AtomicInteger batches = new AtomicInteger();
    AtomicInteger flushed = new AtomicInteger();
    FlushFunc<Long> flush = batch -> {
      long now = System.nanoTime();
      ages[batches.getAndIncrement()] = now - added[(int) (long) batch.get(0)];
      for (Long item : batch) {
        received[(int) (long) item] = now;
        seen[(int) (long) item] = true;
      }
      flushed.addAndGet(batch.size());
    };
    Contender<Long> contender = peer.start(flush, Contender.Settings.DEFAULT);
    long interval = 1_000_000_000L / RATE;
    long start = System.nanoTime() + 10_000_000; // let the contender's threads start
    try {
      for (int i = 0; i < n; i++) {
        long at = start + i * interval;
        for (long wait = at - System.nanoTime(); wait > 0; wait = at - System.nanoTime()) {
          LockSupport.parkNanos(wait);
        }
        added[i] = System.nanoTime();
        contender.add(items[i]);
      }
    } finally {
      contender.close();
    }
    if (flushed.get() != n) {
      throw new IllegalStateException(peer.label() + " flushed " + flushed.get() + " items of " + n);
    }
    long[] latencies = new long[n];
    for (int i = 0; i < n; i++) {
      if (!seen[i]) {
        throw new IllegalStateException(peer.label() + " never flushed item " + i);
      }
      latencies[i] = received[i] - added[i];
    }
    int b = batches.get();
    return new Result(peer.label(), b, HarnessSupport.summarize(latencies, n),
        HarnessSupport.summarize(ages, b));
  }
}
