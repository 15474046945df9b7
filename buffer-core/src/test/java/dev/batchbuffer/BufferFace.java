package dev.batchbuffer;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.IntSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * A {@link Buffer} or a {@link KeyedBuffer} behind one face, for the tests that run one scenario
 * on both kinds (they share no interface). Every call goes straight to the buffer; {@code toString}
 * is the description given, so a failure message can say which buffer it was.
 *
 * @param <T> the item type
 */
interface BufferFace<T> extends AutoCloseable {
  void add(T item) throws InterruptedException;

  boolean offer(T item);

  boolean offer(T item, Duration timeout) throws InterruptedException;

  CompletableFuture<Void> submit(T item) throws InterruptedException;

  CompletableFuture<Void> flush() throws InterruptedException;

  CloseResult<T> close(Duration timeout);

  @Override
  void close();

  BufferStats stats();

  int itemsInChannel();

  boolean isClosed();

  String name();

  /** The face of a plain buffer. */
  static <T> BufferFace<T> of(Buffer<T> b, String description) {
    return new Delegate<>(description, b::add, b::offer, b::offer, b::submit, b::flush, b::close,
        b::close, b::stats, b::itemsInChannel, b::isClosed, b::name);
  }

  /** The face of a keyed buffer. */
  static <T> BufferFace<T> of(KeyedBuffer<?, T> b, String description) {
    return new Delegate<>(description, b::add, b::offer, b::offer, b::submit, b::flush, b::close,
        b::close, b::stats, b::itemsInChannel, b::isClosed, b::name);
  }

  /** {@code add} of either buffer. */
  @FunctionalInterface
  interface Adder<T> {
    void add(T item) throws InterruptedException;
  }

  /** {@code offer(item, timeout)} of either buffer. */
  @FunctionalInterface
  interface TimedOfferer<T> {
    boolean offer(T item, Duration timeout) throws InterruptedException;
  }

  /** {@code submit} of either buffer. */
  @FunctionalInterface
  interface Submitter<T> {
    CompletableFuture<Void> submit(T item) throws InterruptedException;
  }

  /** {@code flush()} of either buffer. */
  @FunctionalInterface
  interface Flusher {
    CompletableFuture<Void> flush() throws InterruptedException;
  }

  /** A face whose every call is the one given: one implementation for both kinds. */
  final class Delegate<T> implements BufferFace<T> {
    private final String description;
    private final Adder<T> add;
    private final Predicate<T> offer;
    private final TimedOfferer<T> timedOffer;
    private final Submitter<T> submit;
    private final Flusher flush;
    private final Function<Duration, CloseResult<T>> closeWithin;
    private final Runnable close;
    private final Supplier<BufferStats> stats;
    private final IntSupplier itemsInChannel;
    private final Supplier<Boolean> isClosed;
    private final Supplier<String> name;

    @SuppressWarnings("TooManyParameters") // one per call of the face
    Delegate(String description, Adder<T> add, Predicate<T> offer, TimedOfferer<T> timedOffer,
        Submitter<T> submit, Flusher flush, Function<Duration, CloseResult<T>> closeWithin,
        Runnable close, Supplier<BufferStats> stats, IntSupplier itemsInChannel,
        Supplier<Boolean> isClosed, Supplier<String> name) {
      this.description = Objects.requireNonNull(description);
      this.add = add;
      this.offer = offer;
      this.timedOffer = timedOffer;
      this.submit = submit;
      this.flush = flush;
      this.closeWithin = closeWithin;
      this.close = close;
      this.stats = stats;
      this.itemsInChannel = itemsInChannel;
      this.isClosed = isClosed;
      this.name = name;
    }

    @Override
    public void add(T item) throws InterruptedException {
      add.add(item);
    }

    @Override
    public boolean offer(T item) {
      return offer.test(item);
    }

    @Override
    public boolean offer(T item, Duration timeout) throws InterruptedException {
      return timedOffer.offer(item, timeout);
    }

    @Override
    public CompletableFuture<Void> submit(T item) throws InterruptedException {
      return submit.submit(item);
    }

    @Override
    public CompletableFuture<Void> flush() throws InterruptedException {
      return flush.flush();
    }

    @Override
    public CloseResult<T> close(Duration timeout) {
      return closeWithin.apply(timeout);
    }

    @Override
    public void close() {
      close.run();
    }

    @Override
    public BufferStats stats() {
      return stats.get();
    }

    @Override
    public int itemsInChannel() {
      return itemsInChannel.getAsInt();
    }

    @Override
    public boolean isClosed() {
      return isClosed.get();
    }

    @Override
    public String name() {
      return name.get();
    }

    @Override
    public String toString() {
      return description;
    }
  }
}
