package dev.batchbuffer.examples.sqs;

import java.net.URI;
import java.time.Duration;
import org.elasticmq.rest.sqs.SQSRestServer;
import org.elasticmq.rest.sqs.SQSRestServerBuilder;

/**
 * ElasticMQ, an SQS-compatible server, run in this JVM on 127.0.0.1 on a port the system picks,
 * for the integration tests and the demo. In memory: what was sent is gone when it stops.
 * ElasticMQ enforces the 10-entry limit and refuses bodies with characters SQS forbids, entry by
 * entry, but not the request byte limit: check that on the client side.
 */
public final class LocalSqs implements AutoCloseable {
  private final SQSRestServer server;
  private final URI endpoint;
  private final Duration startup;
  private boolean stopped;

  private LocalSqs(SQSRestServer server, URI endpoint, Duration startup) {
    this.server = server;
    this.endpoint = endpoint;
    this.startup = startup;
  }

  /**
   * Starts ElasticMQ on 127.0.0.1 and waits until it listens.
   *
   * @return the running server
   */
  public static LocalSqs start() {
    long t0 = System.nanoTime();
    SQSRestServer server = SQSRestServerBuilder.withInterface("127.0.0.1").withDynamicPort().start();
    try {
      int port = server.waitUntilStarted().localAddress().getPort();
      return new LocalSqs(server, URI.create("http://127.0.0.1:" + port),
          Duration.ofNanos(System.nanoTime() - t0));
    } catch (RuntimeException e) {
      server.stopAndWait();
      throw e;
    }
  }

  /**
   * Returns the server's URL.
   *
   * @return {@code http://127.0.0.1:PORT}
   */
  public URI endpoint() {
    return endpoint;
  }

  /**
   * Returns how to reach the server: its endpoint, any region, dummy credentials.
   *
   * @return the connection
   */
  public SqsConnection connection() {
    return SqsConnection.local(endpoint);
  }

  /**
   * Returns how long {@link #start} took.
   *
   * @return the start-up time
   */
  public Duration startupTime() {
    return startup;
  }

  /** Stops the server and waits until it has stopped; idempotent. */
  @Override
  public synchronized void close() {
    if (!stopped) {
      stopped = true;
      server.stopAndWait();
    }
  }
}
