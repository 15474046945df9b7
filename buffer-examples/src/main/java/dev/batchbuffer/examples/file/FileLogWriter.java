package dev.batchbuffer.examples.file;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.FlushPolicy;
import dev.batchbuffer.Options;
import dev.batchbuffer.TimeSource;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;
import java.util.zip.CRC32C;
import org.jspecify.annotations.Nullable;

/**
 * An append-only log file written in batches: each batch of records becomes <em>one</em> gathering
 * {@code write} to the file (a {@link FileChannel#write(ByteBuffer[])} of the encoded records), and
 * {@link #sync()} ({@link FileChannel#force}) runs on the buffer's periodic hook, off the write path,
 * plus, optionally, whenever a given number of bytes has been written since the last sync. This is
 * the use case of the Go package batchbuffer started from: many goroutines logging, one writer.
 *
 * <pre>{@code
 * FileLogWriter log = FileLogWriter.open(Path.of("events.log"), 8 << 20); // also sync every 8 MiB
 * Buffer<String> buffer = FileLogWriter.start(log, 1_000, Duration.ofMillis(10),
 *     Duration.ofMillis(200), (error, records) -> deadLetters.addAll(records));
 * buffer.add("user 42 logged in");
 * ...
 * buffer.close(); // drains, writes the last batch, then syncs once more
 * log.close();
 * }</pre>
 *
 * <h2>Record format</h2>
 * One line per record: the CRC32C of the record's UTF-8 bytes as 8 hex digits, a space, the record,
 * {@code '\n'}. A record must not contain {@code '\n'} or {@code '\r'}, nor an unpaired surrogate
 * (it has no UTF-8 form: Java would write {@code '?'} instead): the buffer built by
 * {@link #start} rejects such a record (it reaches the dead-letter hook), and {@link #write} refuses
 * a batch that holds one before writing anything. {@link FileLogReader} reads the file back.
 *
 * <h2>Crash safety: what is durable when</h2>
 * <ul>
 *   <li><b>When {@link #write} returns</b> (the item's future completes, the buffer counts it
 *       flushed): the batch is in the operating system's page cache. It survives a crash or
 *       {@code kill -9} of this process, but not a power loss or a kernel crash.
 *   <li><b>When {@link #sync} returns</b> (every sync period, after {@code syncEveryBytes}, and once
 *       more after the final flush of {@code close()}): everything written before it is on the disk
 *       ({@code force(false)}, i.e. {@code fdatasync}, which also flushes the file's length). So a
 *       power loss costs at most one sync period of records, and a clean {@code close()} costs none.
 *       {@link #open} also syncs the directory when it creates the file, so the file's name is
 *       durable too.
 *   <li><b>A crash in the middle of a write</b> (a power loss, or a disk that fills up) can leave a
 *       torn last line: a prefix of the batch, possibly ending mid-record, and, after a power loss,
 *       even garbage in the unsynced tail. Nothing before the last sync is affected. A reader
 *       detects the damage line by line: a last line without {@code '\n'} or a line whose checksum
 *       does not match ends the valid part of the log ({@link FileLogReader.Contents#validBytes});
 *       truncate the file there before appending again. A write that fails with an exception (the
 *       process is still alive) is undone here: the file is truncated back to its length before the
 *       write, and the whole batch fails (the dead-letter hook receives it).
 * </ul>
 * An item's future says "written", not "synced". An application that must acknowledge only synced
 * records acknowledges after the sync: call {@link #sync} in the flush function (one fsync per
 * batch, much slower) or track {@link #syncedBytes()}.
 *
 * <p>Thread-safety: all methods may be called from any thread; they take a lock. The buffer calls
 * {@link #write} and {@link #sync} from its loop, one at a time.
 */
public final class FileLogWriter implements AutoCloseable {
  private static final HexFormat HEX = HexFormat.of();

  private final FileChannel channel;
  private final long syncEveryBytes;
  private final ReentrantLock lock = new ReentrantLock();
  private final AtomicLong writes = new AtomicLong();
  private final AtomicLong syncs = new AtomicLong();
  private final AtomicLong written = new AtomicLong();
  private final AtomicLong synced = new AtomicLong();

  /**
   * Writes to {@code channel}, which must be open for writing in append mode (or positioned at the
   * end of the file, with no other writer). Closing this writer closes the channel.
   *
   * @param channel the file
   * @param syncEveryBytes also sync when this many bytes were written since the last sync; 0 never
   *     (sync only on the periodic hook and at close)
   * @throws IllegalArgumentException if {@code syncEveryBytes} is negative
   */
  public FileLogWriter(FileChannel channel, long syncEveryBytes) {
    this.channel = Objects.requireNonNull(channel, "channel must not be null");
    if (syncEveryBytes < 0) {
      throw new IllegalArgumentException("syncEveryBytes must be >= 0 (was " + syncEveryBytes + ")");
    }
    this.syncEveryBytes = syncEveryBytes;
  }

  /**
   * Opens (or creates) {@code file} for appending. When the file is new, its directory is synced
   * so that the new name survives a power loss.
   *
   * @param file the log file
   * @param syncEveryBytes also sync every so many bytes; 0 never
   * @return the writer
   * @throws IOException if the file cannot be opened
   */
  public static FileLogWriter open(Path file, long syncEveryBytes) throws IOException {
    Path absolute = file.toAbsolutePath();
    boolean existed = absolute.toFile().exists();
    FileChannel channel = FileChannel.open(absolute, StandardOpenOption.CREATE,
        StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    if (!existed) {
      channel.force(true);
      Path dir = absolute.getParent();
      if (dir != null) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
          d.force(true); // the new directory entry; POSIX systems allow this, Windows does not
        } catch (IOException e) {
          // Windows cannot open a directory: the name is durable once NTFS commits its journal
        }
      }
    }
    return new FileLogWriter(channel, syncEveryBytes);
  }

  /**
   * Starts a buffer that writes to {@code log}: batches of up to {@code capacity} records, each one
   * {@link #write}, a {@link #sync} every {@code syncPeriod} on the loop (and after the final flush
   * of {@code close()}). A record with a line break or an unpaired surrogate is rejected and
   * reaches {@code deadLetter} too.
   *
   * @param log the writer
   * @param capacity records per write
   * @param linger longest a record waits in a partial batch
   * @param syncPeriod how often to sync
   * @param deadLetter receives the records that were not written, with why
   * @return the running buffer; close it, then the writer
   */
  public static Buffer<String> start(FileLogWriter log, int capacity, Duration linger,
      Duration syncPeriod, BiConsumer<? super Exception, ? super List<String>> deadLetter) {
    return start(log, capacity, linger, syncPeriod, deadLetter, TimeSource.system());
  }

  /**
   * Starts a buffer as {@link #start(FileLogWriter, int, Duration, Duration, BiConsumer)} does, with
   * the linger and the sync period timed by {@code time} (tests pass a manual clock).
   *
   * @param log the writer
   * @param capacity records per write
   * @param linger longest a record waits in a partial batch
   * @param syncPeriod how often to sync
   * @param deadLetter receives the records that were not written, with why
   * @param time the buffer's clock
   * @return the running buffer; close it, then the writer
   */
  public static Buffer<String> start(FileLogWriter log, int capacity, Duration linger,
      Duration syncPeriod, BiConsumer<? super Exception, ? super List<String>> deadLetter,
      TimeSource time) {
    Config<String> config = Config.builder(log::write)
        .policy(policy(capacity))
        .flushInterval(linger)
        .onReject(record -> deadLetter.accept(new IllegalArgumentException(
            Objects.requireNonNullElse(refusal(record), "refused by the policy")), List.of(record)))
        .onFlushError((e, batch) -> deadLetter.accept(e, batch))
        .build();
    return Buffer.start(config, Options.<String>builder().name("file-log").timeSource(time)
        .periodic(syncPeriod, log::sync).build());
  }

  /**
   * The policy of {@link #start}: {@code capacity} records per batch; a record holding a line break
   * or an unpaired surrogate (which UTF-8 would write as {@code '?'}, altering the record)
   * is rejected.
   *
   * @param capacity records per batch
   * @return the policy
   */
  public static FlushPolicy<String> policy(int capacity) {
    return FlushPolicy.<String>count(capacity).or(FlushPolicy.custom((batch, record) -> false,
        (batch, record) -> refusal(record) == null, batch -> false));
  }

  /**
   * Appends the batch with one gathering write (more only if the operating system writes part of
   * it, which regular files do not do short of a full disk), then syncs if {@code syncEveryBytes}
   * were written since the last sync. The buffer's flush function.
   *
   * @param records the records, in order
   * @throws IOException if the write fails; the file is truncated back to its length before the
   *     write, so no part of the batch stays
   * @throws IllegalArgumentException if a record contains a line break or an unpaired surrogate;
   *     nothing was written
   */
  public void write(List<String> records) throws IOException {
    ByteBuffer[] buffers = new ByteBuffer[records.size()];
    long total = 0;
    for (int i = 0; i < buffers.length; i++) {
      buffers[i] = encode(records.get(i));
      total += buffers[i].remaining();
    }
    lock.lock();
    try {
      long before = channel.size();
      long done = 0;
      int first = 0;
      try {
        while (done < total) {
          done += channel.write(buffers, first, buffers.length - first);
          writes.incrementAndGet();
          while (first < buffers.length && !buffers[first].hasRemaining()) {
            first++;
          }
        }
      } catch (IOException e) {
        try {
          channel.truncate(before);
        } catch (IOException truncate) {
          e.addSuppressed(truncate);
        }
        throw e;
      }
      long now = written.addAndGet(total);
      if (syncEveryBytes > 0 && now - synced.get() >= syncEveryBytes) {
        syncLocked();
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Forces what was written to the disk, if anything was written since the last sync. The buffer's
   * periodic hook.
   *
   * @throws IOException if the sync fails
   */
  public void sync() throws IOException {
    lock.lock();
    try {
      syncLocked();
    } finally {
      lock.unlock();
    }
  }

  private void syncLocked() throws IOException {
    long now = written.get();
    if (now == synced.get()) {
      return;
    }
    channel.force(false);
    syncs.incrementAndGet();
    synced.set(now);
  }

  /**
   * Returns the number of write calls made on the channel: one per batch unless a write was short.
   *
   * @return writes
   */
  public long writes() {
    return writes.get();
  }

  /**
   * Returns the number of syncs that forced data to the disk.
   *
   * @return syncs
   */
  public long syncs() {
    return syncs.get();
  }

  /**
   * Returns the bytes appended by this writer.
   *
   * @return bytes
   */
  public long writtenBytes() {
    return written.get();
  }

  /**
   * Returns the bytes appended by this writer that are known to be on the disk.
   *
   * @return bytes, at most {@link #writtenBytes()}
   */
  public long syncedBytes() {
    return synced.get();
  }

  /**
   * Syncs and closes the file. Close the buffer first: its final flush writes the last batch.
   *
   * @throws IOException if the sync or the close fails (the channel is closed either way)
   */
  @Override
  public void close() throws IOException {
    lock.lock();
    try (FileChannel c = channel) {
      if (c.isOpen()) {
        syncLocked();
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Encodes one record as its line: checksum, space, record, newline.
   *
   * @param record the record, without line breaks
   * @return the line's bytes
   * @throws IllegalArgumentException if {@code record} contains a line break or an unpaired
   *     surrogate
   */
  static ByteBuffer encode(String record) {
    String refusal = refusal(record);
    if (refusal != null) {
      throw new IllegalArgumentException(refusal);
    }
    byte[] payload = record.getBytes(StandardCharsets.UTF_8);
    ByteBuffer line = ByteBuffer.allocate(9 + payload.length + 1);
    line.put(HEX.formatHex(intBytes(crc(payload, 0, payload.length))).getBytes(StandardCharsets.US_ASCII));
    line.put((byte) ' ').put(payload).put((byte) '\n');
    return line.flip();
  }

  static int crc(byte[] bytes, int offset, int length) {
    CRC32C crc = new CRC32C();
    crc.update(bytes, offset, length);
    return (int) crc.getValue();
  }

  private static byte[] intBytes(int v) {
    return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
  }

  /**
   * Why {@code record} cannot be a line of the log, or null if it can: a line break would split it,
   * and an unpaired surrogate has no UTF-8 form ({@link String#getBytes} would write {@code '?'}
   * in its place, and the reader would return a different record with a valid checksum).
   */
  static @Nullable String refusal(String record) {
    for (int i = 0; i < record.length(); i++) {
      char c = record.charAt(i);
      if (c == '\n' || c == '\r') {
        return "a record must not contain a line break";
      }
      if (Character.isHighSurrogate(c) && i + 1 < record.length()
          && Character.isLowSurrogate(record.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        return "a record must not contain an unpaired surrogate (at index " + i + ")";
      }
    }
    return null;
  }
}
