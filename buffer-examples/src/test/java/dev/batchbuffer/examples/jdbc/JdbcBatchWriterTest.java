package dev.batchbuffer.examples.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.batchbuffer.PartialFlushException;
import java.nio.file.Path;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.sqlite.SQLiteDataSource;

/**
 * {@link JdbcBatchWriter} on its own, on a SQLite file: wherever refused rows sit in a batch,
 * exactly they are reported and exactly the others committed (seeded randomized; replay one seed
 * with {@code -Djdbc.seed=N}); how a failed part is split for each shape of update counts; a
 * failure that is not a refused row fails the whole batch and commits nothing; and the connection
 * is reused, and closed by {@code close()}.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JdbcBatchWriterTest {
  record Row(long id, long amount) {}

  SQLiteDataSource dataSource = new SQLiteDataSource();
  CountingDataSource counting = new CountingDataSource(dataSource);

  @BeforeEach
  void createTable(@TempDir Path dir) throws SQLException {
    dataSource.setUrl("jdbc:sqlite:" + dir.resolve("rows.db"));
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE rows (id BIGINT PRIMARY KEY, amount BIGINT NOT NULL CHECK (amount >= 0))");
    }
  }

  JdbcBatchWriter<Row> writer(String table) {
    return new JdbcBatchWriter<>(counting.dataSource(),
        "INSERT INTO " + table + " (id, amount) VALUES (?, ?)",
        (insert, r) -> {
          insert.setLong(1, r.id());
          insert.setLong(2, r.amount());
        }, JdbcBatchWriter::isSqliteConstraintError);
  }

  List<Long> idsInTable() throws SQLException {
    List<Long> ids = new ArrayList<>();
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT id FROM rows ORDER BY id")) {
      while (rs.next()) {
        ids.add(rs.getLong(1));
      }
    }
    return ids;
  }

  @RepeatedTest(40)
  void exactlyTheRefusedRowsAreReportedWhereverTheyAre(RepetitionInfo repetition) throws Exception {
    long seed = Long.getLong("jdbc.seed", 0x5eedL * 1_000 + repetition.getCurrentRepetition());
    Random random = new Random(seed);
    int size = 1 + random.nextInt(120);
    int badCount = random.nextInt(Math.min(size, 6) + 1);
    TreeSet<Integer> bad = new TreeSet<>();
    while (bad.size() < badCount) {
      bad.add(random.nextInt(size));
    }
    List<Row> batch = new ArrayList<>();
    for (int i = 0; i < size; i++) {
      batch.add(new Row(i, bad.contains(i) ? -1 : i));
    }
    String context = "seed " + seed + " (replay with -Djdbc.seed=" + seed + "): size " + size
        + ", refused " + bad;
    try (JdbcBatchWriter<Row> writer = writer("rows")) {
      if (bad.isEmpty()) {
        writer.flush(batch);
      } else {
        PartialFlushException e = catchThrowableOfType(PartialFlushException.class,
            () -> writer.flush(batch));
        assertThat(e).as(context).isNotNull();
        assertThat(e.failedIndexes()).as(context).containsExactlyElementsOf(bad);
      }
    }
    assertThat(idsInTable()).as(context).containsExactlyElementsOf(IntStream.range(0, size)
        .filter(i -> !bad.contains(i)).mapToObj(i -> (long) i).toList());
  }

  @Test
  void aShortCountsArraySplitsIntoTheGoodPrefixTheFailedRowAndTheRest() {
    List<Integer> part = List.of(10, 11, 12, 13, 14);
    BatchUpdateException stopped = new BatchUpdateException(new int[] {1, 1}, null);
    assertThat(JdbcBatchWriter.split(part, stopped))
        .containsExactly(List.of(10, 11), List.of(12), List.of(13, 14));
  }

  @Test
  void failedEntriesOfAFullCountsArrayAreSplitOffAlone() {
    List<Integer> part = List.of(0, 1, 2, 3, 4);
    int f = Statement.EXECUTE_FAILED;
    BatchUpdateException continued = new BatchUpdateException(new int[] {1, f, 1, 1, f}, null);
    assertThat(JdbcBatchWriter.split(part, continued))
        .containsExactly(List.of(0), List.of(1), List.of(2, 3), List.of(4));
  }

  @Test
  void noUsableCountsSplitsInHalves() {
    List<Integer> part = List.of(0, 1, 2, 3, 4);
    int f = Statement.EXECUTE_FAILED;
    BatchUpdateException allFailed = new BatchUpdateException(new int[] {f, f, f, f, f}, null);
    assertThat(JdbcBatchWriter.split(part, allFailed))
        .containsExactly(List.of(0, 1), List.of(2, 3, 4));
    assertThat(JdbcBatchWriter.split(part, new SQLException("no counts")))
        .containsExactly(List.of(0, 1), List.of(2, 3, 4));
  }

  @Test
  void anErrorThatIsNoRefusedRowFailsTheWholeBatchAndCommitsNothing() throws Exception {
    try (JdbcBatchWriter<Row> writer = writer("no_such_table")) {
      assertThatThrownBy(() -> writer.flush(List.of(new Row(1, 1), new Row(2, -1))))
          .isInstanceOf(SQLException.class)
          .isNotInstanceOf(PartialFlushException.class);
    }
    assertThat(idsInTable()).isEmpty();
    assertThat(counting.commits.get()).isZero();
  }

  @Test
  void anErrorDuringTheSearchForARefusedRowRollsBackTheRowsAlreadyRewritten() throws Exception {
    SQLException broken = new SQLException("the binder broke", "HY000");
    java.util.concurrent.atomic.AtomicInteger bindsOfRow3 = new java.util.concurrent.atomic.AtomicInteger();
    JdbcBatchWriter<Row> writer = new JdbcBatchWriter<>(counting.dataSource(),
        "INSERT INTO rows (id, amount) VALUES (?, ?)",
        (insert, r) -> {
          if (r.id() == 3 && bindsOfRow3.incrementAndGet() == 2) {
            throw broken;
          }
          insert.setLong(1, r.id());
          insert.setLong(2, r.amount());
        }, JdbcBatchWriter::isSqliteConstraintError);
    try (writer) {
      // [0, 1] is searched (0 rewritten under a savepoint, 1 refused) before [2, 3] breaks.
      assertThatThrownBy(() -> writer.flush(
              List.of(new Row(0, 1), new Row(1, -1), new Row(2, 1), new Row(3, 1))))
          .isSameAs(broken);
      assertThat(counting.executeBatchSizes).startsWith(4, 2, 1, 1);
      assertThat(idsInTable()).isEmpty();
      assertThat(counting.commits.get()).isZero();
      writer.flush(List.of(new Row(7, 1)));
    }
    assertThat(idsInTable()).containsExactly(7L);
  }

  @Test
  void oneConnectionServesEveryBatchAndCloseClosesIt() throws Exception {
    JdbcBatchWriter<Row> writer = writer("rows");
    writer.flush(List.of(new Row(1, 1)));
    assertThatThrownBy(() -> writer.flush(List.of(new Row(2, 1), new Row(3, -1))))
        .isInstanceOfSatisfying(PartialFlushException.class,
            e -> assertThat(e.failedIndexes()).containsExactly(1));
    assertThatThrownBy(() -> writer.flush(List.of(new Row(4, 1), new Row(4, 1))))
        .isInstanceOfSatisfying(PartialFlushException.class,
            e -> assertThat(e.failedIndexes()).containsExactly(1));
    writer.flush(List.of(new Row(5, 1)));
    assertThat(counting.connectionsOpened.get()).isEqualTo(1);
    assertThat(counting.connectionsClosed.get()).isZero();
    writer.close();
    writer.close();
    assertThat(counting.connectionsClosed.get()).isEqualTo(1);
    assertThatThrownBy(() -> writer.flush(List.of(new Row(6, 1))))
        .isInstanceOf(IllegalStateException.class);
    assertThat(idsInTable()).containsExactly(1L, 2L, 4L, 5L);
  }
}
