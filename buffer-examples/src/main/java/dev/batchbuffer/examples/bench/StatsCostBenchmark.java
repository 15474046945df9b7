package dev.batchbuffer.examples.bench;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferListener;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.Config;
import dev.batchbuffer.FlushInfo;
import dev.batchbuffer.Options;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * What observing a buffer costs: the {@link AddFlushBenchmark} workload (2 producers, batches of
 * 100, 5 ms linger, channel of 200) with nobody reading its stats, with a scraper thread reading
 * {@code stats()} every 100 ms (as a metrics registry would), and with that plus a
 * {@link BufferListener} that counts every flush. Each iteration checks that the flushes saw
 * exactly the items added.
 *
 * <p>Run: {@code ./mvnw -q compile exec:exec@bench -Dbench.args="StatsCostBenchmark -prof gc"}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class StatsCostBenchmark {

  /** A buffer observed as {@link #observer} says. */
  @State(Scope.Benchmark)
  public static class ObservedState extends Ledger {
    /** {@code never}, {@code stats100ms} or {@code stats100msAndListener}. */
    @Param({"never", "stats100ms", "stats100msAndListener"})
    public String observer = "never";

    Buffer<Long> buffer;
    private @Nullable ScheduledExecutorService scraper;
    private @Nullable ScheduledFuture<?> reads;
    /** Where the scraper leaves what it read, so the reads cannot be optimised away. */
    volatile @Nullable BufferStats lastRead;
    final LongAdder heardFlushes = new LongAdder();

    @Setup(Level.Iteration)
    public void start() {
      reset();
      Options.Builder<Long> options = Options.builder();
      if (observer.equals("stats100msAndListener")) {
        options.listener(new BufferListener<Long>() {
          @Override
          public void flushed(FlushInfo info) {
            heardFlushes.add(info.items());
          }
        });
      }
      buffer = Buffer.start(Config.builder(this::flush).capacity(Ledger.CAPACITY)
          .chanSize(Ledger.CHANNEL).flushInterval(Ledger.LINGER).build(),
          options.build());
      if (!observer.equals("never")) {
        ScheduledExecutorService s = Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "stats-scraper");
          t.setDaemon(true);
          return t;
        });
        Buffer<Long> b = buffer;
        reads = s.scheduleAtFixedRate(() -> lastRead = b.stats(), 100, 100, TimeUnit.MILLISECONDS);
        scraper = s;
      }
    }

    @TearDown(Level.Iteration)
    public void closeAndVerify() throws InterruptedException {
      ScheduledExecutorService s = scraper;
      ScheduledFuture<?> r = reads;
      if (s != null && r != null) {
        if (r.isDone()) {
          throw new IllegalStateException("the stats reads stopped", failure(r));
        }
        s.shutdownNow();
        s.awaitTermination(10, TimeUnit.SECONDS);
        scraper = null;
      }
      buffer.close();
      verify();
      BufferStats stats = buffer.stats();
      if (stats.flushed() != flushedCount.sum()) {
        throw new IllegalStateException("stats say " + stats.flushed() + " flushed, the flushes saw "
            + flushedCount.sum());
      }
      if (observer.equals("stats100msAndListener") && heardFlushes.sum() != flushedCount.sum()) {
        throw new IllegalStateException("the listener heard " + heardFlushes.sum() + " items");
      }
      heardFlushes.reset();
    }
  }

  private static @Nullable Throwable failure(ScheduledFuture<?> done) {
    try {
      done.get();
      return null;
    } catch (java.util.concurrent.ExecutionException e) {
      return e.getCause();
    } catch (InterruptedException | java.util.concurrent.CancellationException e) {
      return e;
    }
  }

  /** A producer thread registered with the observed state. */
  @State(Scope.Thread)
  public static class ObservedProducer extends Producer {
    /**
     * Registers with this iteration's ledger.
     *
     * @param state the buffer state, set up first
     */
    @Setup(Level.Iteration)
    public void setUp(ObservedState state) {
      register(state);
    }
  }

  /**
   * Two producers adding to the observed buffer.
   *
   * @param state the buffer
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(2)
  public void add(ObservedState state, ObservedProducer producer) throws InterruptedException {
    state.buffer.add(producer.next());
  }
}
