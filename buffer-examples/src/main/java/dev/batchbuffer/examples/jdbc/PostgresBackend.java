package dev.batchbuffer.examples.jdbc;

import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Presets;
import dev.batchbuffer.examples.demo.DemoBackend;
import dev.batchbuffer.examples.demo.Order;
import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/**
 * The demo's {@code --backend postgres}: a {@link LocalPostgres} server started for the run, the
 * orders written by a {@link JdbcBatchWriter} (one {@code executeBatch} + commit per batch), the
 * comparison written one row per transaction to a table of its own.
 */
public final class PostgresBackend implements DemoBackend {
  private static final String INSERT =
      "INSERT INTO %s (id, producer, customer, amount_cents, created_at) VALUES (?, ?, ?, ?, ?)";

  private final LocalPostgres server;
  private final JdbcBatchWriter<Order> writer;
  /** The comparison's own connection, opened up front so that its timing holds only the writes. */
  private final Connection single;

  /**
   * Starts PostgreSQL on 127.0.0.1 and creates the {@code orders} and {@code orders_single} tables.
   *
   * @throws IOException if the server did not start
   * @throws SQLException if the tables could not be created (the server is then stopped)
   */
  public PostgresBackend() throws IOException, SQLException {
    server = LocalPostgres.start();
    try {
      try (Connection c = server.dataSource().getConnection(); Statement s = c.createStatement()) {
        for (String table : List.of("orders", "orders_single")) {
          s.execute("CREATE TABLE " + table + " (id BIGINT PRIMARY KEY, producer INTEGER NOT NULL, "
              + "customer TEXT NOT NULL, amount_cents BIGINT NOT NULL, created_at BIGINT NOT NULL)");
        }
      }
      writer = new JdbcBatchWriter<>(server.dataSource(), INSERT.formatted("orders"),
          PostgresBackend::bind);
      single = server.dataSource().getConnection();
    } catch (SQLException | RuntimeException | Error e) { // the server must not outlive a failed start
      try {
        server.close();
      } catch (IOException closing) {
        e.addSuppressed(closing);
      }
      throw e;
    }
  }

  @Override
  public String describe() {
    return server + ", up in " + server.startupTime().toMillis() + " ms";
  }

  @Override
  public String batchUnit() {
    return "one executeBatch + commit";
  }

  @Override
  public FlushPolicy<Order> policy(int capacity) {
    return Presets.jdbcExecuteBatch(capacity);
  }

  @Override
  public void writeBatch(List<Order> batch) throws Exception {
    writer.flush(batch);
  }

  /** Writes each order in its own transaction (autocommit), on a connection of its own. */
  @Override
  public void writeOneByOne(List<Order> orders) throws SQLException {
    try (PreparedStatement insert = single.prepareStatement(INSERT.formatted("orders_single"))) {
      for (Order o : orders) {
        bind(insert, o);
        insert.executeUpdate();
      }
    }
  }

  @Override
  public Arrived arrived() throws SQLException {
    try (Connection c = server.dataSource().getConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT COUNT(*), "
            + "COALESCE(SUM((id % 1000003) * 31 + amount_cents), 0), "
            + "COUNT(*) - COUNT(DISTINCT id) FROM orders")) {
      rs.next();
      return new Arrived(rs.getLong(1), rs.getLong(2), rs.getLong(3));
    }
  }

  private static void bind(PreparedStatement insert, Order o) throws SQLException {
    insert.setLong(1, o.id());
    insert.setInt(2, o.producer());
    insert.setString(3, o.customer());
    insert.setLong(4, o.amountCents());
    insert.setLong(5, o.createdAtMillis());
  }

  /** Closes the connections, stops the server and deletes its data. */
  @Override
  public void close() throws IOException, SQLException {
    try (single) {
      writer.close();
    } finally {
      server.close();
    }
  }
}
