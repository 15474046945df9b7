package dev.batchbuffer;

import dev.batchbuffer.internal.Answers;
import dev.batchbuffer.internal.Dispatcher;
import dev.batchbuffer.internal.Engine;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import org.jspecify.annotations.Nullable;

/**
 * A batching buffer whose flush function answers each item: {@link #submit} returns a future that
 * completes with that item's answer (a message id, a sequence number, the value looked up for a
 * key). Everything else is a {@link Buffer} (or, {@linkplain Builder#keyed keyed}, a
 * {@link KeyedBuffer}): the same policies and presets, linger, {@code maxInFlight}, memory bounds,
 * {@code flush()}, {@code close()} and {@code close(Duration)}, stats and listener.
 *
 * {@snippet file="dev/batchbuffer/snippets/ResultSnippetsTest.java" region="ids"}
 *
 * <p>Each item's future completes exactly once: with its answer; or exceptionally with a
 * {@link DeliveryException} whose cause is the item's own failure ({@link Results#fail}), or the
 * failure of its whole call, or the reason it was rejected or given up. With
 * {@link FlushMiddleware#retry} only the failed items are retried, and their answers from the retry
 * complete their futures. Failed items also reach {@code onFlushError}, as in a {@link Buffer}.
 *
 * @param <T> the item type
 * @param <R> the type of an item's answer; may be a nullable type (a lookup's "not found")
 */
public final class ResultBuffer<T, R extends @Nullable Object> implements AutoCloseable {
  private final Engine<T> engine;
  private final Object owner;

  private ResultBuffer(Engine<T> engine, Object owner) {
    this.engine = engine;
    this.owner = owner;
  }

  /**
   * Starts a builder for a buffer whose flush function answers each item.
   *
   * @param flush writes a batch and answers each item
   * @param <T> the item type
   * @param <R> the type of an item's answer
   * @return a builder with the defaults of {@link Config} and {@link Options}
   * @throws NullPointerException if {@code flush} is null
   */
  public static <T, R extends @Nullable Object> Builder<T, R> builder(
      ResultFlushFunc<T, R> flush) {
    return new Builder<>(Objects.requireNonNull(flush, "flush must not be null"), null);
  }

  /**
   * Starts a builder for a buffer whose flush function writes asynchronously: no thread waits for a
   * write, and up to {@code maxInFlight} writes are outstanding at once (one by default). Such a
   * buffer takes no {@link FlushMiddleware}; for retry or a timeout use
   * {@code builder(flush.awaiting())}.
   *
   * @param flush starts writing a batch; answers each item by the time its stage completes
   * @param <T> the item type
   * @param <R> the type of an item's answer
   * @return a builder with the defaults of {@link Config} and {@link Options}
   * @throws NullPointerException if {@code flush} is null
   */
  public static <T, R extends @Nullable Object> Builder<T, R> builderAsync(
      AsyncResultFlushFunc<T, R> flush) {
    return new Builder<>(null, Objects.requireNonNull(flush, "flush must not be null"));
  }

  /**
   * Adds an item, waiting for room as {@link Buffer#add} does, and returns its future: it completes
   * with the item's answer once its batch was flushed, or exceptionally with a
   * {@link DeliveryException} if the item failed (its cause is the item's own failure when the flush
   * function gave one), was rejected, or was given up.
   *
   * @param item the item
   * @return the item's future
   * @throws NullPointerException if {@code item} is null
   * @throws InterruptedException as {@link Buffer#add}
   * @throws IllegalStateException as {@link Buffer#add}
   * @throws IllegalArgumentException as {@link Buffer#add}
   */
  public CompletableFuture<R> submit(T item) throws InterruptedException {
    return engine.submit(item);
  }

  /**
   * Flushes now, as {@link Buffer#flush()}: completes when every item accepted before the call has
   * been answered; fails if items failed since the previous {@code flush()}.
   *
   * @return completes when those flushes are done
   * @throws InterruptedException if interrupted while waiting for room in the channel
   * @throws IllegalStateException if the buffer is closed
   */
  public CompletableFuture<Void> flush() throws InterruptedException {
    return engine.flush();
  }

  /**
   * Returns how many items wait in the channel for the loop, as {@link Buffer#itemsInChannel()}.
   *
   * @return the number of items in the channel
   */
  public int itemsInChannel() {
    return engine.itemsInChannel();
  }

  /**
   * Resumes a paused key of a keyed buffer, as {@link KeyedBuffer#resume}.
   *
   * @param key the key, as the buffer's key function returns it
   * @throws IllegalStateException if the buffer is not {@linkplain Builder#keyed keyed}
   * @throws NullPointerException if {@code key} is null
   */
  @SuppressWarnings("unchecked") // a key of another type is never paused: resume ignores it
  public void resume(Object key) {
    ((KeyedBuffer<Object, T>) keyed()).resume(key);
  }

  /**
   * Returns the paused keys of a keyed buffer, as {@link KeyedBuffer#pausedKeys}.
   *
   * @return a snapshot
   * @throws IllegalStateException if the buffer is not {@linkplain Builder#keyed keyed}
   */
  public Set<Object> pausedKeys() {
    return Set.copyOf(keyed().pausedKeys());
  }

  private KeyedBuffer<?, T> keyed() {
    if (owner instanceof KeyedBuffer<?, ?> k) {
      @SuppressWarnings("unchecked")
      KeyedBuffer<?, T> typed = (KeyedBuffer<?, T>) k;
      return typed;
    }
    throw new IllegalStateException("only a keyed ResultBuffer has keys to pause and resume");
  }

  /**
   * Takes a snapshot of the buffer's state and history, as {@link Buffer#stats()}.
   *
   * @return the stats
   */
  public BufferStats stats() {
    return engine.stats();
  }

  /**
   * Returns whether the buffer was closed (or stopped on a fatal error).
   *
   * @return true once the buffer admits no more items
   */
  public boolean isClosed() {
    return engine.isClosed();
  }

  /**
   * Returns the buffer's name, as {@link Buffer#name()}.
   *
   * @return the name
   */
  public String name() {
    return engine.name();
  }

  /**
   * Closes the buffer as {@link Buffer#close()}: drains and answers every accepted item, and returns
   * after the last flush.
   */
  @Override
  public void close() {
    engine.close();
  }

  /**
   * Closes within {@code timeout}, as {@link Buffer#close(Duration)}; an asynchronous write that is
   * still outstanding when it gives up is cancelled, and its unanswered items are returned.
   *
   * @param timeout how long the drain may take
   * @return whether everything was drained, and what was not
   * @throws NullPointerException if {@code timeout} is null
   * @throws IllegalArgumentException if {@code timeout} is negative
   */
  public CloseResult<T> close(Duration timeout) {
    return engine.close(timeout);
  }

  @Override
  public String toString() {
    return "ResultBuffer[" + owner + "]";
  }

  /** The flush function as the buffer calls it: it finds the flush's answers and fills them. */
  private static <T, R extends @Nullable Object> FlushFunc<T> answering(
      ResultFlushFunc<T, R> flush) {
    return batch -> {
      Answers answers = Dispatcher.answersOfCurrentFlush();
      Results<R> results = new Results<>(answers, answers.positionsOf(batch));
      try {
        flush.flush(batch, results);
      } catch (Throwable t) {
        results.discard(t);
        throw t;
      }
      PartialFlushException failed = results.commit();
      if (failed != null) {
        throw failed; // only these are failed (and retried); the others are answered
      }
    };
  }

  /** The asynchronous flush function as the buffer starts it. */
  private static <T, R extends @Nullable Object> Dispatcher.AsyncSink<T> answeringAsync(
      AsyncResultFlushFunc<T, R> flush) {
    return (key, batch) -> {
      Answers answers = Dispatcher.answersOfCurrentFlush();
      Results<R> results = new Results<>(answers, answers.positionsOf(batch));
      CompletionStage<?> stage;
      try {
        stage = Objects.requireNonNull(flush.flush(batch, results),
            "the asynchronous flush function returned null instead of a stage");
      } catch (Throwable t) {
        results.discard(t);
        throw t;
      }
      CompletableFuture<@Nullable Void> done = new CompletableFuture<>();
      stage.whenComplete((ignored, t) -> {
        if (t != null) {
          results.discard(t instanceof CompletionException && t.getCause() != null
              ? t.getCause() : t);
          done.completeExceptionally(t instanceof CompletionException && t.getCause() != null
              ? t.getCause() : t);
          return;
        }
        PartialFlushException failed = results.commit();
        if (failed != null) {
          done.completeExceptionally(failed);
        } else {
          done.complete(null);
        }
      });
      var unused = done.whenComplete((ignored, t) -> { // close(timeout) cancelled it: cancel the write
        if (done.isCancelled()) {
          results.discard(null);
          try {
            stage.toCompletableFuture().cancel(true);
          } catch (UnsupportedOperationException e) {
            // a stage that cannot be cancelled runs on; its answers are refused
          }
        }
      });
      return done;
    };
  }

  /**
   * Builds a {@link ResultBuffer}: a plain one by default, configured with {@link #config} and
   * {@link #options}, or a keyed one ({@link #keyed}). Not thread-safe.
   *
   * @param <T> the item type
   * @param <R> the type of an item's answer
   */
  public static final class Builder<T, R extends @Nullable Object> {
    private final @Nullable ResultFlushFunc<T, R> flush;
    private final @Nullable AsyncResultFlushFunc<T, R> async;
    private UnaryOperator<Config.Builder<T>> config = UnaryOperator.identity();
    private boolean configSet;
    private Options<? super T> options = Options.defaults();
    private boolean optionsSet;
    private final List<FlushMiddleware<T>> middleware = new ArrayList<>();
    private @Nullable Function<KeyedFlushFunc<Object, T>, KeyedBuffer<?, T>> keyed;
    private Dispatcher.@Nullable AsyncSink<T> keyedAsync;

    private Builder(@Nullable ResultFlushFunc<T, R> flush,
        @Nullable AsyncResultFlushFunc<T, R> async) {
      this.flush = flush;
      this.async = async;
    }

    /**
     * Sets what a plain buffer's {@link Config} holds besides its flush function: policies, presets,
     * linger, sizes, {@code onReject}, {@code onFlushError}.
     *
     * @param settings applied to a {@link Config.Builder} whose flush function is this buffer's
     * @return this builder
     * @throws NullPointerException if {@code settings} is null
     * @throws IllegalStateException if the buffer is keyed
     */
    public Builder<T, R> config(UnaryOperator<Config.Builder<T>> settings) {
      this.config = Objects.requireNonNull(settings, "settings must not be null");
      this.configSet = true;
      requirePlain("config");
      return this;
    }

    /**
     * Sets a plain buffer's {@link Options}: clock, name, {@code maxInFlight}, memory bound,
     * listener, periodic tasks.
     *
     * @param options the options
     * @return this builder
     * @throws NullPointerException if {@code options} is null
     * @throws IllegalStateException if the buffer is keyed
     */
    public Builder<T, R> options(Options<? super T> options) {
      this.options = Objects.requireNonNull(options, "options must not be null");
      this.optionsSet = true;
      requirePlain("options");
      return this;
    }

    /**
     * Makes the buffer keyed: a batch per key, as {@link KeyedBuffer}; the flush function answers
     * the items of one key's batch. Every setting of a keyed buffer is made in {@code settings};
     * {@link #config} and {@link #options} do not apply.
     *
     * @param keyOf the key of an item
     * @param settings applied to a {@link KeyedBuffer.Builder} whose flush function is this buffer's
     * @param <K> the key type
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalStateException if {@link #config} or {@link #options} was set
     */
    public <K> Builder<T, R> keyed(Function<? super T, ? extends K> keyOf,
        UnaryOperator<KeyedBuffer.Builder<K, T>> settings) {
      Objects.requireNonNull(keyOf, "keyOf must not be null");
      Objects.requireNonNull(settings, "settings must not be null");
      if (configSet || optionsSet) {
        throw new IllegalStateException("a keyed ResultBuffer takes its settings in keyed(keyOf, "
            + "settings), not in " + (configSet ? "config(...)" : "options(...)"));
      }
      this.keyed = flushOfKey -> {
        KeyedFlushFunc<K, T> typed = flushOfKey::flush;
        KeyedBuffer.Builder<K, T> b = Objects.requireNonNull(
            settings.apply(KeyedBuffer.builder(keyOf, typed)), "settings returned null");
        return b.startAnswered(keyedAsync);
      };
      return this;
    }

    /**
     * Wraps the flush function in middleware (outermost first), as {@link FlushMiddleware#chain}:
     * retry retries only the items that failed, and their answers from the retry complete their
     * futures; a timeout's abandoned call cannot answer an item once it was settled.
     *
     * @param middleware the middleware, outermost first
     * @return this builder
     * @throws NullPointerException if an element is null
     * @throws IllegalStateException if the flush function is asynchronous
     */
    @SafeVarargs
    public final Builder<T, R> middleware(FlushMiddleware<T>... middleware) {
      if (async != null) {
        throw new IllegalStateException("middleware wraps a blocking flush function: build with "
            + "ResultBuffer.builder(flush.awaiting()) to use it with an asynchronous one");
      }
      for (int i = 0; i < middleware.length; i++) {
        this.middleware.add(Objects.requireNonNull(middleware[i],
            "middleware[" + i + "] must not be null"));
      }
      return this;
    }

    private void requirePlain(String setting) {
      if (keyed != null) {
        throw new IllegalStateException("a keyed ResultBuffer takes its settings in keyed(keyOf, "
            + "settings), not in " + setting + "(...)");
      }
    }

    /**
     * Starts the buffer.
     *
     * @return the running buffer
     * @throws IllegalArgumentException if a setting is invalid (as its builder says)
     */
    @SuppressWarnings("unchecked")
    public ResultBuffer<T, R> start() {
      FlushFunc<T> blocking;
      Dispatcher.AsyncSink<T> starter = null;
      ResultFlushFunc<T, R> f = flush;
      if (f != null) {
        blocking = FlushMiddleware.chain(answering(f),
            middleware.toArray((FlushMiddleware<T>[]) new FlushMiddleware<?>[0]));
      } else {
        starter = answeringAsync(Objects.requireNonNull(async));
        blocking = batch -> {
          throw new IllegalStateException("an asynchronous buffer has no blocking flush");
        };
      }
      Function<KeyedFlushFunc<Object, T>, KeyedBuffer<?, T>> k = keyed;
      if (k != null) {
        this.keyedAsync = starter;
        FlushFunc<T> once = blocking;
        KeyedBuffer<?, T> buffer = k.apply((key, batch) -> once.flush(batch));
        return new ResultBuffer<>(buffer.engine(), buffer);
      }
      Config<T> built = Objects.requireNonNull(config.apply(Config.builder(blocking)),
          "settings returned null").build();
      Buffer<T> buffer = Buffer.startAnswered(built, options, starter);
      return new ResultBuffer<>(buffer.engine(), buffer);
    }
  }
}
