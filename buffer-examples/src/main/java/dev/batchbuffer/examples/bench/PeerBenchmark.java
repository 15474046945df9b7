package dev.batchbuffer.examples.bench;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * batchbuffer next to the ways users would otherwise batch ({@link Peer}): 1, 2 and 4 producer
 * threads add pre-boxed items with the blocking call, batches of 100, 5 ms linger, a queue of 200
 * (rings of 256). Throughput in items per microsecond (M items/s). Each iteration starts a fresh
 * contender and ends with its close and a check that the flushes saw exactly the items added in
 * batches of at most 100, so a contender that loses items fails the run.
 *
 * <p>Next to the score, two counters: {@code flushedItems} and {@code flushedBatches}, summed over
 * the run; their ratio is the mean batch size ({@code scripts/chart.py} computes it).
 *
 * <p>Run: {@code ./mvnw -q compile exec:exec@bench -Dbench.args="PeerBenchmark -prof gc"}; the
 * whole comparison, with charts: {@code buffer-examples/scripts/peers.sh}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class PeerBenchmark {

  /** A fresh contender per iteration. */
  @State(Scope.Benchmark)
  public static class PeerState extends Ledger {
    /** The contender: a {@link Peer#label()}. */
    @Param({"batchbuffer", "abq", "jctools", "disruptor", "reactor", "otel", "nohandoff"})
    public String contender = "batchbuffer";

    Contender<Long> batcher;
    final ConcurrentLinkedQueue<PeerProducer> counters = new ConcurrentLinkedQueue<>();

    /** Starts this iteration's contender. */
    @Setup(Level.Iteration)
    public void start() {
      reset();
      counters.clear();
      batcher = Peer.named(contender).start(this::flush, Contender.Settings.DEFAULT);
    }

    /** Closes the contender, checks the items, and hands the batch counts to the counters. */
    @TearDown(Level.Iteration)
    public void closeAndVerify() {
      batcher.close();
      verify();
      // JMH sums the counters over threads: one thread carries the iteration's totals.
      boolean first = true;
      for (PeerProducer p : counters) {
        p.flushedItems = first ? flushedCount.sum() : 0;
        p.flushedBatches = first ? flushedBatches.sum() : 0;
        first = false;
      }
    }
  }

  /** A producer thread, and the batch counters JMH reports next to the score. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class PeerProducer extends Producer {
    /** Items the flushes saw in this iteration (on one thread; zero on the others). */
    public long flushedItems;
    /** Batches the flushes saw in this iteration (on one thread; zero on the others). */
    public long flushedBatches;

    /**
     * Registers with this iteration's ledger.
     *
     * @param state the contender's state, set up first
     */
    @Setup(Level.Iteration)
    public void setUp(PeerState state) {
      register(state);
      flushedItems = 0;
      flushedBatches = 0;
      state.counters.add(this);
    }
  }

  /**
   * One producer thread.
   *
   * @param state the contender
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(1)
  public void p1(PeerState state, PeerProducer producer) throws InterruptedException {
    state.batcher.add(producer.next());
  }

  /**
   * Two producer threads.
   *
   * @param state the contender
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(2)
  public void p2(PeerState state, PeerProducer producer) throws InterruptedException {
    state.batcher.add(producer.next());
  }

  /**
   * Four producer threads.
   *
   * @param state the contender
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(4)
  public void p4(PeerState state, PeerProducer producer) throws InterruptedException {
    state.batcher.add(producer.next());
  }
}
