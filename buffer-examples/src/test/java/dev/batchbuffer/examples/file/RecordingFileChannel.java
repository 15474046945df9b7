package dev.batchbuffer.examples.file;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.IntPredicate;

/**
 * A {@link FileChannel} around a real one that records each write and force, in order, and can
 * make chosen writes fail after writing part of their bytes, as a full disk does.
 */
final class RecordingFileChannel extends FileChannel {
  /** "write" or "force", one per call, in call order. */
  final List<String> events = new CopyOnWriteArrayList<>();
  private final FileChannel delegate;
  private final IntPredicate failWrite;
  private int writeCalls;

  /**
   * @param delegate the real channel
   * @param failWrite given the 1-based number of a write call, whether it fails (after writing
   *     half of its bytes)
   */
  RecordingFileChannel(FileChannel delegate, IntPredicate failWrite) {
    this.delegate = delegate;
    this.failWrite = failWrite;
  }

  long writes() {
    return events.stream().filter("write"::equals).count();
  }

  long forces() {
    return events.stream().filter("force"::equals).count();
  }

  @Override
  public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
    events.add("write");
    if (failWrite.test(++writeCalls)) {
      ByteBuffer first = srcs[offset];
      ByteBuffer half = first.duplicate();
      half.limit(half.position() + half.remaining() / 2);
      delegate.write(half); // a torn write: part of the batch reached the file
      throw new IOException("No space left on device");
    }
    return delegate.write(srcs, offset, length);
  }

  @Override
  public void force(boolean metaData) throws IOException {
    events.add("force");
    delegate.force(metaData);
  }

  @Override
  public int write(ByteBuffer src) throws IOException {
    return (int) write(new ByteBuffer[] {src}, 0, 1);
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    return delegate.read(dst);
  }

  @Override
  public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
    return delegate.read(dsts, offset, length);
  }

  @Override
  public long position() throws IOException {
    return delegate.position();
  }

  @Override
  public FileChannel position(long newPosition) throws IOException {
    delegate.position(newPosition);
    return this;
  }

  @Override
  public long size() throws IOException {
    return delegate.size();
  }

  @Override
  public FileChannel truncate(long size) throws IOException {
    delegate.truncate(size);
    return this;
  }

  @Override
  public long transferTo(long position, long count, WritableByteChannel target) throws IOException {
    return delegate.transferTo(position, count, target);
  }

  @Override
  public long transferFrom(ReadableByteChannel src, long position, long count) throws IOException {
    return delegate.transferFrom(src, position, count);
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return delegate.read(dst, position);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    events.add("write");
    return delegate.write(src, position);
  }

  @Override
  public MappedByteBuffer map(MapMode mode, long position, long size) throws IOException {
    return delegate.map(mode, position, size);
  }

  @Override
  public FileLock lock(long position, long size, boolean shared) throws IOException {
    return delegate.lock(position, size, shared);
  }

  @Override
  public FileLock tryLock(long position, long size, boolean shared) throws IOException {
    return delegate.tryLock(position, size, shared);
  }

  @Override
  protected void implCloseChannel() throws IOException {
    delegate.close();
  }
}
