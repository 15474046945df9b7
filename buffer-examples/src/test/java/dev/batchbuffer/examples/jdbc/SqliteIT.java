package dev.batchbuffer.examples.jdbc;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.sqlite.SQLiteDataSource;

/**
 * {@link JdbcSinkContract} on a SQLite file: the embedded default, whose driver reports a refused
 * row as a plain {@link SQLException} with no update counts and no SQLState (only
 * {@code SQLITE_CONSTRAINT}), so the writer finds the row by splitting the batch.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SqliteIT extends JdbcSinkContract {
  private static Path file = Path.of("unset");
  private static DataSource dataSource = new SQLiteDataSource();

  @BeforeAll
  static void openFile() throws Exception {
    file = Files.createTempFile("batchbuffer-sqlite-it-", ".db");
    SQLiteDataSource ds = new SQLiteDataSource();
    ds.setUrl("jdbc:sqlite:" + file);
    dataSource = ds;
  }

  @AfterAll
  static void deleteFile() throws Exception {
    Files.deleteIfExists(file);
  }

  @Override
  DataSource dataSource() {
    return dataSource;
  }

  @Override
  Predicate<SQLException> rowError() {
    return JdbcBatchWriter::isSqliteConstraintError;
  }
}
