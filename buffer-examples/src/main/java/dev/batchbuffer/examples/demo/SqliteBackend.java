package dev.batchbuffer.examples.demo;

import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Presets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/**
 * The demo's embedded default: the orders table in a SQLite file. One connection, used by one
 * thread at a time (the buffer's loop, then the main thread for the checks); not thread-safe.
 */
final class SqliteBackend implements DemoBackend {
  private static final String INSERT =
      "INSERT INTO %s (id, producer, customer, amount_cents, created_at) VALUES (?, ?, ?, ?, ?)";

  private final Connection connection;
  private final Path file;

  /** The table that marks a file as the demo's own: its tables may be dropped and made again. */
  private static final String MARK = "batchbuffer_demo";

  /**
   * Opens {@code file} and makes the demo's tables afresh.
   *
   * @throws DemoBackends.Unavailable if the file holds tables the demo did not create (a
   *     {@code --db} naming an application's database): nothing is dropped
   */
  SqliteBackend(Path file) throws SQLException, DemoBackends.Unavailable {
    this.file = file;
    connection = DriverManager.getConnection("jdbc:sqlite:" + file);
    try {
      makeTables(connection, file);
    } catch (SQLException | DemoBackends.Unavailable | RuntimeException e) {
      try {
        connection.close();
      } catch (SQLException close) {
        e.addSuppressed(close);
      }
      throw e;
    }
  }

  private static void makeTables(Connection connection, Path file)
      throws SQLException, DemoBackends.Unavailable {
    try (Statement s = connection.createStatement()) {
      List<String> theirs = new java.util.ArrayList<>();
      try (ResultSet rs = s.executeQuery("SELECT name FROM sqlite_master WHERE type = 'table' "
          + "AND name NOT LIKE 'sqlite_%' ORDER BY name")) {
        while (rs.next()) {
          theirs.add(rs.getString(1));
        }
      }
      if (!theirs.isEmpty() && !theirs.contains(MARK)) {
        throw new DemoBackends.Unavailable("sqlite", file + " holds tables the demo did not "
            + "create " + theirs + ": give --db a new file (the demo drops and remakes its tables)");
      }
      s.execute("CREATE TABLE IF NOT EXISTS " + MARK + " (created_by TEXT)");
      for (String table : List.of("orders", "orders_single")) {
        s.execute("DROP TABLE IF EXISTS " + table);
        s.execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, producer INTEGER NOT NULL, "
            + "customer TEXT NOT NULL, amount_cents INTEGER NOT NULL, created_at INTEGER NOT NULL)");
      }
    }
  }


  @Override
  public String describe() {
    return "SQLite " + file;
  }

  @Override
  public String batchUnit() {
    return "one executeBatch + commit";
  }

  @Override
  public FlushPolicy<Order> policy(int capacity) {
    return Presets.jdbcExecuteBatch(capacity);
  }

  /** Writes one batch: one executeBatch, one commit. The buffer's flush function. */
  @Override
  public void writeBatch(List<Order> batch) throws SQLException {
    connection.setAutoCommit(false);
    try (PreparedStatement insert = connection.prepareStatement(INSERT.formatted("orders"))) {
      for (Order o : batch) {
        bind(insert, o);
        insert.addBatch();
      }
      insert.executeBatch();
      connection.commit();
    } catch (SQLException e) {
      connection.rollback();
      throw e;
    }
  }

  /** Writes each order in its own transaction: the way the demo shows not to do it. */
  @Override
  public void writeOneByOne(List<Order> orders) throws SQLException {
    connection.setAutoCommit(true);
    try (PreparedStatement insert = connection.prepareStatement(INSERT.formatted("orders_single"))) {
      for (Order o : orders) {
        bind(insert, o);
        insert.executeUpdate();
      }
    }
  }

  /** Counts the orders table and sums its checksum, computed as {@link Order#checksum}. */
  @Override
  public Arrived arrived() throws SQLException {
    try (Statement s = connection.createStatement();
        ResultSet rs = s.executeQuery(
            "SELECT COUNT(*), COALESCE(SUM((id % 1000003) * 31 + amount_cents), 0) FROM orders")) {
      rs.next();
      return new Arrived(rs.getLong(1), rs.getLong(2), 0); // the primary key forbids duplicates
    }
  }

  private static void bind(PreparedStatement insert, Order o) throws SQLException {
    insert.setLong(1, o.id());
    insert.setInt(2, o.producer());
    insert.setString(3, o.customer());
    insert.setLong(4, o.amountCents());
    insert.setLong(5, o.createdAtMillis());
  }

  @Override
  public void close() throws SQLException {
    connection.close();
  }
}
