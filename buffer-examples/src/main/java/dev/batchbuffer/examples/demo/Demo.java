package dev.batchbuffer.examples.demo;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.Options;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * The demo: producer virtual threads create orders and add them to a {@link Buffer}; its flush
 * writes each batch to a SQLite file with one {@code executeBatch} and one commit. It prints a live
 * progress line, a report with a row-count and checksum check, and then how much slower the same
 * rows are when written one per transaction.
 *
 * <p>Run it with {@code ./mvnw -q compile exec:exec}; options go in
 * {@code -Ddemo.args="--items 500000 --producers 16"}.
 */
public final class Demo {
  private Demo() {}

  /**
   * Runs the demo and exits with its status: 0 when the table holds exactly the rows produced, 1 when
   * it does not, 2 on a bad option.
   *
   * @param args the options; {@code --help} lists them
   * @throws Exception if the database cannot be written
   */
  public static void main(String[] args) throws Exception {
    System.exit(run(args, System.out, System.err));
  }

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
    Path db = options.db();
    if (db == null) {
      db = Files.createTempFile("batchbuffer-demo-", ".db");
      db.toFile().deleteOnExit();
    }
    try (OrderStore store = new OrderStore(db)) {
      return new Demo.Run(options, store, out).execute(db);
    }
  }

  /** One run of the demo. */
  private static final class Run {
    private final DemoOptions options;
    private final OrderStore store;
    private final PrintStream out;
    private final AtomicLong rowsWritten = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong rowsFailed = new AtomicLong();
    private final AtomicReference<@Nullable Exception> firstError = new AtomicReference<>();
    private final LongAdder expectedChecksum = new LongAdder();

    Run(DemoOptions options, OrderStore store, PrintStream out) {
      this.options = options;
      this.store = store;
      this.out = out;
    }

    int execute(Path db) throws Exception {
      Config<Order> config = Config.builder((List<Order> batch) -> {
            store.insertBatch(batch);
            rowsWritten.addAndGet(batch.size());
            batches.incrementAndGet();
          })
          .capacity(options.capacity())
          .chanSize(options.chanSize())
          .flushInterval(options.interval())
          .onFlushError((e, batch) -> {
            rowsFailed.addAndGet(batch.size());
            firstError.compareAndSet(null, e);
          })
          .build();
      out.printf(Locale.ROOT, "batchbuffer demo: %,d orders from %d producers -> SQLite %s%n",
          options.items(), options.producers(), db);
      out.printf(Locale.ROOT, "batches of up to %d rows (one executeBatch + commit each), "
          + "channel of %d, linger %d ms%n", config.capacity(), config.chanSize(),
          config.flushInterval().toMillis());

      long start = System.nanoTime();
      Buffer<Order> buffer = Buffer.start(config, Options.builder().name("orders").build());
      Thread progress = Thread.ofVirtual().name("progress").start(() -> progress(buffer, start));
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
      progress.interrupt();
      progress.join();

      double seconds = (end - start) / 1e9;
      double rowsPerSecond = rowsWritten.get() / seconds;
      out.println();
      out.println("report");
      out.printf(Locale.ROOT, "  rows written      %,d%n", rowsWritten.get());
      out.printf(Locale.ROOT, "  batches           %,d%n", batches.get());
      out.printf(Locale.ROOT, "  mean batch size   %.1f%n",
          batches.get() == 0 ? 0.0 : (double) rowsWritten.get() / batches.get());
      out.printf(Locale.ROOT, "  throughput        %,.0f rows/s (%.2f s in all)%n", rowsPerSecond, seconds);
      out.printf(Locale.ROOT, "  time to close     %.1f ms (drain + final flush)%n", (end - closeStart) / 1e6);
      if (rowsFailed.get() > 0) {
        out.printf(Locale.ROOT, "  failed rows       %,d (first error: %s)%n", rowsFailed.get(), firstError.get());
      }
      long[] table = store.countAndChecksum();
      boolean ok = table[0] == options.items() && table[1] == expectedChecksum.sum();
      out.printf(Locale.ROOT, "  check             %s: table has %,d rows (expected %,d), checksum %d (expected %d)%n",
          ok ? "OK" : "MISMATCH", table[0], options.items(), table[1], expectedChecksum.sum());

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
      store.insertOneByOne(slice);
      double seconds = (System.nanoTime() - start) / 1e9;
      double singleRowsPerSecond = slice.size() / seconds;
      out.println();
      out.println("why batch");
      out.printf(Locale.ROOT, "  one row per transaction  %,d rows in %.2f s = %,.0f rows/s%n",
          slice.size(), seconds, singleRowsPerSecond);
      out.printf(Locale.ROOT, "  batched through Buffer   %,.0f rows/s%n", batchedRowsPerSecond);
      out.printf(Locale.ROOT, "  speed-up                 %.0fx%n", batchedRowsPerSecond / singleRowsPerSecond);
    }

    private void progress(Buffer<Order> buffer, long start) {
      long lastRows = 0;
      long lastTime = start;
      while (!Thread.currentThread().isInterrupted()) {
        try {
          TimeUnit.MILLISECONDS.sleep(500); // a progress tick, not a wait for a condition
        } catch (InterruptedException e) {
          return;
        }
        long now = System.nanoTime();
        long rows = rowsWritten.get();
        double rate = (rows - lastRows) / ((now - lastTime) / 1e9);
        lastRows = rows;
        lastTime = now;
        String line = String.format(Locale.ROOT,
            "  %5.1f s  %,11d rows  %,9.0f rows/s  %,7d batches  %,6d waiting",
            (now - start) / 1e9, rows, rate, batches.get(), buffer.itemsInChannel());
        out.println(line);
      }
    }

    private static Order order(long id, int producer) {
      return new Order(id, producer, "customer-" + (id % 997), (id * 7919) % 100_000,
          1_760_000_000_000L + id);
    }
  }
}
