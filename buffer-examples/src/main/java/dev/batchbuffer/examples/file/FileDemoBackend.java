package dev.batchbuffer.examples.file;

import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.examples.demo.DemoBackend;
import dev.batchbuffer.examples.demo.Order;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The demo's {@code --backend file}: the orders appended to a log file in a fresh temporary
 * directory by a {@link FileLogWriter} (one gathering write per batch, a sync every 4 MiB and at
 * the end), read back with {@link FileLogReader} for the check; the directory is removed on close.
 * The one-at-a-time comparison appends each order with a write of its own to a second file.
 */
public final class FileDemoBackend implements DemoBackend {
  private static final long SYNC_EVERY_BYTES = 4L << 20;

  private final Path dir;
  private final Path file;
  private final Path singleFile;
  private final FileLogWriter writer;
  private final FileLogWriter single;

  /**
   * Creates the directory and opens both log files.
   *
   * @throws IOException if they cannot be created
   */
  public FileDemoBackend() throws IOException {
    dir = Files.createTempDirectory("batchbuffer-file-");
    file = dir.resolve("orders.log");
    singleFile = dir.resolve("orders-single.log");
    writer = FileLogWriter.open(file, SYNC_EVERY_BYTES);
    try {
      single = FileLogWriter.open(singleFile, 0);
    } catch (IOException | RuntimeException e) { // nothing opened may outlive a failed start
      writer.close();
      Files.deleteIfExists(file);
      Files.deleteIfExists(dir);
      throw e;
    }
  }

  @Override
  public String describe() {
    return "append-only log file " + file;
  }

  @Override
  public String arrivedPlace() {
    return "file";
  }

  @Override
  public String arrivedUnit() {
    return "lines";
  }

  @Override
  public String batchUnit() {
    return "one gathering write; fsync every 4 MiB and at the end";
  }

  @Override
  public FlushPolicy<Order> policy(int capacity) {
    return FlushPolicy.count(capacity);
  }

  @Override
  public void writeBatch(List<Order> batch) throws IOException {
    writer.write(encode(batch));
  }

  @Override
  public void writeOneByOne(List<Order> orders) throws IOException {
    for (Order o : orders) {
      single.write(List.of(o.encode()));
    }
    single.sync();
  }

  @Override
  public Arrived arrived() throws IOException {
    writer.sync();
    FileLogReader.Contents contents = FileLogReader.read(file);
    long count = 0;
    long checksum = 0;
    long duplicates = 0;
    Set<Long> seen = new HashSet<>();
    for (String line : contents.records()) {
      Order o = Order.decode(line);
      if (seen.add(o.id())) {
        count++;
        checksum += o.checksum();
      } else {
        duplicates++;
      }
    }
    return new Arrived(count, checksum, duplicates + (contents.torn() ? 1 : 0));
  }

  @Override
  public void close() throws IOException {
    try {
      try {
        writer.close();
      } finally {
        single.close();
      }
    } finally {
      Files.deleteIfExists(file);
      Files.deleteIfExists(singleFile);
      Files.deleteIfExists(dir);
    }
  }

  private static List<String> encode(List<Order> batch) {
    List<String> lines = new ArrayList<>(batch.size());
    for (Order o : batch) {
      lines.add(o.encode());
    }
    return lines;
  }
}
