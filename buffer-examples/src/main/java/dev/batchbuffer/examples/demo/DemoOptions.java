package dev.batchbuffer.examples.demo;

import java.nio.file.Path;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * The demo's command line. Parsing never throws anything but {@link IllegalArgumentException}, whose
 * message is the one line the user sees above the usage.
 *
 * @param items orders to produce in all
 * @param producers producer virtual threads
 * @param capacity rows per batch (one executeBatch + commit each)
 * @param chanSize items waiting between producers and the loop; 0 means 2 x capacity
 * @param interval longest a partial batch waits
 * @param slice rows written one per transaction for the comparison; 0 skips it
 * @param db the SQLite file, or null for a fresh temporary file
 * @param backend the backend's name, one of {@link DemoBackends#NAMES}
 * @param help whether --help was given
 */
record DemoOptions(int items, int producers, int capacity, int chanSize, Duration interval, int slice,
    @Nullable Path db, String backend, boolean help) {

  static final String USAGE = """
      usage: demo [options]
        --items N        orders to produce in all (default 500000)
        --producers N    producer virtual threads (default 8)
        --capacity N     rows per batch: one executeBatch + commit each (default 500; at most
                         1000000, and a backend with a smaller request limit uses that)
        --chan-size N    orders waiting for the loop before add() blocks (default 2 x capacity;
                         at most 10000000)
        --interval MS    longest a partial batch waits, in milliseconds (default 200)
        --slice N        rows then written one per transaction, for the comparison (default 300; 0 skips)
        --db PATH        the SQLite file to write (default: a new temporary file, deleted at exit);
                         a file holding tables the demo did not create is refused, not touched
        --backend NAME   where the orders go: %s (default sqlite, embedded; the others
                         start their server on 127.0.0.1 and stop it at the end)
        --help           print this and exit""".formatted(String.join(", ", DemoBackends.NAMES));

  private static final java.util.Set<String> OPTIONS = java.util.Set.of(
      "--items", "--producers", "--capacity", "--chan-size", "--interval", "--slice", "--db", "--backend");

  static DemoOptions parse(String... args) {
    int items = 500_000;
    int producers = 8;
    int capacity = 500;
    int chanSize = 0;
    long intervalMs = 200;
    int slice = 300;
    Path db = null;
    String backend = "sqlite";
    boolean help = false;
    for (int i = 0; i < args.length; i++) {
      String name = args[i];
      if (name.equals("--help") || name.equals("-h")) {
        help = true;
        continue;
      }
      if (!name.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument '" + name + "'");
      }
      if (!OPTIONS.contains(name)) {
        throw new IllegalArgumentException("unknown option " + name);
      }
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException(name + " needs a value");
      }
      String value = args[++i];
      switch (name) {
        case "--items" -> items = positive(name, value, 1, MAX_ITEMS);
        case "--producers" -> producers = positive(name, value, 1, MAX_PRODUCERS);
        case "--capacity" -> capacity = positive(name, value, 1, MAX_CAPACITY);
        case "--chan-size" -> chanSize = positive(name, value, 1, MAX_CHAN_SIZE);
        case "--interval" -> intervalMs = positive(name, value, 1, Integer.MAX_VALUE);
        case "--slice" -> slice = positive(name, value, 0, MAX_ITEMS);
        case "--db" -> db = Path.of(value);
        case "--backend" -> {
          if (!DemoBackends.NAMES.contains(value)) {
            throw new IllegalArgumentException("--backend must be one of "
                + String.join(", ", DemoBackends.NAMES) + " (was '" + value + "')");
          }
          backend = value;
        }
        default -> throw new IllegalArgumentException("unknown option " + name);
      }
    }
    return new DemoOptions(items, producers, capacity, chanSize, Duration.ofMillis(intervalMs), slice,
        db, backend, help);
  }

  /** The most orders: the demo keeps one timestamp (8 bytes) per order for "oldest at flush". */
  static final int MAX_ITEMS = 100_000_000;

  /** The most producer threads (virtual, but each holds its own loop and checksum). */
  static final int MAX_PRODUCERS = 100_000;

  /**
   * The largest {@code --capacity}: a larger batch gains nothing on any backend here, and the
   * default channel (twice the capacity) is allocated up front.
   */
  static final int MAX_CAPACITY = 1_000_000;

  /** The largest {@code --chan-size}: the channel's slots are allocated when the buffer starts. */
  static final int MAX_CHAN_SIZE = 10_000_000;

  private static int positive(String name, String value, int min, int max) {
    int n;
    try {
      n = Integer.parseInt(value.replace("_", ""));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a whole number (was '" + value + "')");
    }
    if (n < min) {
      throw new IllegalArgumentException(name + " must be >= " + min + " (was " + n + ")");
    }
    if (n > max) {
      throw new IllegalArgumentException(name + " must be <= " + max + " (was " + n + ")");
    }
    return n;
  }
}
