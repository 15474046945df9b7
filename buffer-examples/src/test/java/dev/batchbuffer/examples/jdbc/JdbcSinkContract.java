package dev.batchbuffer.examples.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.Config;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.Presets;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import java.util.stream.LongStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/**
 * What {@link JdbcBatchWriter} promises on a real database, run by {@link SqliteIT} and
 * {@link PostgresIT} against theirs: every row arrives exactly once, no {@code executeBatch} the
 * driver sent held more rows than the preset, the buffer's accounting identity holds, and a row
 * the database refuses inside a batch fails alone: the others are committed, the retry middleware
 * sends only the refused row again, and the row ends in the dead-letter hook with a
 * {@link DeliveryException} on its future.
 */
abstract class JdbcSinkContract {
  private static final AtomicInteger TABLES = new AtomicInteger();

  /** The database under test. */
  abstract DataSource dataSource();

  /** Which errors the database uses for a refused row. */
  abstract Predicate<SQLException> rowError();

  /** A row of the tests' tables. */
  record Row(long id, String customer, long amountCents) {}

  static Row row(long id) {
    return new Row(id, "customer-" + (id % 97), (id * 7919) % 100_000);
  }

  /** Creates a fresh table (a unique key and a check) and returns its name. */
  String newTable() throws SQLException {
    String table = "rows_" + TABLES.incrementAndGet();
    try (Connection c = dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE " + table + " (id BIGINT PRIMARY KEY, customer TEXT NOT NULL, "
          + "amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0))");
    }
    return table;
  }

  JdbcBatchWriter<Row> writer(DataSource ds, String table) {
    return new JdbcBatchWriter<>(ds,
        "INSERT INTO " + table + " (id, customer, amount_cents) VALUES (?, ?, ?)",
        (insert, r) -> {
          insert.setLong(1, r.id());
          insert.setString(2, r.customer());
          insert.setLong(3, r.amountCents());
        }, rowError());
  }

  /** The ids in {@code table}, each as often as it is there. */
  Map<Long, Integer> idsIn(String table) throws SQLException {
    Map<Long, Integer> ids = new HashMap<>();
    try (Connection c = dataSource().getConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT id FROM " + table)) {
      while (rs.next()) {
        ids.merge(rs.getLong(1), 1, Integer::sum);
      }
    }
    return ids;
  }

  static void assertIdentity(BufferStats stats) {
    assertThat(stats.accepted()).as(stats.toString())
        .isEqualTo(stats.flushed() + stats.failed() + stats.rejected() + stats.undelivered());
    assertThat(stats.itemsWaiting()).isZero();
    assertThat(stats.itemsFlushing()).isZero();
  }

  @Test
  void everyRowArrivesOnceInBatchesNoLargerThanThePreset() throws Exception {
    String table = newTable();
    CountingDataSource counting = new CountingDataSource(dataSource());
    int producers = 8;
    int perProducer = 1_000;
    int rows = 100;
    List<Row> deadLetters = new CopyOnWriteArrayList<>();
    try (JdbcBatchWriter<Row> writer = writer(counting.dataSource(), table)) {
      Buffer<Row> buffer = Buffer.start(Config.builder(writer)
          .policy(Presets.jdbcExecuteBatch(rows))
          .flushInterval(Duration.ofMillis(20))
          .onFlushError((e, batch) -> deadLetters.addAll(batch))
          .build());
      List<CompletableFuture<Void>> futures = new CopyOnWriteArrayList<>();
      try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
        List<Future<?>> running = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
          int producer = p;
          running.add(pool.submit(() -> {
            for (long id = producer; id < (long) producers * perProducer; id += producers) {
              futures.add(buffer.submit(row(id)));
            }
            return null;
          }));
        }
        for (Future<?> f : running) {
          f.get(60, TimeUnit.SECONDS); // a producer's failure reaches this thread
        }
      }
      buffer.close();
      CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);

      int produced = producers * perProducer;
      Map<Long, Integer> ids = idsIn(table);
      assertThat(ids).hasSize(produced);
      assertThat(ids.values()).containsOnly(1);
      assertThat(ids.keySet()).containsExactlyInAnyOrderElementsOf(
          LongStream.range(0, produced).boxed().toList());
      assertThat(deadLetters).isEmpty();
      assertThat(counting.largestBatch()).isPositive().isLessThanOrEqualTo(rows);
      assertThat(counting.rowsSent()).isEqualTo(produced);
      assertThat(counting.commits.get()).isEqualTo(counting.executeBatchSizes.size());
      assertThat(counting.connectionsOpened.get()).isEqualTo(1);
      BufferStats stats = buffer.stats();
      assertIdentity(stats);
      assertThat(stats.flushed()).isEqualTo(produced);
    }
  }

  @Test
  void aRefusedRowFailsAloneAndTheRetrySendsOnlyIt() throws Exception {
    String table = newTable();
    try (JdbcBatchWriter<Row> seed = writer(dataSource(), table)) {
      seed.flush(List.of(row(1_033))); // row 33 of the batch will meet this key
    }
    List<Row> batch = new ArrayList<>();
    for (long i = 0; i < 50; i++) {
      batch.add(i == 17 ? new Row(1_017, "bad", -1) : row(1_000 + i)); // 17 breaks the check
    }
    Row refusedByCheck = batch.get(17);
    Row refusedByKey = batch.get(33);

    CountingDataSource counting = new CountingDataSource(dataSource());
    List<List<Long>> calls = new CopyOnWriteArrayList<>();
    List<Row> deadLetters = new CopyOnWriteArrayList<>();
    List<Exception> deadLetterErrors = new CopyOnWriteArrayList<>();
    try (JdbcBatchWriter<Row> writer = writer(counting.dataSource(), table)) {
      FlushFunc<Row> recorded = rows -> {
        calls.add(rows.stream().map(Row::id).toList());
        writer.flush(rows);
      };
      RetryPolicy retry = RetryPolicy.builder().maxAttempts(3)
          .backoff(Duration.ofMillis(1), Duration.ofMillis(1)).build();
      Buffer<Row> buffer = Buffer.start(Config.builder(
              FlushMiddleware.chain(recorded, FlushMiddleware.retry(retry, TimeSource.system())))
          .policy(Presets.jdbcExecuteBatch(batch.size()))
          .onFlushError((e, rows) -> {
            deadLetterErrors.add(e);
            deadLetters.addAll(rows);
          })
          .build());
      List<CompletableFuture<Void>> futures = new ArrayList<>();
      for (Row r : batch) {
        futures.add(buffer.submit(r));
      }
      buffer.close();

      assertThat(calls).hasSize(3);
      assertThat(calls.get(0)).hasSize(50);
      assertThat(calls.get(1)).containsExactly(refusedByCheck.id(), refusedByKey.id());
      assertThat(calls.get(2)).containsExactly(refusedByCheck.id(), refusedByKey.id());
      assertThat(deadLetters).containsExactly(refusedByCheck, refusedByKey);
      assertThat(deadLetterErrors).singleElement().isInstanceOf(PartialFlushException.class);
      assertThat(deadLetterErrors.get(0).getCause()).isInstanceOfSatisfying(SQLException.class,
          e -> assertThat(rowError().test(e)).as(e.toString()).isTrue());
      for (int i = 0; i < batch.size(); i++) {
        CompletableFuture<Void> f = futures.get(i);
        if (i == 17 || i == 33) {
          assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS))
              .isInstanceOf(ExecutionException.class)
              .cause().isInstanceOf(DeliveryException.class)
              .satisfies(e -> assertThat(((DeliveryException) e).reason())
                  .isEqualTo(DeliveryException.Reason.FAILED));
        } else {
          assertThat(f.get(10, TimeUnit.SECONDS)).as("row %d", i).isNull();
        }
      }
      Map<Long, Integer> ids = idsIn(table);
      assertThat(ids.values()).containsOnly(1);
      assertThat(ids.keySet()).hasSize(49).doesNotContain(refusedByCheck.id());
      for (int i = 0; i < batch.size(); i++) {
        if (i != 17 && i != 33) {
          assertThat(ids).as("row %d", i).containsKey(batch.get(i).id());
        }
      }
      assertThat(counting.largestBatch()).isEqualTo(50);
      BufferStats stats = buffer.stats();
      assertIdentity(stats);
      assertThat(stats.flushed()).isEqualTo(48);
      assertThat(stats.failed()).isEqualTo(2);
      assertThat(stats.retried()).isEqualTo(4);
    }
  }

  @Test
  void aRefusedRowThatMustNotBeRetriedGoesStraightToTheDeadLetterHook() throws Exception {
    String table = newTable();
    List<Row> batch = List.of(row(1), new Row(2, "bad", -5), row(3), row(1));
    List<List<Long>> calls = new CopyOnWriteArrayList<>();
    List<Row> deadLetters = new CopyOnWriteArrayList<>();
    try (JdbcBatchWriter<Row> writer = writer(dataSource(), table)) {
      FlushFunc<Row> recorded = rows -> {
        calls.add(rows.stream().map(Row::id).toList());
        writer.flush(rows);
      };
      Predicate<SQLException> refused = rowError();
      RetryPolicy retry = RetryPolicy.builder().maxAttempts(5)
          .backoff(Duration.ofMillis(1), Duration.ofMillis(1))
          .retryOn(e -> !(e instanceof SQLException s && refused.test(s))).build();
      Buffer<Row> buffer = Buffer.start(Config.builder(
              FlushMiddleware.chain(recorded, FlushMiddleware.retry(retry, TimeSource.system())))
          .policy(Presets.jdbcExecuteBatch(batch.size()))
          .onFlushError((e, rows) -> deadLetters.addAll(rows))
          .build());
      for (Row r : batch) {
        buffer.add(r);
      }
      buffer.close();

      assertThat(calls).hasSize(1);
      assertThat(deadLetters).containsExactly(batch.get(1), batch.get(3));
      assertThat(idsIn(table)).containsOnlyKeys(1L, 3L);
      assertIdentity(buffer.stats());
    }
  }
}
