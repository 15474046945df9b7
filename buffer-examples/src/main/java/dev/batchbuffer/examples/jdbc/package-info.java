/**
 * Batched inserts over JDBC: {@link JdbcBatchWriter}, a flush function writing each batch with one
 * {@code executeBatch} in one transaction and reporting refused rows one by one to the buffer;
 * {@link LocalPostgres}, the PostgreSQL server the integration tests and the demo start on
 * 127.0.0.1; and {@link PostgresBackend}, the demo's {@code --backend postgres}.
 */
@NullMarked
package dev.batchbuffer.examples.jdbc;

import org.jspecify.annotations.NullMarked;
