package dev.batchbuffer.examples.kafka;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;

/**
 * A one-node Kafka cluster (broker and KRaft controller in one process) running inside this JVM on
 * 127.0.0.1, on two free ports, with its log directory in a fresh temporary directory that
 * {@link #close()} removes. For tests and the demo; a production application gets its bootstrap
 * servers from configuration instead.
 *
 * <p>It uses Kafka's internal server classes ({@code kafka.tools.StorageTool},
 * {@code kafka.server.KafkaRaftServer}), which change between releases: this class is written
 * against {@code kafka_2.13} 4.4.0 and pinned to it. The steps are the ones {@code kafka-storage.sh
 * format} and {@code kafka-server-start.sh} take: write a {@code server.properties}, format the log
 * directory with a new cluster id, start the server.
 */
public final class LocalKafka implements AutoCloseable {
  private final Path dir;
  private final int port;
  private final KafkaRaftServer server;
  private final Duration startUp;
  private boolean closed;

  private LocalKafka(Path dir, int port, KafkaRaftServer server, Duration startUp) {
    this.dir = dir;
    this.port = port;
    this.server = server;
    this.startUp = startUp;
  }

  /**
   * Formats a temporary log directory and starts the broker on 127.0.0.1. Returns once the broker
   * answers an admin request.
   *
   * @return the running broker; close it to stop it and delete its files
   * @throws IOException if the directory or the configuration cannot be written, or no port is free
   * @throws IllegalStateException if formatting fails or the broker does not answer within 60 s
   */
  public static LocalKafka start() throws IOException {
    long begin = System.nanoTime();
    Path dir = Files.createTempDirectory("batchbuffer-kafka-");
    try {
      int port = freePort();
      int controllerPort = freePort();
      Map<String, String> props = new HashMap<>();
      props.put("process.roles", "broker,controller");
      props.put("node.id", "1");
      props.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
      props.put("controller.listener.names", "CONTROLLER");
      props.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
      props.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
      props.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
      props.put("inter.broker.listener.name", "PLAINTEXT");
      props.put("log.dirs", dir.resolve("logs").toString());
      props.put("offsets.topic.replication.factor", "1");
      props.put("offsets.topic.num.partitions", "1");
      props.put("transaction.state.log.replication.factor", "1");
      props.put("transaction.state.log.min.isr", "1");
      props.put("share.coordinator.state.topic.replication.factor", "1");
      props.put("share.coordinator.state.topic.min.isr", "1");
      props.put("default.replication.factor", "1");
      props.put("min.insync.replicas", "1");
      props.put("group.initial.rebalance.delay.ms", "0");
      props.put("auto.create.topics.enable", "false");
      Path config = dir.resolve("server.properties");
      Properties file = new Properties();
      file.putAll(props);
      try (var out = Files.newBufferedWriter(config, StandardCharsets.UTF_8)) {
        file.store(out, "batchbuffer LocalKafka");
      }
      format(config);
      KafkaRaftServer server = new KafkaRaftServer(new KafkaConfig(props), Time.SYSTEM);
      server.startup();
      try {
        awaitReady("127.0.0.1:" + port);
      } catch (RuntimeException e) {
        server.shutdown();
        server.awaitShutdown();
        throw e;
      }
      return new LocalKafka(dir, port, server, Duration.ofNanos(System.nanoTime() - begin));
    } catch (IOException | RuntimeException e) {
      deleteRecursively(dir);
      throw e;
    }
  }

  /**
   * Returns the {@code bootstrap.servers} of the broker.
   *
   * @return {@code 127.0.0.1:PORT}
   */
  public String bootstrapServers() {
    return "127.0.0.1:" + port;
  }

  /**
   * Returns how long {@link #start()} took, from creating the directory to the first answered admin
   * request.
   *
   * @return the start-up time
   */
  public Duration startUpTime() {
    return startUp;
  }

  /**
   * Creates a topic and waits until the broker has it.
   *
   * @param name the topic
   * @param partitions its partitions
   * @param configs topic-level settings (e.g. {@code max.message.bytes}), possibly empty
   * @throws IllegalStateException if the broker refuses or does not answer within 30 s
   */
  public void createTopic(String name, int partitions, Map<String, String> configs) {
    try (Admin admin = admin()) {
      admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs)))
          .all().get(30, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("cannot create topic " + name, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topic " + name, e);
    }
  }

  /**
   * Stops the broker, waits for it to stop, and deletes its log directory. Idempotent.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      server.shutdown();
      server.awaitShutdown();
    } finally {
      deleteRecursively(dir);
    }
  }

  private Admin admin() {
    return admin(bootstrapServers());
  }

  private static Admin admin(String bootstrapServers) {
    Map<String, Object> config = new HashMap<>();
    config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
    return Admin.create(config);
  }

  private static void awaitReady(String bootstrapServers) {
    try (Admin admin = admin(bootstrapServers)) {
      admin.describeCluster().nodes().get(60, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("the broker on " + bootstrapServers + " did not answer", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the broker", e);
    }
  }

  private static void format(Path config) {
    ByteArrayOutputStream output = new ByteArrayOutputStream();
    int status;
    try (PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8)) {
      status = StorageTool.execute(new String[] {"format", "-t", Uuid.randomUuid().toString(),
          "-c", config.toString()}, out);
    }
    if (status != 0) {
      throw new IllegalStateException("kafka-storage format failed (" + status + "): "
          + output.toString(StandardCharsets.UTF_8));
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  private static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try {
      Files.walkFileTree(dir, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
          Files.delete(file);
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
          if (e != null) {
            throw e;
          }
          Files.delete(d);
          return FileVisitResult.CONTINUE;
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + dir, e);
    }
  }
}
