package dev.batchbuffer.examples.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.Config;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.examples.jdbc.JdbcSinkContract.Row;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * PostgreSQL stopped while a buffer writes to it, then started again: the batches sent while it is
 * down fail as a whole, their rows reach the dead-letter hook and their futures fail with a
 * {@link DeliveryException}; the writer drops the broken connection and, once the server is back,
 * writes the next batches on a new one; nothing is lost without a trace (rows in the table plus
 * rows dead-lettered equal the rows produced, each once). Has its own server, since it stops it.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PostgresOutageIT {
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

  static LocalPostgres server() {
    return Objects.requireNonNull(server, "server");
  }

  /**
   * A lost or refused connection: SQLState class 08; or, because failsafe runs with assertions
   * enabled, pgjdbc's own {@code assert} on a broken connection (an Error, which the buffer hands
   * to onFlushError wrapped in an ExecutionException; without -ea pgjdbc throws an 08 error).
   */
  static boolean connectionFailure(Exception e) {
    if (e instanceof SQLException s) {
      String state = s.getSQLState();
      return state != null && state.startsWith("08");
    }
    return e instanceof ExecutionException && e.getCause() instanceof AssertionError a
        && a.getStackTrace().length > 0
        && a.getStackTrace()[0].getClassName().startsWith("org.postgresql.");
  }

  List<CompletableFuture<Void>> submit(Buffer<Row> buffer, long from, long to) throws Exception {
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (long id = from; id < to; id++) {
      futures.add(buffer.submit(JdbcSinkContract.row(id)));
    }
    return futures;
  }

  @Test
  void batchesSentWhileTheServerIsDownAreDeadLetteredAndTheRestArrivesOnce() throws Exception {
    try (Connection c = server().dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE outage (id BIGINT PRIMARY KEY, customer TEXT NOT NULL, "
          + "amount_cents BIGINT NOT NULL)");
    }
    CountingDataSource counting = new CountingDataSource(server().dataSource());
    List<Row> deadLetters = new CopyOnWriteArrayList<>();
    List<Exception> errors = new CopyOnWriteArrayList<>();
    try (JdbcBatchWriter<Row> writer = new JdbcBatchWriter<>(counting.dataSource(),
        "INSERT INTO outage (id, customer, amount_cents) VALUES (?, ?, ?)",
        (insert, r) -> {
          insert.setLong(1, r.id());
          insert.setString(2, r.customer());
          insert.setLong(3, r.amountCents());
        })) {
      Buffer<Row> buffer = Buffer.start(Config.builder(writer)
          .policy(Presets.jdbcExecuteBatch(100))
          .flushInterval(Duration.ofMillis(50))
          .onFlushError((e, rows) -> {
            errors.add(e);
            deadLetters.addAll(rows);
          })
          .build());

      List<CompletableFuture<Void>> before = submit(buffer, 0, 1_000);
      buffer.flush().get(30, TimeUnit.SECONDS);
      server().stop();
      List<CompletableFuture<Void>> during = submit(buffer, 1_000, 1_250);
      assertThatThrownBy(() -> buffer.flush().get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .cause().isInstanceOf(DeliveryException.class);
      server().restart();
      List<CompletableFuture<Void>> after = submit(buffer, 1_250, 1_500);
      buffer.close();

      for (CompletableFuture<Void> f : before) {
        assertThat(f).isCompleted().isNotCompletedExceptionally();
      }
      for (CompletableFuture<Void> f : during) {
        assertThat(f).isCompletedExceptionally();
        assertThatThrownBy(f::join).cause().isInstanceOfSatisfying(DeliveryException.class,
            e -> assertThat(e.reason()).isEqualTo(DeliveryException.Reason.FAILED));
      }
      for (CompletableFuture<Void> f : after) {
        assertThat(f.get(10, TimeUnit.SECONDS)).isNull();
      }
      assertThat(errors).isNotEmpty().allMatch(PostgresOutageIT::connectionFailure);
      assertThat(deadLetters).extracting(Row::id)
          .containsExactlyElementsOf(java.util.stream.LongStream.range(1_000, 1_250).boxed().toList());
      List<Long> inTable = new ArrayList<>();
      try (Connection c = server().dataSource().getConnection(); Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT id FROM outage ORDER BY id")) {
        while (rs.next()) {
          inTable.add(rs.getLong(1));
        }
      }
      List<Long> expected = new ArrayList<>();
      java.util.stream.LongStream.range(0, 1_000).forEach(expected::add);
      java.util.stream.LongStream.range(1_250, 1_500).forEach(expected::add);
      assertThat(inTable).containsExactlyElementsOf(expected);
      assertThat(inTable.size() + deadLetters.size()).isEqualTo(1_500);
      assertThat(counting.connectionsOpened.get()).as("a new connection after the outage")
          .isGreaterThanOrEqualTo(2);
      BufferStats stats = buffer.stats();
      JdbcSinkContract.assertIdentity(stats);
      assertThat(stats.flushed()).isEqualTo(1_250);
      assertThat(stats.failed()).isEqualTo(250);
    }
  }
}
