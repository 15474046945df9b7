package dev.batchbuffer.examples.bench;

import dev.batchbuffer.FlushFunc;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * What a batcher costs when it is not batching: per contender, (a) start and close of an idle
 * instance (median and p99 over many cycles, after a warm-up), (b) the heap retained by an idle open
 * instance (heap used after full GCs with many instances open, minus before, per instance) and the
 * platform threads each one keeps, and (c) the CPU that idle open instances burn (process CPU time
 * over an idle interval with them open, minus the same interval with none open). Prints a table;
 * {@code --json FILE} writes it for {@code scripts/chart.py}.
 *
 * <p>In (b), a contender whose idle instances wake by design ({@link Peer#idleWakeupsPerSecond})
 * gets only as many instances as make {@value #WAKEUP_BUDGET} wake-ups a second together, but never
 * fewer than {@code --idle-instances}: ten thousand threads that each wake every 5 ms drove the load
 * average of a two-core machine past 3,000 and left the measurement no time. The table shows how
 * many instances each contender had. Heap per instance counts Java objects only: a platform thread's
 * stack is native memory, which the threads column hints at. The heap in use is read as the heap
 * pools' usage right after the last full GC ({@code MemoryPoolMXBean.getCollectionUsage()}), not
 * {@code MemoryMXBean}'s current usage: idle threads that wake (and allocate) after the GC take
 * fresh allocation buffers, which the current usage counts as used, by up to a buffer per thread.
 *
 * <p>Run: {@code ./mvnw -q compile exec:exec@lifecycle -Dlifecycle.args="--json out.json"}.
 * Options: {@code --cycles} (default 2000), {@code --warmup-cycles} (500), {@code --instances}
 * (10000), {@code --idle-instances} (100), {@code --idle-millis} (2000), {@code --contenders} (a
 * comma-separated list of {@link Peer} labels, or {@code all}), {@code --json FILE}.
 */
public final class LifecycleHarness {
  /** Wake-ups per second that the idle instances of the heap measurement may make together. */
  static final int WAKEUP_BUDGET = 50_000;

  private static final FlushFunc<Long> NO_FLUSH = batch -> { };

  private LifecycleHarness() {}

  /**
   * What to run.
   *
   * @param contenders the contenders, in order
   * @param cycles measured start-close cycles per contender
   * @param warmupCycles unmeasured cycles before them
   * @param instances instances open at once for the heap measurement
   * @param idleInstances instances open at once for the CPU measurement
   * @param idleMillis how long the CPU measurement (and its baseline) lasts
   * @param json where to write the results, if anywhere
   */
  public record Options(List<Peer> contenders, int cycles, int warmupCycles, int instances,
      int idleInstances, long idleMillis, @Nullable Path json) {}

  /**
   * One contender's idle costs.
   *
   * @param contender the contender's label
   * @param startClose nanoseconds for start + close of an idle instance
   * @param heapInstances how many instances were open for the heap measurement
   * @param heapBytesPerInstance retained heap per open idle instance
   * @param threadsPerInstance live platform threads per open idle instance
   * @param idleInstances how many instances were open for the CPU measurement
   * @param idleCpuPercent CPU of those instances, in percent of one core, less the baseline
   */
  public record Result(String contender, HarnessSupport.Summary startClose, int heapInstances,
      double heapBytesPerInstance, double threadsPerInstance, int idleInstances,
      double idleCpuPercent) {
    String json() {
      return "{\"contender\": " + HarnessSupport.quote(contender) + ", \"startCloseNanos\": "
          + startClose.json() + ", \"heapInstances\": " + heapInstances
          + ", \"heapBytesPerInstance\": " + HarnessSupport.number(heapBytesPerInstance)
          + ", \"threadsPerInstance\": " + HarnessSupport.number(threadsPerInstance)
          + ", \"idleInstances\": " + idleInstances + ", \"idleCpuPercentOfOneCore\": "
          + HarnessSupport.number(idleCpuPercent) + "}";
    }
  }

  /**
   * Runs the harness from the command line.
   *
   * @param args the options above
   * @throws Exception if a contender fails or the JSON cannot be written
   */
  public static void main(String[] args) throws Exception {
    HarnessSupport.Args a = new HarnessSupport.Args(args, Set.of("cycles", "warmup-cycles",
        "instances", "idle-instances", "idle-millis", "contenders", "json"));
    run(new Options(Peer.parse(a.text("contenders", "all")), a.integer("cycles", 2000),
        a.integer("warmup-cycles", 500), a.integer("instances", 10_000),
        a.integer("idle-instances", 100), a.integer("idle-millis", 2000), a.path("json")),
        System.out);
  }

  /**
   * Measures every contender in turn, prints the table and writes the JSON.
   *
   * @param options what to run
   * @param out where the table goes
   * @return the results, in the options' order
   * @throws InterruptedException if interrupted while idling
   * @throws IOException if the JSON cannot be written
   */
  public static List<Result> run(Options options, PrintStream out)
      throws InterruptedException, IOException {
    out.printf(Locale.ROOT, "start+close: %d cycles after %d; heap: %d open; idle CPU: %d open for"
        + " %d ms%n", options.cycles(), options.warmupCycles(), options.instances(),
        options.idleInstances(), options.idleMillis());
    out.printf(Locale.ROOT, "%-12s %12s %12s %9s %12s %10s %8s %14s%n", "contender",
        "start+close", "p99", "heap n", "heap B/inst", "threads/i", "idle n", "idle CPU %core");
    List<Result> results = new ArrayList<>();
    for (Peer peer : options.contenders()) {
      HarnessSupport.Summary cycles = startClose(peer, options.cycles(), options.warmupCycles());
      int heapInstances = heapInstances(peer, options);
      double[] heap = heapAndThreads(peer, heapInstances);
      double cpu = idleCpuPercent(peer, options.idleInstances(), options.idleMillis());
      Result r = new Result(peer.label(), cycles, heapInstances, heap[0], heap[1],
          options.idleInstances(), cpu);
      results.add(r);
      out.printf(Locale.ROOT, "%-12s %9.1f us %9.1f us %9d %12.0f %10.3f %8d %14.2f%n",
          r.contender(), cycles.p50() / 1e3, cycles.p99() / 1e3, heapInstances,
          r.heapBytesPerInstance(), r.threadsPerInstance(), r.idleInstances(),
          r.idleCpuPercent());
    }
    Path json = options.json();
    if (json != null) {
      HarnessSupport.writeJson(json, "lifecycle", "\"cycles\": " + options.cycles()
          + ", \"warmupCycles\": " + options.warmupCycles() + ", \"instances\": "
          + options.instances() + ", \"idleInstances\": " + options.idleInstances()
          + ", \"idleMillis\": " + options.idleMillis(),
          results.stream().map(Result::json).toList());
      out.println("wrote " + json);
    }
    return results;
  }

  /** How many instances (b) opens: all asked for, unless they would wake too often together. */
  static int heapInstances(Peer peer, Options options) {
    double wakeups = peer.idleWakeupsPerSecond(Contender.Settings.DEFAULT);
    if (wakeups <= 0) {
      return options.instances();
    }
    int affordable = (int) Math.max(options.idleInstances(), WAKEUP_BUDGET / wakeups);
    return Math.min(options.instances(), affordable);
  }

  /** (a): start and close an idle instance, again and again. */
  static HarnessSupport.Summary startClose(Peer peer, int cycles, int warmupCycles) {
    for (int i = 0; i < warmupCycles; i++) {
      peer.start(NO_FLUSH, Contender.Settings.DEFAULT).close();
    }
    long[] samples = new long[cycles];
    for (int i = 0; i < cycles; i++) {
      long t0 = System.nanoTime();
      peer.start(NO_FLUSH, Contender.Settings.DEFAULT).close();
      samples[i] = System.nanoTime() - t0;
    }
    return HarnessSupport.summarize(samples, cycles);
  }

  /** (b): heap bytes and platform threads per open idle instance. */
  static double[] heapAndThreads(Peer peer, int instances) throws InterruptedException {
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    List<Contender<Long>> open = new ArrayList<>(instances);
    long heapBefore = settledHeap();
    int threadsBefore = threads.getThreadCount();
    try {
      for (int i = 0; i < instances; i++) {
        open.add(peer.start(NO_FLUSH, Contender.Settings.DEFAULT));
      }
      Thread.sleep(100); // let every instance's threads start and go idle
      long heapAfter = settledHeap();
      int threadsAfter = threads.getThreadCount();
      return new double[] {(double) (heapAfter - heapBefore) / instances,
          (double) (threadsAfter - threadsBefore) / instances};
    } finally {
      closeAll(open); // which also keeps every instance reachable until the heap was read
    }
  }

  /** (c): CPU of idle open instances, in percent of one core, less an idle baseline. */
  static double idleCpuPercent(Peer peer, int instances, long idleMillis)
      throws InterruptedException {
    long baseline = cpuNanosWhileSleeping(idleMillis);
    List<Contender<Long>> open = new ArrayList<>(instances);
    try {
      for (int i = 0; i < instances; i++) {
        open.add(peer.start(NO_FLUSH, Contender.Settings.DEFAULT));
      }
      Thread.sleep(200); // past start-up and any spinning before the first park
      long busy = cpuNanosWhileSleeping(idleMillis);
      return 100.0 * (busy - baseline) / (idleMillis * 1_000_000.0);
    } finally {
      closeAll(open);
    }
  }

  private static long cpuNanosWhileSleeping(long millis) throws InterruptedException {
    long before = processCpuNanos();
    Thread.sleep(millis);
    return processCpuNanos() - before;
  }

  private static long processCpuNanos() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    throw new UnsupportedOperationException("this JVM does not report process CPU time");
  }

  private static void closeAll(List<Contender<Long>> open) {
    for (Contender<Long> c : open) {
      c.close();
    }
    open.clear();
  }

  /** Full GCs until the heap in use after a GC stops shrinking (at most five); that heap. */
  private static long settledHeap() throws InterruptedException {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 5; i++) {
      System.gc();
      Thread.sleep(50);
      long now = heapUsedAfterLastGc();
      if (now >= used) {
        return used;
      }
      used = now;
    }
    return used;
  }

  /** The heap pools' usage right after the last GC, or the current usage where none is known. */
  private static long heapUsedAfterLastGc() {
    long used = 0;
    boolean known = false;
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      MemoryUsage afterGc = pool.getType() == MemoryType.HEAP ? pool.getCollectionUsage() : null;
      if (afterGc != null) {
        used += afterGc.getUsed();
        known = true;
      }
    }
    return known ? used : ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }
}
