package dev.batchbuffer.examples.demo;

import dev.batchbuffer.FlushPolicy;
import java.util.List;

/**
 * A backend the demo writes its orders to: the embedded SQLite file by default, or a server that the
 * backend starts itself on 127.0.0.1 ({@code --backend}). The demo runs the same producers, buffer
 * and report against each; a backend supplies the batch write, the one-at-a-time write it is
 * compared with, the sizing of its batches, and a read-back of what arrived.
 *
 * <p>Used by one thread at a time except {@link #writeBatch}, which the buffer calls from its loop
 * (or, with {@code maxInFlight > 1}, from several flush threads: a backend that allows that says so
 * in {@link #maxInFlight}).
 */
@SuppressWarnings("try") // close() may be interrupted while it stops a server: it says so
public interface DemoBackend extends AutoCloseable {

  /**
   * Returns one line naming the backend and where it runs, for the banner.
   *
   * @return e.g. {@code "PostgreSQL 14 (embedded) on 127.0.0.1:54321"}
   */
  String describe();

  /**
   * Returns what one batch becomes on this backend, for the banner.
   *
   * @return e.g. {@code "one executeBatch + commit"} or {@code "one SendMessageBatch request"}
   */
  String batchUnit();

  /**
   * Returns where {@link #arrived} counted, for the report's check line ("table has 20,000 rows").
   *
   * @return e.g. {@code "table"}, {@code "queue"}, {@code "topic"}
   */
  default String arrivedPlace() {
    return "table";
  }

  /**
   * Returns what {@link #arrived} counted, plural, for the report's check line.
   *
   * @return e.g. {@code "rows"}, {@code "messages"}, {@code "records"}, {@code "lines"}
   */
  default String arrivedUnit() {
    return "rows";
  }

  /**
   * Returns the flush policy that sizes batches for this backend: the backend's preset, holding at
   * most {@code capacity} orders where the backend allows that many.
   *
   * @param capacity the demo's {@code --capacity}
   * @return the policy
   */
  FlushPolicy<Order> policy(int capacity);

  /**
   * Returns how many batch writes may run at once against this backend.
   *
   * @return at least 1
   */
  default int maxInFlight() {
    return 1;
  }

  /**
   * Writes one batch: the buffer's flush function.
   *
   * @param batch the orders, in the order they were added
   * @throws Exception if the write failed; the buffer reports it
   */
  void writeBatch(List<Order> batch) throws Exception;

  /**
   * Writes {@code orders} one request (or transaction) each, to a destination of their own so that
   * the check of the batched run is not disturbed: the comparison the demo ends with.
   *
   * @param orders the orders
   * @throws Exception if a write failed
   */
  void writeOneByOne(List<Order> orders) throws Exception;

  /**
   * Reads back what the batched run delivered.
   *
   * @return the count, the checksum (the sum of {@link Order#checksum()}) and the duplicates seen
   * @throws Exception if the backend cannot be read
   */
  Arrived arrived() throws Exception;

  /**
   * Stops what the backend started (the server, its client, its temporary files).
   *
   * @throws Exception if something could not be stopped; the rest is still stopped
   */
  @Override
  void close() throws Exception;

  /**
   * What arrived at the backend.
   *
   * @param count orders found
   * @param checksum the sum of their {@link Order#checksum()}
   * @param duplicates orders found more than once (always 0 where the backend's key forbids them)
   */
  record Arrived(long count, long checksum, long duplicates) {}
}
