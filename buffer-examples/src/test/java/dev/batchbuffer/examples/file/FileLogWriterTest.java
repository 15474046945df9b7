package dev.batchbuffer.examples.file;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.DeliveryException;
import dev.batchbuffer.testing.ManualTimeSource;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link FileLogWriter} and {@link FileLogReader} on a real file: every record is in the file
 * exactly once and in order, each batch is one write call, the sync hook runs on its period and
 * once after the last write of {@code close()}, a failed write dead-letters exactly its batch and
 * leaves no part of it in the file, a record that UTF-8 cannot encode as it is (an unpaired
 * surrogate) is rejected rather than written altered, and the reader stops at a torn or damaged
 * line.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FileLogWriterTest {
  static final Duration DAY = Duration.ofDays(1);

  @TempDir
  Path dir;

  final List<String> deadLetters = new CopyOnWriteArrayList<>();
  final List<Exception> deadLetterErrors = new CopyOnWriteArrayList<>();

  RecordingFileChannel channel(IntPredicate failWrite) throws IOException {
    return new RecordingFileChannel(FileChannel.open(dir.resolve("log"), StandardOpenOption.CREATE,
        StandardOpenOption.WRITE, StandardOpenOption.APPEND), failWrite);
  }

  Buffer<String> start(FileLogWriter log, int capacity, ManualTimeSource time) {
    return FileLogWriter.start(log, capacity, DAY, Duration.ofSeconds(1), (e, records) -> {
      deadLetterErrors.add(e);
      deadLetters.addAll(records);
    }, time);
  }

  static void assertIdentity(BufferStats stats) {
    assertThat(stats.accepted()).isEqualTo(stats.flushed() + stats.failed() + stats.rejected());
    assertThat(stats.itemsWaiting()).isZero();
    assertThat(stats.itemsFlushing()).isZero();
  }

  @Test
  void everyRecordIsInTheFileOnceAndInOrderWithOneWritePerBatch() throws Exception {
    RecordingFileChannel channel = channel(n -> false);
    int producers = 4;
    int perProducer = 1_000;
    BufferStats stats;
    try (FileLogWriter log = new FileLogWriter(channel, 0)) {
      Buffer<String> buffer = FileLogWriter.start(log, 100, DAY, DAY, (e, records) -> deadLetters.addAll(records));
      try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
        List<Future<?>> done = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
          int id = p;
          done.add(threads.submit(() -> {
            for (int i = 0; i < perProducer; i++) {
              buffer.add(id + ":" + i + " é ✓");
            }
            return null;
          }));
        }
        for (Future<?> f : done) {
          f.get();
        }
      }
      buffer.close();
      stats = buffer.stats();
    }

    assertIdentity(stats);
    assertThat(deadLetters).isEmpty();
    assertThat(stats.flushes()).isEqualTo(producers * perProducer / 100);
    assertThat(channel.writes()).as("one write call per batch").isEqualTo(stats.flushes());
    FileLogReader.Contents contents = FileLogReader.read(dir.resolve("log"));
    assertThat(contents.torn()).isFalse();
    assertThat(contents.records()).hasSize(producers * perProducer);
    Set<String> seen = new HashSet<>();
    Map<String, Integer> next = new HashMap<>();
    for (String record : contents.records()) {
      assertThat(seen.add(record)).as("duplicate %s", record).isTrue();
      String[] parts = record.split("[: ]", -1);
      int expected = next.getOrDefault(parts[0], 0);
      assertThat(Integer.parseInt(parts[1])).as("order of producer %s", parts[0]).isEqualTo(expected);
      next.put(parts[0], expected + 1);
    }
  }

  @Test
  void theSyncHookRunsAfterTheLastWriteOnClose() throws Exception {
    RecordingFileChannel channel = channel(n -> false);
    try (FileLogWriter log = new FileLogWriter(channel, 0)) {
      Buffer<String> buffer = start(log, 100, new ManualTimeSource());
      for (int i = 0; i < 250; i++) {
        buffer.add("r" + i);
      }
      buffer.close(); // two full batches, the last 50 in the final flush, then the sync hook
      assertThat(channel.events).containsExactly("write", "write", "write", "force");
      assertThat(log.syncedBytes()).isEqualTo(log.writtenBytes());
    }
    assertThat(FileLogReader.read(dir.resolve("log")).records()).hasSize(250);
  }

  @Test
  void theSyncHookRunsEveryPeriodWhenSomethingWasWritten() throws Exception {
    RecordingFileChannel channel = channel(n -> false);
    ManualTimeSource time = new ManualTimeSource();
    try (FileLogWriter log = new FileLogWriter(channel, 0)) {
      Buffer<String> buffer = start(log, 100, time);
      buffer.add("first");
      buffer.flush().get(5, TimeUnit.SECONDS);
      assertThat(channel.events).containsExactly("write");
      time.advance(Duration.ofSeconds(1));
      await().atMost(Duration.ofSeconds(5)).until(() -> channel.forces() == 1);

      buffer.add("second");
      buffer.flush().get(5, TimeUnit.SECONDS);
      time.advance(Duration.ofSeconds(1));
      await().atMost(Duration.ofSeconds(5)).until(() -> channel.forces() == 2);
      assertThat(channel.events).containsExactly("write", "force", "write", "force");
      buffer.close();
      assertThat(channel.forces()).as("nothing new to sync at close").isEqualTo(2);
    }
  }

  @Test
  void aSyncWithNothingNewWrittenDoesNotForce() throws Exception {
    RecordingFileChannel channel = channel(n -> false);
    try (FileLogWriter log = new FileLogWriter(channel, 0)) {
      log.sync();
      log.write(List.of("a"));
      log.sync();
      log.sync();
      assertThat(channel.events).containsExactly("write", "force");
      assertThat(log.syncs()).isEqualTo(1);
    }
  }

  @Test
  void syncEveryBytesForcesOnceThatManyBytesWereWritten() throws Exception {
    RecordingFileChannel channel = channel(n -> false);
    try (FileLogWriter log = new FileLogWriter(channel, 100)) {
      log.write(List.of("x".repeat(40))); // 50 bytes with checksum, space and newline
      assertThat(channel.events).containsExactly("write");
      log.write(List.of("y".repeat(40))); // 100 bytes since the last sync
      assertThat(channel.events).containsExactly("write", "write", "force");
      assertThat(log.syncedBytes()).isEqualTo(100);
    }
  }

  @Test
  void aFailedWriteDeadLettersExactlyItsBatchAndLeavesNoPartOfItInTheFile() throws Exception {
    RecordingFileChannel channel = channel(n -> n == 2); // the disk is full for the second batch
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    BufferStats stats;
    try (FileLogWriter log = new FileLogWriter(channel, 0)) {
      Buffer<String> buffer = start(log, 10, new ManualTimeSource());
      for (int i = 0; i < 30; i++) {
        futures.add(buffer.submit("r" + i));
      }
      buffer.close();
      stats = buffer.stats();
    }

    List<String> second = new ArrayList<>();
    for (int i = 10; i < 20; i++) {
      second.add("r" + i);
    }
    assertThat(deadLetters).containsExactlyElementsOf(second);
    assertThat(deadLetterErrors).singleElement().isInstanceOf(IOException.class);
    for (int i = 0; i < 30; i++) {
      if (i >= 10 && i < 20) {
        assertThat(futures.get(i)).failsWithin(Duration.ofSeconds(5)).withThrowableThat()
            .havingCause().isInstanceOf(DeliveryException.class)
            .havingCause().isInstanceOf(IOException.class).withMessage("No space left on device");
      } else {
        assertThat(futures.get(i)).succeedsWithin(Duration.ofSeconds(5));
      }
    }
    assertIdentity(stats);
    assertThat(stats.failed()).isEqualTo(10);
    FileLogReader.Contents contents = FileLogReader.read(dir.resolve("log"));
    assertThat(contents.torn()).as("the torn write was truncated away").isFalse();
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      if (i < 10 || i >= 20) {
        expected.add("r" + i);
      }
    }
    assertThat(contents.records()).containsExactlyElementsOf(expected);
    assertThat(contents.records().size() + deadLetters.size()).isEqualTo(30);
  }

  @Test
  void aRecordWithALineBreakIsRejectedIntoTheDeadLetterHook() throws Exception {
    CompletableFuture<Void> bad;
    BufferStats stats;
    try (FileLogWriter log = FileLogWriter.open(dir.resolve("log"), 0)) {
      Buffer<String> buffer = start(log, 10, new ManualTimeSource());
      buffer.add("a");
      bad = buffer.submit("b\nc");
      buffer.add("d");
      buffer.close();
      stats = buffer.stats();
    }
    assertThat(deadLetters).containsExactly("b\nc");
    assertThat(deadLetterErrors).singleElement().isInstanceOf(IllegalArgumentException.class);
    assertThat(bad).failsWithin(Duration.ofSeconds(5)).withThrowableThat().havingCause()
        .isInstanceOfSatisfying(DeliveryException.class,
            e -> assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED));
    assertThat(stats.rejected()).isEqualTo(1);
    assertIdentity(stats);
    assertThat(FileLogReader.read(dir.resolve("log")).records()).containsExactly("a", "d");
  }

  @Test
  void aRecordThatIsNotValidUnicodeIsRejectedInsteadOfWrittenAltered() throws Exception {
    CompletableFuture<Void> bad;
    BufferStats stats;
    try (FileLogWriter log = FileLogWriter.open(dir.resolve("log"), 0)) {
      Buffer<String> buffer = start(log, 10, new ManualTimeSource());
      buffer.add("a");
      bad = buffer.submit("half \uD83D of a pair"); // UTF-8 would write it as "half ? of a pair"
      buffer.add("\uDE00 low alone");
      buffer.add("whole \uD83D\uDE00 pair, é, €");
      buffer.close();
      stats = buffer.stats();
    }
    assertThat(deadLetters).containsExactly("half \uD83D of a pair", "\uDE00 low alone");
    assertThat(deadLetterErrors).hasSize(2).allSatisfy(e -> assertThat(e)
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("surrogate"));
    assertThat(bad).failsWithin(Duration.ofSeconds(5)).withThrowableThat().havingCause()
        .isInstanceOfSatisfying(DeliveryException.class,
            e -> assertThat(e.reason()).isEqualTo(DeliveryException.Reason.REJECTED));
    assertThat(stats.rejected()).isEqualTo(2);
    assertIdentity(stats);
    assertThat(FileLogReader.read(dir.resolve("log")).records())
        .containsExactly("a", "whole \uD83D\uDE00 pair, é, €");
  }

  @Test
  void writeRefusesABatchHoldingAnUnpairedSurrogateBeforeWritingAnything() throws Exception {
    try (FileLogWriter log = FileLogWriter.open(dir.resolve("log"), 0)) {
      assertThatThrownBy(() -> log.write(List.of("fine", "ends with half a pair \uD83D")))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(log.writtenBytes()).isZero();
    }
    assertThat(Files.size(dir.resolve("log"))).isZero();
  }

  @Test
  void writeRefusesABatchHoldingALineBreakBeforeWritingAnything() throws Exception {
    try (FileLogWriter log = FileLogWriter.open(dir.resolve("log"), 0)) {
      assertThatThrownBy(() -> log.write(List.of("fine", "not\rfine")))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(log.writtenBytes()).isZero();
    }
    assertThat(Files.size(dir.resolve("log"))).isZero();
  }

  @Test
  void theReaderStopsAtATornLastLine() throws Exception {
    Path file = dir.resolve("log");
    try (FileLogWriter log = FileLogWriter.open(file, 0)) {
      log.write(List.of("one", "two", "three"));
    }
    long whole = Files.size(file);
    byte[] line = new byte[FileLogWriter.encode("four").remaining()];
    FileLogWriter.encode("four").get(line);
    Files.write(file, java.util.Arrays.copyOf(line, line.length - 1), StandardOpenOption.APPEND);

    FileLogReader.Contents contents = FileLogReader.read(file);
    assertThat(contents.records()).containsExactly("one", "two", "three");
    assertThat(contents.torn()).isTrue();
    assertThat(contents.validBytes()).isEqualTo(whole);
    assertThat(contents.fileBytes()).isEqualTo(whole + line.length - 1);
  }

  @Test
  void theReaderStopsAtARecordWhoseChecksumDoesNotMatch() throws Exception {
    Path file = dir.resolve("log");
    try (FileLogWriter log = FileLogWriter.open(file, 0)) {
      log.write(List.of("one", "two", "three"));
    }
    byte[] bytes = Files.readAllBytes(file);
    String text = new String(bytes, StandardCharsets.UTF_8);
    int two = text.indexOf(" two") + 1;
    bytes[two] = 'T'; // a damaged byte inside the second record
    Files.write(file, bytes);

    FileLogReader.Contents contents = FileLogReader.read(file);
    assertThat(contents.records()).containsExactly("one");
    assertThat(contents.validBytes()).isEqualTo(text.indexOf('\n') + 1);
    assertThat(contents.torn()).isTrue();
  }
}
