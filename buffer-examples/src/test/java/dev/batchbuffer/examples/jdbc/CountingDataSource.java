package dev.batchbuffer.examples.jdbc;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * A {@link DataSource} that sees what the driver is actually asked to send: every
 * {@code executeBatch} of every statement it hands out, with the number of {@code addBatch} calls
 * it carried, and every commit. A test wraps the real data source with it and asserts on the
 * requests, not on the writer's own idea of them.
 */
final class CountingDataSource {
  private final DataSource target;
  /** Rows per executeBatch, in the order they were sent (failed ones included). */
  final List<Integer> executeBatchSizes = new CopyOnWriteArrayList<>();
  final AtomicInteger commits = new AtomicInteger();
  final AtomicInteger connectionsOpened = new AtomicInteger();
  final AtomicInteger connectionsClosed = new AtomicInteger();

  CountingDataSource(DataSource target) {
    this.target = target;
  }

  /** The wrapping data source: its connections and statements count. */
  DataSource dataSource() {
    return proxy(DataSource.class, target, (ds, method, args) -> {
      Object result = invoke(method, ds, args);
      if (method.getName().equals("getConnection") && result instanceof Connection c) {
        connectionsOpened.incrementAndGet();
        return connection(c);
      }
      return result;
    });
  }

  /** The largest executeBatch sent, or 0. */
  int largestBatch() {
    return executeBatchSizes.stream().mapToInt(Integer::intValue).max().orElse(0);
  }

  /** The rows of all executeBatch calls together. */
  int rowsSent() {
    return executeBatchSizes.stream().mapToInt(Integer::intValue).sum();
  }

  private Connection connection(Connection c) {
    return proxy(Connection.class, c, (target, method, args) -> {
      Object result = invoke(method, target, args);
      switch (method.getName()) {
        case "commit" -> commits.incrementAndGet();
        case "close" -> connectionsClosed.incrementAndGet();
        case "prepareStatement" -> {
          if (result instanceof PreparedStatement p) {
            return statement(p);
          }
        }
        default -> { }
      }
      return result;
    });
  }

  private PreparedStatement statement(PreparedStatement p) {
    AtomicInteger added = new AtomicInteger();
    return proxy(PreparedStatement.class, p, (target, method, args) -> {
      switch (method.getName()) {
        case "addBatch" -> added.incrementAndGet();
        case "clearBatch" -> added.set(0);
        case "executeBatch", "executeLargeBatch" -> executeBatchSizes.add(added.getAndSet(0));
        default -> { }
      }
      return invoke(method, target, args);
    });
  }

  private interface Handler<T> {
    @Nullable Object handle(T target, Method method, @Nullable Object @Nullable [] args)
        throws Throwable;
  }

  private static <T> T proxy(Class<T> type, T target, Handler<T> handler) {
    InvocationHandler h = (proxy, method, args) -> handler.handle(target, method, args);
    return type.cast(Proxy.newProxyInstance(CountingDataSource.class.getClassLoader(),
        new Class<?>[] {type}, h));
  }

  private static @Nullable Object invoke(Method method, Object target,
      @Nullable Object @Nullable [] args) throws Throwable {
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
