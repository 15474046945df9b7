package dev.batchbuffer.examples.jdbc;

import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.PartialFlushException;
import dev.batchbuffer.Presets;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLDataException;
import java.sql.SQLException;
import java.sql.SQLIntegrityConstraintViolationException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * A buffer's flush function that inserts each batch with one prepared statement, one
 * {@code executeBatch} and one transaction, and reports the rows the database refused one by one.
 *
 * {@snippet :
 * JdbcBatchWriter<Order> writer = new JdbcBatchWriter<>(dataSource,
 *     "INSERT INTO orders (id, customer, amount_cents) VALUES (?, ?, ?)",
 *     (insert, o) -> {
 *       insert.setLong(1, o.id());
 *       insert.setString(2, o.customer());
 *       insert.setLong(3, o.amountCents());
 *     });
 * Buffer<Order> buffer = Buffer.start(Config.builder(FlushMiddleware.chain(writer,
 *         FlushMiddleware.retry(RetryPolicy.builder()
 *             .retryOn(e -> !JdbcBatchWriter.isDataOrConstraintError(e)).build(), TimeSource.system())))
 *     .policy(Presets.jdbcExecuteBatch(500))
 *     .onFlushError((e, rows) -> deadLetters.addAll(rows))
 *     .build());
 * }
 *
 * <h2>Sizing</h2>
 * Size batches with {@link Presets#jdbcExecuteBatch(int) Presets.jdbcExecuteBatch(rows)}: a batch
 * is one round trip and one commit (one fsync), so the gain is large up to a few hundred rows and
 * flattens past a few thousand, while a longer transaction holds its locks longer and a refused row
 * costs more to find (below). Start at 500; stay under the driver's bind-parameter limit if it
 * rewrites a batch into multi-row statements (pgjdbc with {@code reWriteBatchedInserts=true}:
 * rows x columns below 32,767; SQLite's multi-row VALUES: 32,766 variables).
 *
 * <h2>Partial failure</h2>
 * When a row is refused (a unique key, a check constraint, a value out of range: the errors
 * {@code rowError} accepts, by default SQLState classes 22 and 23), the other rows are still
 * written and only the refused ones fail: the flush throws a {@link PartialFlushException} naming
 * their positions, so the buffer counts the rest as delivered, {@link
 * dev.batchbuffer.FlushMiddleware#retry} sends only the refused rows again, and {@code
 * onFlushError} and the items' futures hear about exactly those.
 *
 * <p>Drivers say differently which rows failed. {@link BatchUpdateException#getUpdateCounts()} may
 * be shorter than the batch (the driver stopped at the first failure: the rows before it were
 * fine), as long as the batch with {@link Statement#EXECUTE_FAILED} on the failed rows (the driver
 * went on), or all {@code EXECUTE_FAILED} (PostgreSQL aborts the whole transaction and reports
 * every row as failed); SQLite's driver throws a plain {@link SQLException} with no counts at all.
 * So the writer never commits the first attempt's survivors: it rolls the transaction back and
 * writes the batch again in the same transaction, one savepoint per part: the rows the counts
 * call good as one part, each row they name as failed on its own, and a part with no usable
 * counts split in two halves, recursively. A refused row is thus found in about
 * {@code 2 log2(rows)} smaller {@code executeBatch} calls (18 for 500 rows), paid only by batches
 * that hold one; rows are always written in batch order. Everything the search wrote is committed
 * once, at the end.
 *
 * <p>Any other error (the connection lost, a serialization failure, a commit that failed) fails the
 * whole batch: the transaction is rolled back and the exception thrown, so the buffer (or the retry
 * middleware) sees every row of the batch as not written. A broken connection is closed and the
 * next batch opens a new one. One case no client can settle: a connection lost during
 * {@code commit} may have committed; the batch is then reported failed although its rows may be in
 * the table, and a retry would meet a unique key. Give rows a key (as here) so that such a retry
 * is refused instead of duplicated.
 *
 * <h2>Connections and threads</h2>
 * The writer takes one connection from the {@link DataSource} when the first batch comes, keeps
 * it (in manual-commit mode) for the next batches, and closes it in {@link #close()}. Calls are
 * serialized by a lock: with {@code maxInFlight > 1} the flushes wait for each other, so give
 * each in-flight flush a writer of its own (over a pooled DataSource) if the database should
 * take several batches at once.
 *
 * @param <T> the row type
 */
public final class JdbcBatchWriter<T> implements FlushFunc<T>, AutoCloseable {

  /**
   * Sets the parameters of the insert for one row.
   *
   * @param <T> the row type
   */
  @FunctionalInterface
  public interface RowBinder<T> {
    /**
     * Binds {@code row} to {@code insert}'s parameters ({@code addBatch} is the writer's).
     *
     * @param insert the prepared insert
     * @param row the row
     * @throws SQLException if a parameter cannot be set
     */
    void bind(PreparedStatement insert, T row) throws SQLException;
  }

  private final DataSource dataSource;
  private final String insertSql;
  private final RowBinder<? super T> binder;
  private final Predicate<? super SQLException> rowError;
  private final ReentrantLock lock = new ReentrantLock();
  private @Nullable Connection connection;
  private boolean closed;

  /**
   * Creates a writer whose refused rows are those {@link #isDataOrConstraintError} accepts.
   *
   * @param dataSource where connections come from
   * @param insertSql the insert, with one {@code ?} per bound parameter
   * @param binder binds one row
   */
  public JdbcBatchWriter(DataSource dataSource, String insertSql, RowBinder<? super T> binder) {
    this(dataSource, insertSql, binder, JdbcBatchWriter::isDataOrConstraintError);
  }

  /**
   * Creates a writer.
   *
   * @param dataSource where connections come from
   * @param insertSql the insert, with one {@code ?} per bound parameter
   * @param binder binds one row
   * @param rowError which errors mean "this row is refused" (the others fail the whole batch);
   *     SQLite's driver sets no SQLState: use {@link #isSqliteConstraintError} there
   */
  public JdbcBatchWriter(DataSource dataSource, String insertSql, RowBinder<? super T> binder,
      Predicate<? super SQLException> rowError) {
    this.dataSource = Objects.requireNonNull(dataSource, "dataSource must not be null");
    this.insertSql = Objects.requireNonNull(insertSql, "insertSql must not be null");
    this.binder = Objects.requireNonNull(binder, "binder must not be null");
    this.rowError = Objects.requireNonNull(rowError, "rowError must not be null");
  }

  /**
   * Whether {@code e} (or, for a batch, the first error it chains) is a data exception (SQLState
   * class 22) or an integrity constraint violation (class 23): the row is refused, and sending it
   * again will not help.
   *
   * @param e the error
   * @return true for a refused row
   */
  public static boolean isDataOrConstraintError(Throwable e) {
    Throwable t = e;
    for (int depth = 0; t != null && depth < 16; depth++, t = t.getCause()) {
      if (refusal(t)) {
        return true;
      }
      SQLException next = t instanceof SQLException s ? s.getNextException() : null;
      if (next != null && refusal(next)) {
        return true;
      }
    }
    return false;
  }

  private static boolean refusal(Throwable t) {
    if (t instanceof SQLIntegrityConstraintViolationException || t instanceof SQLDataException) {
      return true;
    }
    String state = t instanceof SQLException s ? s.getSQLState() : null;
    return state != null && (state.startsWith("22") || state.startsWith("23"));
  }

  /**
   * Whether {@code e} is SQLite's {@code SQLITE_CONSTRAINT} (result code 19: unique, primary key,
   * check, not null, foreign key), which the xerial driver reports without a SQLState.
   *
   * @param e the error
   * @return true for a refused row
   */
  public static boolean isSqliteConstraintError(SQLException e) {
    return (e.getErrorCode() & 0xff) == 19;
  }

  /**
   * Inserts {@code batch} in one transaction.
   *
   * @param batch the rows, in order
   * @throws PartialFlushException if some rows were refused: their positions; the others are
   *     committed
   * @throws SQLException if the batch failed as a whole: nothing of it is committed (but see the
   *     class comment on a lost commit)
   * @throws IllegalStateException if the writer is closed
   */
  @Override
  public void flush(List<T> batch) throws SQLException, PartialFlushException {
    if (batch.isEmpty()) {
      return;
    }
    lock.lock();
    try {
      if (closed) {
        throw new IllegalStateException("the JdbcBatchWriter is closed");
      }
      Connection c = connection();
      try {
        write(c, batch);
      } catch (SQLException | RuntimeException | Error e) {
        abandon(c, e); // an Error too: pgjdbc run with -ea asserts on a broken connection
        throw e;
      }
    } finally {
      lock.unlock();
    }
  }

  private void write(Connection c, List<T> batch) throws SQLException, PartialFlushException {
    try (PreparedStatement insert = c.prepareStatement(insertSql)) {
      List<Integer> all = IntStream.range(0, batch.size()).boxed().toList();
      SQLException first;
      try {
        execute(insert, batch, all);
        c.commit();
        return;
      } catch (SQLException e) {
        if (!rowError.test(e)) {
          throw e;
        }
        first = e;
      }
      c.rollback();
      Refused refused = new Refused();
      isolate(c, insert, batch, all, first, refused);
      c.commit();
      if (!refused.indexes.isEmpty()) {
        throw new PartialFlushException(refused.indexes, refused.first);
      }
    }
  }

  /**
   * Writes the rows at {@code part}, whose write as one batch failed with {@code failure} (already
   * rolled back), each sub-part under a savepoint; records the rows that fail alone.
   */
  private void isolate(Connection c, PreparedStatement insert, List<T> batch, List<Integer> part,
      SQLException failure, Refused refused) throws SQLException {
    if (part.size() == 1) {
      refused.add(part.get(0), failure);
      return;
    }
    for (List<Integer> sub : split(part, failure)) {
      Savepoint savepoint = c.setSavepoint();
      try {
        execute(insert, batch, sub);
        c.releaseSavepoint(savepoint);
      } catch (SQLException e) {
        if (!rowError.test(e)) {
          throw e;
        }
        c.rollback(savepoint);
        isolate(c, insert, batch, sub, e, refused);
      }
    }
  }

  /**
   * Splits a failed part by what its update counts say: the rows before a short array's end, the
   * row at its end, the rest; or runs of good rows and each failed row; or, with no usable counts,
   * two halves. Every sub-part is smaller than {@code part}, so the search ends.
   */
  static List<List<Integer>> split(List<Integer> part, SQLException failure) {
    int n = part.size();
    int[] counts = failure instanceof BatchUpdateException b ? b.getUpdateCounts() : null;
    List<List<Integer>> subs = new ArrayList<>();
    if (counts != null && counts.length < n) {
      addIfAny(subs, part.subList(0, counts.length));
      subs.add(part.subList(counts.length, counts.length + 1));
      addIfAny(subs, part.subList(counts.length + 1, n));
      return subs;
    }
    if (counts != null && counts.length == n
        && IntStream.of(counts).anyMatch(x -> x != Statement.EXECUTE_FAILED)
        && IntStream.of(counts).anyMatch(x -> x == Statement.EXECUTE_FAILED)) {
      int runStart = 0;
      for (int i = 0; i < n; i++) {
        if (counts[i] == Statement.EXECUTE_FAILED) {
          addIfAny(subs, part.subList(runStart, i));
          subs.add(part.subList(i, i + 1));
          runStart = i + 1;
        }
      }
      addIfAny(subs, part.subList(runStart, n));
      return subs;
    }
    subs.add(part.subList(0, n / 2));
    subs.add(part.subList(n / 2, n));
    return subs;
  }

  private static void addIfAny(List<List<Integer>> subs, List<Integer> sub) {
    if (!sub.isEmpty()) {
      subs.add(sub);
    }
  }

  private void execute(PreparedStatement insert, List<T> batch, List<Integer> rows)
      throws SQLException {
    insert.clearBatch();
    for (int i : rows) {
      binder.bind(insert, batch.get(i));
      insert.addBatch();
    }
    insert.executeBatch();
  }

  private Connection connection() throws SQLException {
    Connection c = connection;
    if (c == null) {
      c = dataSource.getConnection();
      try {
        c.setAutoCommit(false);
      } catch (SQLException e) {
        closeQuietly(c, e);
        throw e;
      }
      connection = c;
    }
    return c;
  }

  /** After a failed batch: roll back; if the connection is broken, close it for a fresh one. */
  private void abandon(Connection c, Throwable failure) {
    try {
      c.rollback();
      if (c.isValid(5)) {
        return;
      }
    } catch (SQLException e) {
      failure.addSuppressed(e);
    }
    connection = null;
    closeQuietly(c, failure);
  }

  private static void closeQuietly(Connection c, Throwable failure) {
    try {
      c.close();
    } catch (SQLException e) {
      failure.addSuppressed(e);
    }
  }

  /**
   * Closes the connection; later flushes throw {@link IllegalStateException}. Waits for a running
   * flush. Idempotent.
   *
   * @throws SQLException if the connection could not be closed
   */
  @Override
  public void close() throws SQLException {
    lock.lock();
    try {
      closed = true;
      Connection c = connection;
      connection = null;
      if (c != null) {
        c.close();
      }
    } finally {
      lock.unlock();
    }
  }

  /** The rows refused alone, ascending, and the first refusal. */
  private static final class Refused {
    final List<Integer> indexes = new ArrayList<>();
    @Nullable SQLException first;

    void add(int index, SQLException e) {
      indexes.add(index);
      if (first == null) {
        first = e;
      }
    }
  }
}
