package dev.batchbuffer.examples.bench;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * The add -> flush path: producers add items with the blocking call, batches of 100, 5 ms linger, a
 * channel of 200, a flush that reads every item. {@code Buffer} next to the hand-written
 * {@link AbqBatcher} in the same run. Each iteration ends with a close and a check that the flushes
 * saw exactly the items added (count and sum), so a benchmark that loses items fails.
 *
 * <p>Run: {@code ./mvnw -q compile exec:exec@bench -Dbench.args="AddFlushBenchmark"}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class AddFlushBenchmark {

  /** A producer of the {@code Buffer} benchmarks. */
  @State(Scope.Thread)
  public static class BufferProducer extends Producer {
    /**
     * Registers with this iteration's ledger.
     *
     * @param state the buffer state, set up first
     */
    @Setup(Level.Iteration)
    public void setUp(BufferState state) {
      register(state);
    }
  }

  /** A producer of the baseline benchmarks. */
  @State(Scope.Thread)
  public static class AbqProducer extends Producer {
    /**
     * Registers with this iteration's ledger.
     *
     * @param state the baseline state, set up first
     */
    @Setup(Level.Iteration)
    public void setUp(AbqState state) {
      register(state);
    }
  }

  /** A started {@link Buffer} per iteration. */
  @State(Scope.Benchmark)
  public static class BufferState extends Ledger {
    Buffer<Long> buffer;

    @Setup(Level.Iteration)
    public void start() {
      reset();
      buffer = Buffer.start(Config.builder(this::flush)
          .capacity(CAPACITY).chanSize(CHANNEL).flushInterval(LINGER).build());
    }

    @TearDown(Level.Iteration)
    public void closeAndVerify() {
      buffer.close();
      verify();
    }
  }

  /** A started {@link AbqBatcher} per iteration. */
  @State(Scope.Benchmark)
  public static class AbqState extends Ledger {
    AbqBatcher<Long> batcher;

    @Setup(Level.Iteration)
    public void start() {
      reset();
      batcher = new AbqBatcher<>(this::flush, CAPACITY, CHANNEL, LINGER.toNanos());
    }

    @TearDown(Level.Iteration)
    public void closeAndVerify() {
      batcher.close();
      verify();
    }
  }

  /**
   * One producer thread adding to a {@code Buffer}.
   *
   * @param state the buffer
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(1)
  public void buffer1Producer(BufferState state, BufferProducer producer) throws InterruptedException {
    state.buffer.add(producer.next());
  }

  /**
   * Two producer threads adding to a {@code Buffer}.
   *
   * @param state the buffer
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(2)
  public void buffer2Producers(BufferState state, BufferProducer producer) throws InterruptedException {
    state.buffer.add(producer.next());
  }

  /**
   * One producer thread putting into the {@code ArrayBlockingQueue} baseline.
   *
   * @param state the baseline
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(1)
  public void abq1Producer(AbqState state, AbqProducer producer) throws InterruptedException {
    state.batcher.add(producer.next());
  }

  /**
   * Two producer threads putting into the {@code ArrayBlockingQueue} baseline.
   *
   * @param state the baseline
   * @param producer this thread's counters
   * @throws InterruptedException never in practice
   */
  @Benchmark
  @Threads(2)
  public void abq2Producers(AbqState state, AbqProducer producer) throws InterruptedException {
    state.batcher.add(producer.next());
  }
}
