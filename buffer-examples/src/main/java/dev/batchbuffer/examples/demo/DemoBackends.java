package dev.batchbuffer.examples.demo;

import dev.batchbuffer.examples.kinesis.KinesisBackend;
import dev.batchbuffer.examples.kinesis.LocalKinesis;
import dev.batchbuffer.examples.pubsub.LocalPubSub;
import dev.batchbuffer.examples.pubsub.PubSubBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** The backends of {@code --backend}: each name and how to start it. */
final class DemoBackends {
  private DemoBackends() {}

  /** The names {@code --backend} accepts, the embedded default first. */
  static final List<String> NAMES = List.of("sqlite", "postgres", "sqs", "kafka", "kinesis", "pubsub", "file");

  /**
   * Starts the backend named {@code name}: opens the embedded file, or starts the server on
   * 127.0.0.1 (which {@link DemoBackend#close()} stops).
   */
  static DemoBackend open(String name, DemoOptions options) throws Exception {
    return switch (name) {
      case "sqlite" -> {
        Path file = sqliteFile(options);
        try {
          yield new SqliteBackend(file);
        } catch (java.sql.SQLException e) {
          throw new Unavailable("sqlite", file + " cannot be used as the demo's database: "
              + e.getMessage());
        }
      }
      case "sqs" -> dev.batchbuffer.examples.sqs.SqsDemoBackend.start();
      case "postgres" -> new dev.batchbuffer.examples.jdbc.PostgresBackend();
      case "kafka" -> new dev.batchbuffer.examples.kafka.KafkaDemoBackend();
      case "file" -> new dev.batchbuffer.examples.file.FileDemoBackend();
      case "kinesis" -> {
        Optional<String> why = LocalKinesis.unavailable();
        if (why.isPresent()) {
          throw new Unavailable("kinesis", why.get());
        }
        yield new KinesisBackend();
      }
      case "pubsub" -> {
        Optional<String> why = LocalPubSub.unavailable();
        if (why.isPresent()) {
          throw new Unavailable("pubsub", why.get());
        }
        yield new PubSubBackend();
      }
      default -> throw new IllegalArgumentException("unknown backend '" + name + "' (one of "
          + String.join(", ", NAMES) + ")");
    };
  }

  /** A backend whose server cannot start on this machine (a tool or a file is missing). */
  static final class Unavailable extends Exception {
    private static final long serialVersionUID = 1L;

    Unavailable(String backend, String why) {
      super("backend " + backend + " cannot run here: " + why);
    }
  }

  private static Path sqliteFile(DemoOptions options) throws java.io.IOException {
    Path db = options.db();
    if (db == null) {
      db = Files.createTempFile("batchbuffer-demo-", ".db");
      db.toFile().deleteOnExit();
    }
    return db;
  }
}
