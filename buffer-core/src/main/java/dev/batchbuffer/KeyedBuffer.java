package dev.batchbuffer;

import dev.batchbuffer.internal.Checks;
import dev.batchbuffer.internal.Deadlines;
import dev.batchbuffer.internal.Defaults;
import dev.batchbuffer.internal.Dispatcher;
import dev.batchbuffer.internal.Engine;
import dev.batchbuffer.internal.Hooks;
import dev.batchbuffer.internal.KeyFlow;
import dev.batchbuffer.internal.Loop;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A batching buffer that keeps a batch per key: items are routed by a key function, each key's
 * batches follow that key's {@link FlushPolicy} and linger, and the flush function receives the key
 * with each batch (a batch per SQS queue, per Kafka partition, per tenant table). One loop on a
 * virtual thread serves every key. Flushes of one key never overlap and start in the order their
 * batches were formed, also with {@link Builder#maxInFlight}, which lets batches of different keys
 * flush in parallel.
 *
 * {@snippet file="dev/batchbuffer/snippets/KeyedBufferSnippetsTest.java" region="keyed"}
 *
 * <p>Bounds across keys: {@code chanSize} items waiting for the loop, {@code maxKeys} keys with
 * state (a new key first drops the longest-idle key, or flushes the oldest batch), and
 * {@code maxBufferedItems} items in all batches (the oldest batches are flushed to stay under);
 * {@link Builder#maxBufferedBytes} bounds bytes as {@link Buffer} does. A key whose batch stays empty
 * for {@code keyIdleTimeout} is forgotten. Close drains every key. Thread-safe, with the same
 * admission, close and error semantics as {@link Buffer}. Policies are chosen per key on the loop,
 * so {@link Oversize#FAIL_FAST} cannot be checked in {@code add}: such items go to
 * {@code onReject} as with {@link Oversize#REJECT}.
 *
 * <p>Flow control per key: {@link Builder#keyRateLimit} and {@link Builder#keyByteRateLimit} give
 * each key a token bucket, so a hot key waits for its rate while the other keys flow;
 * {@link Builder#pauseKeyOnFailure} pauses a key whose batch failed for good until
 * {@link #resume}, so the order of a key's items is never broken by a lost batch.
 *
 * @param <K> the key type
 * @param <T> the item type
 */
public final class KeyedBuffer<K, T> implements AutoCloseable {
  /** Keys with state at most, by default: {@value}. */
  public static final int DEFAULT_MAX_KEYS = 10_000;
  /** How long an empty key's state is kept, by default: one minute. */
  public static final Duration DEFAULT_KEY_IDLE_TIMEOUT = Duration.ofMinutes(1);

  /**
   * Items held by per-key flow control (batches waiting for their key's rate or resume) at most,
   * by default, as a multiple of the channel size: {@value}; {@link Builder#maxBufferedItems}, if
   * set, is the bound instead.
   */
  public static final int DEFAULT_HELD_PER_CHANNEL_SLOT = 10;

  private final Engine<T> engine;
  private final @Nullable KeyFlow<T> flow;

  /** The engine, for {@link ResultBuffer}. */
  Engine<T> engine() {
    return engine;
  }

  @SuppressWarnings("unchecked")
  private KeyedBuffer(Builder<K, T> b, Dispatcher.@Nullable AsyncSink<T> async, boolean answered) {
    String name = b.name != null ? b.name : "batchbuffer-" + Buffer.SEQUENCE.incrementAndGet();
    KeyedFlushFunc<K, T> flush = b.flush;
    FlushPolicy<T> uniform = b.uniformPolicy;
    Weigher<? super T> failFast = null;
    long failFastLimit = Long.MAX_VALUE;
    if (uniform != null && uniform.oversize() == Oversize.FAIL_FAST) {
      failFast = uniform.weigher();
      failFastLimit = uniform.maxItemBytes();
    }
    // A policy per key is not known before its key is seen: its age is bounded by flushInterval.
    Duration age = uniform == null ? null : uniform.maxAge();
    long deliveryTimeout = Deadlines.of(b.deliveryTimeout, b.flushInterval,
        (age != null && age.compareTo(b.flushInterval) < 0 ? age : b.flushInterval).toNanos());
    this.engine = new Engine<>(new Engine.Setup<>(name, b.timeSource, b.chanSize, b.memoryWeigher,
        b.maxBufferedBytes, failFast, failFastLimit, b.listener, b.periodic, b.maxInFlight,
        b.onReject, b.onFlushError, null, 0L, b.flowControl),
        (key, batch) -> flush.flush((K) Objects.requireNonNull(key), batch), async, answered,
        true);
    engine.dispatcher().deliveryTimeout(deliveryTimeout);
    KeyFlow<T> f = null;
    if (b.itemsPerSecond > 0 || b.bytesPerSecond > 0 || b.pauseMode != null) {
      long maxHeld = b.maxBufferedItems != Long.MAX_VALUE ? b.maxBufferedItems
          : (long) DEFAULT_HELD_PER_CHANNEL_SLOT * b.chanSize;
      f = new KeyFlow<>(new KeyFlow.Settings<T>(b.itemsPerSecond, b.rateWeigher, b.bytesPerSecond,
          b.pauseMode, maxHeld), engine.dispatcher(), b.timeSource, engine.problems(),
          engine.telemetry());
      engine.dispatcher().useKeyFlow(f);
    }
    this.flow = f;
    engine.start(Loop.keyed(engine, new Loop.Keying<>(b.keyOf, b.policyOf, b.flushInterval,
        b.maxKeys, b.maxBufferedItems, b.keyIdleTimeout)));
  }

  /**
   * Starts a builder.
   *
   * @param keyOf the key of an item; runs on the loop thread, must not throw (an item whose key
   *     cannot be computed goes to {@code onReject})
   * @param flush writes one key's batch
   * @param <K> the key type
   * @param <T> the item type
   * @return a builder with the defaults: {@code FlushPolicy.count(100)}, 5 s linger, a channel of
   *     200, {@value #DEFAULT_MAX_KEYS} keys
   */
  public static <K, T> Builder<K, T> builder(Function<? super T, ? extends K> keyOf,
      KeyedFlushFunc<K, T> flush) {
    return new Builder<>(keyOf, flush);
  }

  /**
   * Adds an item, waiting while the buffer is full.
   *
   * @param item the item
   * @throws NullPointerException if {@code item} is null
   * @throws InterruptedException if interrupted on entry or while waiting; the item was not added
   * @throws IllegalStateException if the buffer is closed; the item was not added
   */
  public void add(T item) throws InterruptedException {
    engine.add(item);
  }

  /**
   * Adds an item and returns its future, as {@link Buffer#submit}.
   *
   * @param item the item
   * @return the item's future
   * @throws InterruptedException if interrupted while waiting
   * @throws IllegalStateException if the buffer is closed
   */
  public CompletableFuture<Void> submit(T item) throws InterruptedException {
    return engine.submit(item);
  }

  /**
   * Flushes every key now, as {@link Buffer#flush()}.
   *
   * @return completes when the flushes are done
   * @throws InterruptedException if interrupted while waiting for room in the channel
   * @throws IllegalStateException if the buffer is closed
   */
  public CompletableFuture<Void> flush() throws InterruptedException {
    return engine.flush();
  }

  /**
   * Closes within {@code timeout}, as {@link Buffer#close(Duration)}.
   *
   * @param timeout how long the drain may take
   * @return whether everything was drained, and what was not
   */
  public CloseResult<T> close(Duration timeout) {
    return engine.close(timeout);
  }

  /**
   * Adds an item if there is room, without waiting.
   *
   * @param item the item
   * @return true if added
   * @throws IllegalStateException if the buffer is closed
   */
  public boolean offer(T item) {
    return engine.offer(item);
  }

  /**
   * Adds an item, waiting up to {@code timeout} for room.
   *
   * @param item the item
   * @param timeout the longest wait
   * @return true if added, false on timeout
   * @throws InterruptedException if interrupted on entry or while waiting
   * @throws IllegalStateException if the buffer is closed
   */
  public boolean offer(T item, Duration timeout) throws InterruptedException {
    return engine.offer(item, timeout);
  }

  /**
   * Returns how many items wait in the channel: a snapshot.
   *
   * @return the number of items not yet routed to a key
   */
  public int itemsInChannel() {
    return engine.itemsInChannel();
  }

  /**
   * Returns how many keys have state (a batch, or idle within {@code keyIdleTimeout}): a snapshot.
   *
   * @return the live key count
   */
  public int liveKeys() {
    return engine.keys();
  }

  /**
   * Resumes a key that paused after one of its batches failed for good
   * ({@link Builder#pauseKeyOnFailure}): its waiting items are sent again, in order, at the key's
   * rate, and later items are batched as usual. Does nothing if the key is not paused. Any thread;
   * safe from callbacks ({@code onFlushError} may resume the key whose items it receives).
   *
   * @param key the key
   * @throws NullPointerException if {@code key} is null
   */
  public void resume(K key) {
    Objects.requireNonNull(key, "key must not be null");
    KeyFlow<T> f = flow;
    if (f != null) {
      f.resume(key);
    }
  }

  /**
   * Returns the keys paused now ({@link Builder#pauseKeyOnFailure}): a snapshot. Empty without
   * that option.
   *
   * @return an unmodifiable set of the paused keys
   */
  @SuppressWarnings("unchecked") // only keys of this buffer are ever paused
  public Set<K> pausedKeys() {
    KeyFlow<T> f = flow;
    return f == null ? Set.of() : (Set<K>) f.pausedKeys();
  }

  /**
   * Returns the buffer's name, used in its thread name, log messages, stats and metrics.
   *
   * @return the name
   */
  public String name() {
    return engine.name();
  }

  /**
   * Takes a snapshot of the buffer's state and history, as {@link Buffer#stats()}, with the live
   * key count in {@link BufferStats#keys()}. Cheap, lock-free, callable from any thread at any
   * time, including after close.
   *
   * @return the stats
   */
  public BufferStats stats() {
    return engine.stats();
  }

  /**
   * Returns whether admission has stopped.
   *
   * @return true once closed
   */
  public boolean isClosed() {
    return engine.isClosed();
  }

  /**
   * Closes the buffer: stops admission, drains every key's batch with a final flush each, and
   * returns after the last flush; idempotent, and safe from inside a callback (as
   * {@link Buffer#close()}).
   */
  @Override
  public void close() {
    engine.close();
  }

  @Override
  public String toString() {
    return "KeyedBuffer[" + engine.name() + (engine.isClosed() ? ", closed" : ", running")
        + ", keys=" + engine.keys() + ", itemsInChannel=" + engine.itemsInChannel() + "]";
  }

  /**
   * Builds and starts a {@link KeyedBuffer}. Setters validate at once, naming the field. Not
   * thread-safe.
   *
   * @param <K> the key type
   * @param <T> the item type
   */
  public static final class Builder<K, T> {
    private final Function<? super T, ? extends K> keyOf;
    private final KeyedFlushFunc<K, T> flush;
    private Function<? super K, FlushPolicy<T>> policyOf;
    /** The policy of every key, when one was given for all: its FAIL_FAST rule is the producer's. */
    private @Nullable FlushPolicy<T> uniformPolicy;
    private Duration flushInterval = Config.DEFAULT_FLUSH_INTERVAL;
    private int chanSize = Config.DEFAULT_CHAN_SIZE_FACTOR * Config.DEFAULT_CAPACITY;
    private int maxKeys = DEFAULT_MAX_KEYS;
    private long maxBufferedItems = Long.MAX_VALUE;
    private Duration keyIdleTimeout = DEFAULT_KEY_IDLE_TIMEOUT;
    private Consumer<T> onReject = Defaults.ignore();
    private BiConsumer<Exception, List<T>> onFlushError = Defaults.logAndDrop();
    private TimeSource timeSource = TimeSource.system();
    private @Nullable String name;
    private @Nullable Weigher<? super T> memoryWeigher;
    private long maxBufferedBytes = Long.MAX_VALUE;
    private int maxInFlight = 1;
    private @Nullable FlowControl flowControl;
    private @Nullable BufferListener<? super T> listener;
    private final List<Hooks.Spec> periodic = new ArrayList<>();
    private @Nullable Duration deliveryTimeout;
    private long itemsPerSecond;
    private long bytesPerSecond;
    private @Nullable Weigher<? super T> rateWeigher;
    private @Nullable PauseMode pauseMode;

    private Builder(Function<? super T, ? extends K> keyOf, KeyedFlushFunc<K, T> flush) {
      this.keyOf = Objects.requireNonNull(keyOf, "keyOf must not be null");
      this.flush = Objects.requireNonNull(flush, "flush must not be null");
      FlushPolicy<T> standard = FlushPolicy.count(Config.DEFAULT_CAPACITY);
      this.policyOf = key -> standard;
    }

    /**
     * Sets the policy of every key's batches. Its {@link Oversize#FAIL_FAST} rule, if any, is
     * checked on the producer's thread, as in {@link Buffer}.
     *
     * @param policy when a batch is complete
     * @return this builder
     */
    public Builder<K, T> policy(FlushPolicy<T> policy) {
      Objects.requireNonNull(policy, "policy must not be null");
      this.policyOf = key -> policy;
      this.uniformPolicy = policy;
      return this;
    }

    /**
     * Sets a policy per key, asked once on the loop thread when a key gets state. A key's policy is
     * not known on the producer's thread, so its {@link Oversize#FAIL_FAST} rule acts as
     * {@link Oversize#REJECT} there: an oversize item goes to {@code onReject}.
     *
     * @param policyOf the policy of a key; must not return null
     * @return this builder
     */
    public Builder<K, T> policy(Function<? super K, FlushPolicy<T>> policyOf) {
      Objects.requireNonNull(policyOf, "policyOf must not be null");
      this.uniformPolicy = null;
      this.policyOf = key -> Objects.requireNonNull(policyOf.apply(key),
          () -> "policyOf returned null for key " + key);
      return this;
    }

    /**
     * Sets the linger of a partial batch (a policy's age, if shorter, wins).
     *
     * @param flushInterval positive, at most {@link Config#MAX_FLUSH_INTERVAL}
     * @return this builder
     */
    public Builder<K, T> flushInterval(Duration flushInterval) {
      this.flushInterval = Checks.interval("flushInterval", flushInterval);
      return this;
    }

    /**
     * Sets how many items may wait for the loop before {@code add} blocks.
     *
     * @param chanSize in {@code [1, Config.MAX_CHAN_SIZE]}
     * @return this builder
     */
    public Builder<K, T> chanSize(int chanSize) {
      if (chanSize < 1 || chanSize > Config.MAX_CHAN_SIZE) {
        throw new IllegalArgumentException("chanSize must be in [1, " + Config.MAX_CHAN_SIZE
            + "] (was " + chanSize + ")");
      }
      this.chanSize = chanSize;
      return this;
    }

    /**
     * Sets the most keys with state.
     *
     * @param maxKeys at least 1
     * @return this builder
     */
    public Builder<K, T> maxKeys(int maxKeys) {
      this.maxKeys = (int) Checks.atLeastOne("maxKeys", maxKeys);
      return this;
    }

    /**
     * Sets the most items held in all batches together; the oldest batches are flushed early to
     * stay at or under it.
     *
     * @param maxBufferedItems at least 1
     * @return this builder
     */
    public Builder<K, T> maxBufferedItems(long maxBufferedItems) {
      this.maxBufferedItems = Checks.atLeastOne("maxBufferedItems", maxBufferedItems);
      return this;
    }

    /**
     * Bounds the bytes held from {@code add} until the flush returned, across keys, as
     * {@link Options.Builder#maxBufferedBytes} does for {@link Buffer}.
     *
     * @param weigher the size of an item
     * @param maxBytes at least 1
     * @return this builder
     */
    public Builder<K, T> maxBufferedBytes(Weigher<? super T> weigher, long maxBytes) {
      this.memoryWeigher = Objects.requireNonNull(weigher, "weigher must not be null");
      this.maxBufferedBytes = Checks.atLeastOne("maxBufferedBytes", maxBytes);
      return this;
    }

    /**
     * Sets how long a key whose batch is empty keeps its state.
     *
     * @param keyIdleTimeout positive
     * @return this builder
     */
    public Builder<K, T> keyIdleTimeout(Duration keyIdleTimeout) {
      this.keyIdleTimeout = Checks.interval("keyIdleTimeout", keyIdleTimeout);
      return this;
    }

    /**
     * Sets the receiver of refused items (a policy's veto, an oversize item, a failing key).
     *
     * @param onReject runs on the loop thread
     * @return this builder
     */
    @SuppressWarnings("unchecked") // a consumer of a supertype consumes T: safe
    public Builder<K, T> onReject(Consumer<? super T> onReject) {
      this.onReject = (Consumer<T>) Objects.requireNonNull(onReject, "onReject must not be null");
      return this;
    }

    /**
     * Sets the receiver of failed batches; the key is that of any item in the batch.
     *
     * @param onFlushError runs on the loop thread
     * @return this builder
     */
    @SuppressWarnings("unchecked") // a consumer of supertypes consumes (Exception, List<T>): safe
    public Builder<K, T> onFlushError(
        BiConsumer<? super Exception, ? super List<T>> onFlushError) {
      this.onFlushError = (BiConsumer<Exception, List<T>>) Objects.requireNonNull(onFlushError,
          "onFlushError must not be null");
      return this;
    }

    /**
     * Sets the time source; tests pass a {@link dev.batchbuffer.testing.ManualTimeSource}.
     *
     * @param timeSource where to read time and wait for deadlines
     * @return this builder
     */
    public Builder<K, T> timeSource(TimeSource timeSource) {
      this.timeSource = Objects.requireNonNull(timeSource, "timeSource must not be null");
      return this;
    }

    /**
     * Sets the buffer's name, for its thread and log lines.
     *
     * @param name non-blank
     * @return this builder
     */
    public Builder<K, T> name(String name) {
      this.name = Checks.name(name);
      return this;
    }

    /**
     * Lets up to {@code maxInFlight} flushes run at once, as {@link Options.Builder#maxInFlight}.
     *
     * @param maxInFlight at least 1
     * @return this builder
     */
    public Builder<K, T> maxInFlight(int maxInFlight) {
      this.maxInFlight = (int) Checks.atLeastOne("maxInFlight", maxInFlight);
      Checks.flowControlAlone(this.maxInFlight, flowControl);
      return this;
    }

    /**
     * Adapts the flushes in flight (and, optionally, the rate) to a backend that throttles, as
     * {@link Options.Builder#flowControl}; a key's flushes still never overlap.
     *
     * @param flowControl the flow control; its {@link FlowControl#maxLimit()} takes the place of
     *     {@code maxInFlight}
     * @return this builder
     * @throws IllegalArgumentException if {@link #maxInFlight} was set above 1
     */
    public Builder<K, T> flowControl(FlowControl flowControl) {
      Objects.requireNonNull(flowControl, "flowControl must not be null");
      Checks.flowControlAlone(maxInFlight, flowControl);
      this.flowControl = flowControl;
      return this;
    }

    /**
     * Bounds the time from an item's acceptance to a successful flush of it, retries included, as
     * {@link Options.Builder#deliveryTimeout}; a batch waiting behind its key's running flush
     * (with {@code maxInFlight > 1}) expires there unsent. It must be longer than the linger:
     * {@link #flushInterval}, or the age of a {@link #policy(FlushPolicy)} for every key if
     * shorter; with a {@link #policy(Function) policy per key} (not known before its key is seen)
     * it must be longer than {@code flushInterval}. {@link #start()} rejects it otherwise.
     * Default: none.
     *
     * @param timeout in {@code (0, 365 days]}
     * @return this builder
     * @throws IllegalArgumentException if {@code timeout} is out of range
     */
    public Builder<K, T> deliveryTimeout(Duration timeout) {
      this.deliveryTimeout = Deadlines.range(timeout);
      return this;
    }

    /**
     * Sets a listener, as {@link Options.Builder#listener}; {@link FlushInfo#key()} carries the
     * batch's key.
     *
     * @param listener the listener; its exceptions are caught, counted and logged
     * @return this builder
     */
    public Builder<K, T> listener(BufferListener<? super T> listener) {
      this.listener = Objects.requireNonNull(listener, "listener must not be null");
      return this;
    }

    /**
     * Runs {@code task} on the loop thread every {@code period}, between flushes, as
     * {@link Options.Builder#periodic}.
     *
     * @param period how often, in {@code (0, Config.MAX_FLUSH_INTERVAL]}
     * @param task the work; its exceptions are caught, counted and logged
     * @return this builder
     * @throws IllegalArgumentException if {@code period} is out of range
     */
    public Builder<K, T> periodic(Duration period, PeriodicTask task) {
      periodic.add(new Hooks.Spec(period, task, false));
      return this;
    }

    /**
     * Runs {@code task} every {@code period} on a virtual thread of its own, as
     * {@link Options.Builder#periodicAsync}.
     *
     * @param period how often, in {@code (0, Config.MAX_FLUSH_INTERVAL]}
     * @param task the work; its exceptions are caught, counted and logged
     * @return this builder
     * @throws IllegalArgumentException if {@code period} is out of range
     */
    public Builder<K, T> periodicAsync(Duration period, PeriodicTask task) {
      periodic.add(new Hooks.Spec(period, task, true));
      return this;
    }

    /**
     * Limits how many items each key may send per second, as KPL does per shard: a token bucket
     * per key that holds one second's worth (the burst). A batch is sent when its key's bucket
     * holds as many tokens as it has items (or is full, for a batch larger than a second's worth,
     * which leaves a debt); until then it waits, and the other keys' batches go on. A key has at
     * most one flush running, so a hot key never fills the in-flight slots. Waiting batches keep
     * their bytes under {@link #maxBufferedBytes}; when {@link #maxBufferedItems} items (by
     * default {@value KeyedBuffer#DEFAULT_HELD_PER_CHANNEL_SLOT} times {@link #chanSize}) wait,
     * the loop stops taking new items, so {@code add} waits as for a full channel. Time is read
     * from the buffer's {@link TimeSource}; {@code flush()} and {@code close()} wait for the
     * waiting batches to be sent at their rate ({@code close(Duration)} gives up on them when its
     * time is up).
     *
     * @param itemsPerSecond at least 1, at most 1,000,000,000
     * @return this builder
     */
    public Builder<K, T> keyRateLimit(long itemsPerSecond) {
      this.itemsPerSecond = rate("itemsPerSecond", itemsPerSecond);
      return this;
    }

    /**
     * Limits how many bytes each key may send per second, as Pub/Sub needs per ordering key
     * (about 1 MB/s): a token bucket per key as {@link #keyRateLimit}, by {@code weigher}. With
     * both limits a batch waits for both buckets.
     *
     * @param weigher the size of an item, on the loop thread; an item it throws on counts as 1
     * @param bytesPerSecond at least 1, at most 1,000,000,000
     * @return this builder
     */
    public Builder<K, T> keyByteRateLimit(Weigher<? super T> weigher, long bytesPerSecond) {
      this.rateWeigher = Objects.requireNonNull(weigher, "weigher must not be null");
      this.bytesPerSecond = rate("bytesPerSecond", bytesPerSecond);
      return this;
    }

    private static long rate(String field, long value) {
      if (value < 1 || value > 1_000_000_000L) {
        throw new IllegalArgumentException(field + " must be in [1, 1000000000] (was " + value
            + ")");
      }
      return value;
    }

    /**
     * Pauses a key when one of its batches fails for good (after the retries of any
     * {@link FlushMiddleware}), as Pub/Sub does for ordering keys: nothing more of the key is
     * sent until {@link KeyedBuffer#resume}. With {@link PauseMode#FAIL_FAST} the key's items not
     * yet sent, and later ones, fail with {@link DeliveryException.Reason#KEY_PAUSED} (to
     * {@code onFlushError}); with {@link PauseMode#WAIT} they wait, counted against the bounds as
     * {@link #keyRateLimit} describes. A flush of the key that was already running finishes. A
     * {@code flush()} request while items of a paused key wait fails with KEY_PAUSED (the items
     * keep waiting); at {@code close()} they fail with KEY_PAUSED. A paused key stays paused
     * while it has no batch, also after {@code keyIdleTimeout}. Without this option keys never
     * pause.
     *
     * @param mode what later items of a paused key do
     * @return this builder
     */
    public Builder<K, T> pauseKeyOnFailure(PauseMode mode) {
      this.pauseMode = Objects.requireNonNull(mode, "mode must not be null");
      return this;
    }

    /**
     * Starts the buffer: its loop runs on a new virtual thread, started by the first item, {@code
     * flush()} or close (at once if there are periodic tasks).
     *
     * @return the running buffer
     */
    public KeyedBuffer<K, T> start() {
      return new KeyedBuffer<>(this, null, false);
    }

    /**
     * Starts the buffer of a {@link ResultBuffer}: its flush function answers each item.
     *
     * @param async starts an asynchronous write instead of the flush function, or null
     */
    KeyedBuffer<K, T> startAnswered(Dispatcher.@Nullable AsyncSink<T> async) {
      return new KeyedBuffer<>(this, async, true);
    }
  }
}
