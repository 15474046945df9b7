package dev.batchbuffer.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A small run of the README's first command, end to end on a real SQLite file. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DemoTest {
  final ByteArrayOutputStream out = new ByteArrayOutputStream();
  final ByteArrayOutputStream err = new ByteArrayOutputStream();

  int run(String... args) throws Exception {
    return Demo.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void demoWritesEveryRowAndReportsTheSpeedUp(@TempDir Path dir) throws Exception {
    int status = run("--items", "20000", "--producers", "4", "--capacity", "250", "--slice", "20",
        "--db", dir.resolve("orders.db").toString());
    String report = out.toString(StandardCharsets.UTF_8);
    assertThat(status).as(report).isZero();
    assertThat(report)
        .contains("rows written      20,000")
        .contains("check             OK: table has 20,000 rows (expected 20,000)")
        .contains("accepted          20,000 (failed 0, rejected 0, waiting 0)")
        .contains("mean batch size")
        .containsPattern("flush latency +p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms")
        .containsPattern("oldest at flush +p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms")
        .contains("time to close")
        .contains("state             CLOSED")
        .containsPattern("speed-up +\\d+x");
  }

  @Test
  void oldestAtFlushPercentilesAreOrderedAndBoundedByTheRun(@TempDir Path dir) throws Exception {
    int status = run("--items", "5000", "--producers", "2", "--capacity", "100", "--slice", "0",
        "--db", dir.resolve("orders.db").toString());
    String report = out.toString(StandardCharsets.UTF_8);
    assertThat(status).as(report).isZero();
    java.util.regex.Matcher ages = java.util.regex.Pattern.compile(
        "oldest at flush +p50 ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms").matcher(report);
    java.util.regex.Matcher total = java.util.regex.Pattern.compile(
        "\\(([0-9.]+) s in all\\)").matcher(report);
    assertThat(ages.find()).as(report).isTrue();
    assertThat(total.find()).as(report).isTrue();
    double p50 = Double.parseDouble(ages.group(1));
    double p99 = Double.parseDouble(ages.group(2));
    double max = Double.parseDouble(ages.group(3));
    assertThat(p50).isLessThanOrEqualTo(p99);
    assertThat(p99).isLessThanOrEqualTo(max);
    assertThat(max).isPositive().isLessThan(Double.parseDouble(total.group(1)) * 1000 + 1);
  }

  @Test
  void percentileIsTheNearestRank() {
    long[] values = java.util.stream.LongStream.rangeClosed(1, 200).toArray();
    assertThat(Demo.percentile(values, 0.99)).isEqualTo(198);
    assertThat(Demo.percentile(values, 0.50)).isEqualTo(100);
    assertThat(Demo.percentile(values, 1.0)).isEqualTo(200);
    assertThat(Demo.percentile(new long[] {7}, 0.99)).isEqualTo(7);
    assertThat(Demo.percentile(new long[0], 0.99)).isZero();
  }

  @Test
  void theLibraryRunsWithoutMicrometerOnTheClassPath() {
    // Micrometer is an optional dependency of buffer-core: the demo above ran without it.
    assertThat(getClass().getClassLoader().getResource("io/micrometer/core/instrument/MeterRegistry.class"))
        .isNull();
  }

  @Test
  void badOptionGetsOneLineAndTheUsage() throws Exception {
    assertThat(run("--items", "lots")).isEqualTo(2);
    String text = err.toString(StandardCharsets.UTF_8);
    assertThat(text.lines().findFirst()).hasValue("demo: --items must be a whole number (was 'lots')");
    assertThat(text).contains("usage: demo [options]").doesNotContain("Exception");
  }

  @Test
  void unknownOptionAndMissingValueAreRejected() throws Exception {
    assertThat(run("--fast")).isEqualTo(2);
    assertThat(run("--capacity")).isEqualTo(2);
    assertThat(run("--producers", "0")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("demo: unknown option --fast")
        .contains("demo: --capacity needs a value")
        .contains("demo: --producers must be >= 1 (was 0)");
  }

  @Test
  void aCapacityAboveTheDemosLimitIsRefusedNamingTheOptionAndItsValue() throws Exception {
    assertThat(run("--capacity", "600000000", "--items", "10", "--slice", "0")).isEqualTo(2);
    String text = err.toString(StandardCharsets.UTF_8);
    assertThat(text.lines().findFirst())
        .hasValue("demo: --capacity must be <= 1000000 (was 600000000)");
    assertThat(text).contains("usage: demo [options]").doesNotContain("Exception");
  }

  @Test
  void aChannelOrItemCountThatWouldNotFitInMemoryIsRefusedBeforeAnythingStarts() throws Exception {
    assertThat(run("--chan-size", "20000000", "--items", "10", "--slice", "0")).isEqualTo(2);
    assertThat(run("--items", "2147483647", "--slice", "0")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("demo: --chan-size must be <= 10000000 (was 20000000)")
        .contains("demo: --items must be <= 100000000 (was 2147483647)")
        .doesNotContain("Exception");
    assertThat(out.toString(StandardCharsets.UTF_8)).doesNotContain("batchbuffer demo:");
  }

  @Test
  void oneOrderInBatchesOfOneIsWrittenAndChecked(@TempDir Path dir) throws Exception {
    int status = run("--items", "1", "--producers", "8", "--capacity", "1", "--chan-size", "1",
        "--slice", "1", "--db", dir.resolve("orders.db").toString());
    String report = out.toString(StandardCharsets.UTF_8);
    assertThat(status).as(report).isZero();
    assertThat(report)
        .contains("batches of up to 1 rows")
        .contains("accepted          1 (failed 0, rejected 0, waiting 0)")
        .contains("check             OK: table has 1 rows (expected 1)");
  }

  @Test
  void aDbFileHoldingTablesTheDemoDidNotCreateIsLeftAloneAndRefused(@TempDir Path dir)
      throws Exception {
    Path db = dir.resolve("app.db");
    try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + db);
        java.sql.Statement s = c.createStatement()) {
      s.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)");
      s.execute("INSERT INTO orders VALUES (42, 'a real order')");
    }
    assertThat(run("--items", "10", "--slice", "0", "--db", db.toString())).isEqualTo(3);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("demo: backend sqlite cannot run here: " + db)
        .contains("tables the demo did not create")
        .doesNotContain("Exception");
    try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + db);
        java.sql.Statement s = c.createStatement();
        java.sql.ResultSet rs = s.executeQuery("SELECT note FROM orders WHERE id = 42")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("a real order");
    }
  }

  @Test
  void aDbFileThatIsNotADatabaseOrCannotBeCreatedIsRefusedWithoutAStackTrace(@TempDir Path dir)
      throws Exception {
    Path text = dir.resolve("notes.txt");
    java.nio.file.Files.writeString(text, "not a database, just a long enough line of text\n");
    assertThat(run("--items", "10", "--slice", "0", "--db", text.toString())).isEqualTo(3);
    assertThat(run("--items", "10", "--slice", "0", "--db",
        dir.resolve("missing").resolve("orders.db").toString())).isEqualTo(3);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("demo: backend sqlite cannot run here: " + text + " cannot be used")
        .contains("demo: backend sqlite cannot run here: " + dir.resolve("missing"))
        .doesNotContain("\tat ");
    assertThat(java.nio.file.Files.readString(text))
        .isEqualTo("not a database, just a long enough line of text\n");
  }

  @Test
  void aDbFileTheDemoWroteCanBeWrittenAgain(@TempDir Path dir) throws Exception {
    String db = dir.resolve("orders.db").toString();
    assertThat(run("--items", "100", "--slice", "5", "--db", db)).isZero();
    assertThat(run("--items", "200", "--slice", "5", "--db", db)).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8))
        .contains("check             OK: table has 200 rows (expected 200)");
  }

  @Test
  void helpPrintsTheUsage() throws Exception {
    assertThat(run("--help")).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("--items N").contains("--interval MS");
  }
}
