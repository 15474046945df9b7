package dev.batchbuffer.examples.bench;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.FlushPolicy;
import java.util.concurrent.TimeUnit;
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
 * What a byte limit costs: the {@link AddFlushBenchmark} workload (1 and 2 producers, batches of 100,
 * 5 ms linger, channel of 200) through {@code FlushPolicy.count(100)} and through
 * {@code count(100).or(bytes(weigher, limit))}, where the byte limit is set so that both make the
 * same batches: the difference is the weigher call and the running weight. Each iteration checks
 * that the flushes saw exactly the items added.
 *
 * <p>Run: {@code ./mvnw -q compile exec:exec@bench -Dbench.args="PolicyCostBenchmark -prof gc"}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class PolicyCostBenchmark {

  /** A buffer with the policy named by {@link #policy}. */
  @State(Scope.Benchmark)
  public static class PolicyState extends Ledger {
    /**
     * {@code count}, {@code countAndBytes}, or {@code countAndFlatBytes}: a weigher that returns 32
     * without reading the item, which separates the policy's own cost from the weigher's.
     */
    @Param({"count", "countAndBytes", "countAndFlatBytes"})
    public String policy = "count";

    /** The channel's size: the workload's 200, or more to see whether full-channel waits matter. */
    @Param({"200"})
    public int channel = Ledger.CHANNEL;

    Buffer<Long> buffer;

    @Setup(Level.Iteration)
    public void start() {
      reset();
      FlushPolicy<Long> count = FlushPolicy.count(Ledger.CAPACITY);
      // Items weigh 1..64 bytes; 100 items never exceed 100 * 64, so the count decides the batches.
      FlushPolicy<Long> chosen = switch (policy) {
        case "count" -> count;
        case "countAndFlatBytes" -> count.or(FlushPolicy.bytes(item -> 32,
            64L * Ledger.CAPACITY));
        default -> count.or(FlushPolicy.bytes(item -> 1 + (item & 63),
            64L * Ledger.CAPACITY));
      };
      buffer = Buffer.start(Config.builder(this::flush).policy(chosen)
          .chanSize(channel).flushInterval(Ledger.LINGER).build());
    }

    @TearDown(Level.Iteration)
    public void closeAndVerify() {
      buffer.close();
      verify();
    }
  }

  /** A producer thread registered with the policy state. */
  @State(Scope.Thread)
  public static class PolicyProducer extends Producer {
    /**
     * Registers with this iteration's ledger.
     *
     * @param state the buffer state, set up first
     */
    @Setup(Level.Iteration)
    public void setUp(PolicyState state) {
      register(state);
    }
  }

  /**
   * One producer adding to the buffer with the chosen policy.
   *
   * @param state the buffer
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(1)
  public void add1Producer(PolicyState state, PolicyProducer producer)
      throws InterruptedException {
    state.buffer.add(producer.next());
  }

  /**
   * Two producers adding to the buffer with the chosen policy.
   *
   * @param state the buffer
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(2)
  public void add2Producers(PolicyState state, PolicyProducer producer)
      throws InterruptedException {
    state.buffer.add(producer.next());
  }
}
