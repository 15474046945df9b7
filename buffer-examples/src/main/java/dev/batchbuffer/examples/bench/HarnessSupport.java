package dev.batchbuffer.examples.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * What {@link LatencyHarness} and {@link LifecycleHarness} share: their {@code --name value}
 * options, percentiles of sorted samples, and the JSON they write for {@code scripts/chart.py}.
 */
final class HarnessSupport {
  private HarnessSupport() {}

  /** Parsed {@code --name value} options; every option takes a value. */
  static final class Args {
    private final Map<String, String> values = new HashMap<>();

    /**
     * Parses the options.
     *
     * @param args the command line
     * @param known the option names (without {@code --}) the harness accepts
     * @throws IllegalArgumentException on an unknown option or one without a value
     */
    Args(String[] args, Set<String> known) {
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        String name = arg.startsWith("--") ? arg.substring(2) : "";
        if (!known.contains(name) || i + 1 >= args.length) {
          throw new IllegalArgumentException("unknown option or missing value: '" + arg
              + "'; options: " + known.stream().sorted().map(k -> "--" + k).toList());
        }
        values.put(name, args[++i]);
      }
    }

    String text(String name, String otherwise) {
      return values.getOrDefault(name, otherwise);
    }

    @Nullable Path path(String name) {
      String value = values.get(name);
      return value == null ? null : Path.of(value);
    }

    int integer(String name, int otherwise) {
      String value = values.get(name);
      return value == null ? otherwise : Integer.parseInt(value);
    }

    double decimal(String name, double otherwise) {
      String value = values.get(name);
      return value == null ? otherwise : Double.parseDouble(value);
    }
  }

  /**
   * Sorts the first {@code n} samples in place and returns p50, p99 and the maximum (nearest rank).
   *
   * @param samples the samples; the first {@code n} are used
   * @param n how many
   * @return p50, p99, max; zeros when {@code n} is 0
   */
  static Summary summarize(long[] samples, int n) {
    if (n == 0) {
      return new Summary(0, 0, 0, 0);
    }
    Arrays.sort(samples, 0, n);
    return new Summary(n, rank(samples, n, 0.50), rank(samples, n, 0.99), samples[n - 1]);
  }

  private static long rank(long[] sorted, int n, double quantile) {
    int index = (int) Math.ceil(quantile * n) - 1;
    return sorted[Math.max(0, Math.min(n - 1, index))];
  }

  /**
   * Percentiles of a sample, in its unit (nanoseconds here).
   *
   * @param count how many samples
   * @param p50 the median
   * @param p99 the 99th percentile
   * @param max the largest
   */
  record Summary(int count, long p50, long p99, long max) {
    String json() {
      return "{\"count\": " + count + ", \"p50\": " + p50 + ", \"p99\": " + p99 + ", \"max\": " + max
          + "}";
    }
  }

  /** Milliseconds with three decimals, for the tables. */
  static String millis(long nanos) {
    return String.format(Locale.ROOT, "%.3f", nanos / 1e6);
  }

  /** A JSON string literal. */
  static String quote(String text) {
    StringBuilder b = new StringBuilder("\"");
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c < 0x20) {
        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.append('"').toString();
  }

  /** A JSON number; NaN and infinities (which JSON lacks) become {@code null}. */
  static String number(double value) {
    return Double.isFinite(value) ? String.format(Locale.ROOT, "%.6g", value) : "null";
  }

  /**
   * Writes a harness's JSON document: its settings, the JVM, and one object per contender.
   *
   * @param file where to write
   * @param harness the harness's name
   * @param settings the settings as JSON members, without braces
   * @param results one JSON object per contender
   * @throws IOException if the file cannot be written
   */
  static void writeJson(Path file, String harness, String settings, List<String> results)
      throws IOException {
    String json = "{\n  \"harness\": " + quote(harness) + ",\n  \"jdk\": "
        + quote(Runtime.version().toString()) + ",\n  \"processors\": "
        + Runtime.getRuntime().availableProcessors() + ",\n  " + settings
        + ",\n  \"results\": [\n    " + String.join(",\n    ", results) + "\n  ]\n}\n";
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.writeString(file, json, StandardCharsets.UTF_8);
  }
}
