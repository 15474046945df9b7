package dev.batchbuffer.examples.demo;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.Config;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.Options;
import java.time.Duration;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * The demo: producer virtual threads create orders and add them to a {@link Buffer}; its flush
 * writes each batch to a SQLite file with one {@code executeBatch} and one commit. A periodic task of
 * the buffer prints a live progress line from {@link Buffer#stats()}; at the end the demo prints the
 * final stats, a row-count and checksum check, and how much slower the same rows are when written
 * one per transaction.
 *
 * <p>"Oldest at flush" is the age of each batch's first item when the flush function is called:
 * how long the buffer held the item that waited longest, from {@code add} returning to the write
 * starting (the buffer's stats give the flush's own latency, and {@code BufferStats.oldestItemAge}
 * only the current batch's, so the demo measures it: one timestamp per order, 8 bytes each).
 *
 * <p>Run it with {@code ./mvnw -q compile exec:exec}; options go in
 * {@code -Ddemo.args="--items 500000 --producers 16"}.
 */
public final class Demo {
  private Demo() {}

  /**
   * Runs the demo and exits with its status: 0 when the table holds exactly the rows produced, 1 when
   * it does not, 2 on a bad option, 3 when the backend cannot run here (e.g. node is missing).
   *
   * @param args the options; {@code --help} lists them
   * @throws Exception if the database cannot be written
   */
  public static void main(String[] args) throws Exception {
    System.exit(run(args, System.out, System.err));
  }

  @SuppressWarnings("try") // a backend's close() may be interrupted while it stops its server
  static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
    DemoOptions options;
    try {
      options = DemoOptions.parse(args);
    } catch (IllegalArgumentException e) {
      err.println("demo: " + e.getMessage());
      err.println(DemoOptions.USAGE);
      return 2;
    }
    if (options.help()) {
      out.println(DemoOptions.USAGE);
      return 0;
    }
    DemoBackend opened;
    try {
      opened = DemoBackends.open(options.backend(), options);
    } catch (DemoBackends.Unavailable e) {
      err.println("demo: " + e.getMessage());
      return 3;
    }
    try (DemoBackend backend = opened) {
      return new Demo.Run(options, backend, out).execute();
    }
  }

  /** The nearest-rank percentile {@code q} of sorted {@code values}; 0 when there are none. */
  static long percentile(long[] values, double q) {
    if (values.length == 0) {
      return 0;
    }
    int rank = (int) Math.ceil(q * values.length);
    return values[Math.max(0, Math.min(values.length, rank) - 1)];
  }

  /** One run of the demo. */
  private static final class Run {
    private final DemoOptions options;
    private final DemoBackend backend;
    private final PrintStream out;
    private final AtomicReference<@Nullable Exception> firstError = new AtomicReference<>();
    private final AtomicReference<@Nullable Buffer<Order>> running = new AtomicReference<>();
    private long lastFlushed;
    private long lastTick;
    private long start;
    private final LongAdder expectedChecksum = new LongAdder();
    /** When each order's add returned (System.nanoTime), by id; 0 until then. */
    private final AtomicLongArray addedAt;
    /** The age of each batch's first order when its flush started, in nanoseconds. */
    private final ConcurrentLinkedQueue<Long> oldestAtFlush = new ConcurrentLinkedQueue<>();

    Run(DemoOptions options, DemoBackend backend, PrintStream out) {
      this.options = options;
      this.backend = backend;
      this.out = out;
      this.addedAt = new AtomicLongArray(options.items());
    }

    int execute() throws Exception {
      Config<Order> config = Config.<Order>builder(this::timedWrite)
          .policy(backend.policy(options.capacity()))
          .chanSize(options.chanSize())
          .flushInterval(options.interval())
          .onFlushError((e, batch) -> firstError.compareAndSet(null, e))
          .build();
      out.printf(Locale.ROOT, "batchbuffer demo: %,d orders from %d producers -> %s%n",
          options.items(), options.producers(), backend.describe());
      out.printf(Locale.ROOT, "batches of up to %d rows (%s each), channel of %d, linger %d ms%n",
          config.capacity(), backend.batchUnit(), config.chanSize(), config.flushInterval().toMillis());

      start = System.nanoTime();
      lastTick = start;
      Buffer<Order> buffer = Buffer.start(config, Options.<Order>builder().name("orders")
          .maxInFlight(backend.maxInFlight())
          .periodicAsync(Duration.ofMillis(500), this::progress).build());
      running.set(buffer);
      List<Thread> producers = new ArrayList<>();
      for (int p = 0; p < options.producers(); p++) {
        int producer = p;
        producers.add(Thread.ofVirtual().name("producer-" + p).start(() -> produce(buffer, producer)));
      }
      for (Thread t : producers) {
        t.join();
      }
      long closeStart = System.nanoTime();
      buffer.close();
      long end = System.nanoTime();

      BufferStats stats = buffer.stats();
      double seconds = (end - start) / 1e9;
      double rowsPerSecond = stats.flushed() / seconds;
      out.println();
      out.println("report (from buffer.stats())");
      out.printf(Locale.ROOT, "  rows written      %,d%n", stats.flushed());
      out.printf(Locale.ROOT, "  accepted          %,d (failed %,d, rejected %,d, waiting %,d)%n",
          stats.accepted(), stats.failed(), stats.rejected(), stats.itemsWaiting());
      out.printf(Locale.ROOT, "  batches           %,d (%s)%n", stats.flushes(), reasons(stats));
      out.printf(Locale.ROOT, "  mean batch size   %.1f (min %d, max %d)%n",
          stats.meanBatchSize(), stats.minBatchSize(), stats.maxBatchSize());
      out.printf(Locale.ROOT, "  flush latency     p50 %.2f ms, p99 %.2f ms, max %.2f ms%n",
          millis(stats.flushLatencyP50()), millis(stats.flushLatencyP99()),
          millis(stats.flushLatencyMax()));
      long[] ages = sortedAges();
      out.printf(Locale.ROOT, "  oldest at flush   p50 %.2f ms, p99 %.2f ms, max %.2f ms%n",
          percentile(ages, 0.50) / 1e6, percentile(ages, 0.99) / 1e6, percentile(ages, 1.0) / 1e6);
      out.printf(Locale.ROOT, "  throughput        %,.0f rows/s (%.2f s in all)%n", rowsPerSecond, seconds);
      out.printf(Locale.ROOT, "  time to close     %.1f ms (drain + final flush)%n", (end - closeStart) / 1e6);
      out.printf(Locale.ROOT, "  state             %s%n", stats.state());
      if (stats.failed() > 0) {
        out.printf(Locale.ROOT, "  failed rows       %,d (first error: %s)%n", stats.failed(), firstError.get());
      }
      DemoBackend.Arrived arrived = backend.arrived();
      boolean ok = arrived.count() == options.items() && arrived.checksum() == expectedChecksum.sum()
          && arrived.duplicates() == 0;
      out.printf(Locale.ROOT, "  check             %s: %s has %,d %s (expected %,d), checksum %d (expected %d), %d duplicates%n",
          ok ? "OK" : "MISMATCH", backend.arrivedPlace(), arrived.count(), backend.arrivedUnit(),
          options.items(), arrived.checksum(),
          expectedChecksum.sum(), arrived.duplicates());

      if (options.slice() > 0) {
        compareWithOneRowPerTransaction(rowsPerSecond);
      }
      return ok ? 0 : 1;
    }

    private void produce(Buffer<Order> buffer, int producer) {
      long checksum = 0;
      for (long id = producer; id < options.items(); id += options.producers()) {
        Order order = order(id, producer);
        try {
          buffer.add(order);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
        addedAt.setRelease((int) id, System.nanoTime());
        checksum += order.checksum();
      }
      expectedChecksum.add(checksum);
    }

    private void compareWithOneRowPerTransaction(double batchedRowsPerSecond) throws Exception {
      List<Order> slice = new ArrayList<>(options.slice());
      for (int i = 0; i < options.slice(); i++) {
        slice.add(order(options.items() + (long) i, 0));
      }
      long start = System.nanoTime();
      backend.writeOneByOne(slice);
      double seconds = (System.nanoTime() - start) / 1e9;
      double singleRowsPerSecond = slice.size() / seconds;
      out.println();
      out.println("why batch");
      out.printf(Locale.ROOT, "  one row per transaction  %,d rows in %.2f s = %,.0f rows/s%n",
          slice.size(), seconds, singleRowsPerSecond);
      out.printf(Locale.ROOT, "  batched through Buffer   %,.0f rows/s%n", batchedRowsPerSecond);
      out.printf(Locale.ROOT, "  speed-up                 %.0fx%n", batchedRowsPerSecond / singleRowsPerSecond);
    }

    /**
     * The flush function: notes the age of the batch's first order, then writes the batch. An order
     * flushed before its producer noted the time (a batch it completed) counts as age 0.
     */
    private void timedWrite(List<Order> batch) throws Exception {
      long now = System.nanoTime();
      long added = addedAt.getAcquire((int) batch.get(0).id());
      oldestAtFlush.add(added == 0 ? 0 : Math.max(0, now - added));
      backend.writeBatch(batch);
    }

    private long[] sortedAges() {
      long[] ages = oldestAtFlush.stream().mapToLong(Long::longValue).toArray();
      java.util.Arrays.sort(ages);
      return ages;
    }

    /** The periodic task: one progress line from the stats, every 500 ms, off the loop. */
    private void progress() {
      Buffer<Order> buffer = running.get();
      if (buffer == null) {
        return;
      }
      BufferStats s = buffer.stats();
      long now = System.nanoTime();
      double rate = (s.flushed() - lastFlushed) / ((now - lastTick) / 1e9);
      lastFlushed = s.flushed();
      lastTick = now;
      out.println(String.format(Locale.ROOT,
          "  %5.1f s  %,11d rows  %,9.0f rows/s  %,6d waiting  %,5d in flight  %,7d batches",
          (now - start) / 1e9, s.flushed(), rate, s.itemsWaiting(), s.itemsFlushing(),
          s.flushes()));
    }

    private static String reasons(BufferStats stats) {
      StringBuilder b = new StringBuilder();
      for (FlushReason r : FlushReason.values()) {
        long n = stats.flushes(r);
        if (n > 0) {
          b.append(b.length() == 0 ? "" : ", ").append(r.name().toLowerCase(Locale.ROOT))
              .append(' ').append(String.format(Locale.ROOT, "%,d", n));
        }
      }
      return b.toString();
    }

    private static double millis(Duration d) {
      return d.toNanos() / 1e6;
    }

    private static Order order(long id, int producer) {
      return new Order(id, producer, "customer-" + (id % 997), (id * 7919) % 100_000,
          1_760_000_000_000L + id);
    }
  }
}
