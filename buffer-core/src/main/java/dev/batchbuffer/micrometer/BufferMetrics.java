package dev.batchbuffer.micrometer;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.BufferStats;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.KeyedBuffer;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Exposes a buffer's {@link BufferStats} as Micrometer meters, named by Micrometer's conventions
 * (lower-case, dot-separated, base units) and tagged {@code buffer=<name>} plus any tags given.
 * Every meter reads the stats when it is read, so nothing is counted twice and the hot path pays
 * nothing.
 *
 * {@snippet file="dev/batchbuffer/snippets/BufferMetricsSnippetsTest.java" region="metrics"}
 *
 * <p>The meters hold the buffer weakly, as Micrometer's own binders do: once the buffer is
 * unreachable they read NaN. Time meters report in Micrometer's base time unit of the registry
 * (seconds for most); counters are monotonic function counters.
 *
 * <table class="striped">
 * <caption>The meters, each named {@code batchbuffer.} plus the name below</caption>
 * <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Base unit</th><th scope="col">Reads</th></tr></thead>
 * <tbody>
 * <tr><th scope="row">{@code items.waiting}</th><td>gauge</td><td>items</td><td>{@link BufferStats#itemsWaiting()}: accepted, not yet handed to a flush</td></tr>
 * <tr><th scope="row">{@code items.flushing}</th><td>gauge</td><td>items</td><td>{@link BufferStats#itemsFlushing()}: in flushes that have not returned</td></tr>
 * <tr><th scope="row">{@code bytes.waiting}</th><td>gauge</td><td>bytes</td><td>{@link BufferStats#bytesWaiting()}: weight of the items in batches</td></tr>
 * <tr><th scope="row">{@code bytes.flushing}</th><td>gauge</td><td>bytes</td><td>{@link BufferStats#bytesFlushing()}: weight of the items being flushed</td></tr>
 * <tr><th scope="row">{@code flushes.active}</th><td>gauge</td><td>flushes</td><td>{@link BufferStats#flushesInFlight()}</td></tr>
 * <tr><th scope="row">{@code producers.blocked}</th><td>gauge</td><td>threads</td><td>{@link BufferStats#producersBlocked()}</td></tr>
 * <tr><th scope="row">{@code batch.size.max}</th><td>gauge</td><td>items</td><td>{@link BufferStats#maxBatchSize()}</td></tr>
 * <tr><th scope="row">{@code batch.size.mean}</th><td>gauge</td><td>items</td><td>{@link BufferStats#meanBatchSize()}</td></tr>
 * <tr><th scope="row">{@code state}</th><td>gauge</td><td></td><td>{@link BufferStats#state()}: 0 running, 1 closing, 2 closed, 3 failed</td></tr>
 * <tr><th scope="row">{@code keys}</th><td>gauge</td><td>keys</td><td>{@link BufferStats#keys()}; only for a {@link KeyedBuffer}</td></tr>
 * <tr><th scope="row">{@code keys.paused}</th><td>gauge</td><td>keys</td><td>{@link BufferStats#pausedKeys()}; only for a {@link KeyedBuffer}</td></tr>
 * <tr><th scope="row">{@code items.failed.paused}</th><td>counter</td><td></td><td>{@link BufferStats#itemsFailedPaused()}: failed {@code KEY_PAUSED} (also in {@code items.failed}); only for a {@link KeyedBuffer}</td></tr>
 * <tr><th scope="row">{@code batches.rate.limited}</th><td>counter</td><td></td><td>{@link BufferStats#batchesRateLimited()}: batches held back by a per-key rate; only for a {@link KeyedBuffer}</td></tr>
 * <tr><th scope="row">{@code flow.limit}</th><td>gauge</td><td>flushes</td><td>{@link BufferStats#concurrencyLimit()}: the {@link dev.batchbuffer.FlowControl}'s current limit (0 without one)</td></tr>
 * <tr><th scope="row">{@code flow.rate}</th><td>gauge</td><td>items</td><td>{@link BufferStats#rateLimit()}: its items per second (0 without a rate)</td></tr>
 * <tr><th scope="row">{@code oldest.item.age}</th><td>time gauge</td><td>seconds</td><td>{@link BufferStats#oldestItemAge()}</td></tr>
 * <tr><th scope="row">{@code flush.duration.max}</th><td>time gauge</td><td>seconds</td><td>{@link BufferStats#flushLatencyMax()}</td></tr>
 * <tr><th scope="row">{@code flush.duration.percentile}</th><td>time gauge</td><td>seconds</td><td>{@link BufferStats#flushLatencyP50()} (tag {@code phi=0.5}) and {@link BufferStats#flushLatencyP99()} ({@code phi=0.99})</td></tr>
 * <tr><th scope="row">{@code flush.duration}</th><td>function timer</td><td>seconds</td><td>{@link BufferStats#flushes()} and {@link BufferStats#flushTimeTotal()}</td></tr>
 * <tr><th scope="row">{@code items.accepted}</th><td>counter</td><td></td><td>{@link BufferStats#accepted()}</td></tr>
 * <tr><th scope="row">{@code items.flushed}</th><td>counter</td><td></td><td>{@link BufferStats#flushed()}: delivered</td></tr>
 * <tr><th scope="row">{@code items.failed}</th><td>counter</td><td></td><td>{@link BufferStats#failed()}: handed to {@code onFlushError}</td></tr>
 * <tr><th scope="row">{@code items.expired}</th><td>counter</td><td></td><td>{@link BufferStats#expired()}: failed because their delivery timeout passed (also in {@code items.failed})</td></tr>
 * <tr><th scope="row">{@code items.rejected}</th><td>counter</td><td></td><td>{@link BufferStats#rejected()}: handed to {@code onReject}</td></tr>
 * <tr><th scope="row">{@code items.retried}</th><td>counter</td><td></td><td>{@link BufferStats#retried()}: sent again by a retry</td></tr>
 * <tr><th scope="row">{@code items.undelivered}</th><td>counter</td><td></td><td>{@link BufferStats#undelivered()}: given up on by {@code close(timeout)}</td></tr>
 * <tr><th scope="row">{@code items.refused}</th><td>counter</td><td></td><td>{@link BufferStats#refused()}: calls refused because the buffer was closed</td></tr>
 * <tr><th scope="row">{@code listener.errors}</th><td>counter</td><td></td><td>{@link BufferStats#listenerErrors()}</td></tr>
 * <tr><th scope="row">{@code hook.errors}</th><td>counter</td><td></td><td>{@link BufferStats#hookErrors()}: thrown by periodic tasks</td></tr>
 * <tr><th scope="row">{@code flushes.throttled}</th><td>counter</td><td></td><td>{@link BufferStats#throttled()}: flushes and attempts the flow control saw throttled</td></tr>
 * <tr><th scope="row">{@code flushes}</th><td>counter</td><td></td><td>{@link BufferStats#flushes(FlushReason)}, tagged {@code reason=} the {@link FlushReason} in lower case</td></tr>
 * </tbody>
 * </table>
 */
// Micrometer's types in this class's API are not re-exported (requires static, not transitive): the
// only users of this class are applications that require micrometer.core themselves, and every
// other user of the module must not need Micrometer on the module path.
@SuppressWarnings("exports")
public final class BufferMetrics implements MeterBinder {
  /** The prefix of every meter's name. */
  public static final String PREFIX = "batchbuffer";

  private final Object buffer;
  private final String name;
  private final boolean keyed;
  private final Iterable<Tag> tags;

  private BufferMetrics(Object buffer, String name, boolean keyed, Iterable<Tag> tags) {
    this.buffer = buffer;
    this.name = name;
    this.keyed = keyed;
    this.tags = Tags.of(Objects.requireNonNull(tags, "tags must not be null")).and("buffer", name);
  }

  /**
   * Returns a binder for a buffer.
   *
   * @param buffer the buffer
   * @return the binder
   */
  public static BufferMetrics of(Buffer<?> buffer) {
    return of(buffer, Tags.empty());
  }

  /**
   * Returns a binder for a buffer, with extra tags on every meter.
   *
   * @param buffer the buffer
   * @param tags added to {@code buffer=<name>}
   * @return the binder
   */
  public static BufferMetrics of(Buffer<?> buffer, Iterable<Tag> tags) {
    Objects.requireNonNull(buffer, "buffer must not be null");
    return new BufferMetrics(buffer, buffer.name(), false, tags);
  }

  /**
   * Returns a binder for a keyed buffer; it adds the {@code batchbuffer.keys} and
   * {@code batchbuffer.keys.paused} gauges and the {@code batchbuffer.items.failed.paused} and
   * {@code batchbuffer.batches.rate.limited} counters.
   *
   * @param buffer the buffer
   * @param tags added to {@code buffer=<name>}
   * @return the binder
   */
  public static BufferMetrics of(KeyedBuffer<?, ?> buffer, Iterable<Tag> tags) {
    Objects.requireNonNull(buffer, "buffer must not be null");
    return new BufferMetrics(buffer, buffer.name(), true, tags);
  }

  private static BufferStats stats(Object buffer) {
    return buffer instanceof Buffer<?> b ? b.stats() : ((KeyedBuffer<?, ?>) buffer).stats();
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    gauge(registry, "items.waiting", "items", "Items accepted and not yet handed to a flush",
        BufferStats::itemsWaiting);
    gauge(registry, "items.flushing", "items", "Items in flushes that have not returned",
        BufferStats::itemsFlushing);
    gauge(registry, "bytes.waiting", BaseUnits.BYTES, "Weight of the items in batches",
        BufferStats::bytesWaiting);
    gauge(registry, "bytes.flushing", BaseUnits.BYTES, "Weight of the items being flushed",
        BufferStats::bytesFlushing);
    gauge(registry, "flushes.active", "flushes", "Flushes running now",
        BufferStats::flushesInFlight);
    gauge(registry, "producers.blocked", "threads", "Producers waiting for room",
        BufferStats::producersBlocked);
    gauge(registry, "batch.size.max", "items", "The largest batch flushed",
        BufferStats::maxBatchSize);
    gauge(registry, "batch.size.mean", "items", "The mean batch size",
        BufferStats::meanBatchSize);
    gauge(registry, "state", null, "0 running, 1 closing, 2 closed, 3 failed",
        s -> s.state().compareTo(BufferStats.State.RUNNING));
    if (keyed) {
      gauge(registry, "keys", "keys", "Live keys", BufferStats::keys);
      gauge(registry, "keys.paused", "keys", "Keys paused after a failed batch",
          BufferStats::pausedKeys);
      counter(registry, "items.failed.paused", "Items failed because their key was paused",
          BufferStats::itemsFailedPaused, Tags.empty());
      counter(registry, "batches.rate.limited", "Batches held back by their key's rate limit",
          BufferStats::batchesRateLimited, Tags.empty());
    }
    gauge(registry, "flow.limit", "flushes", "The flow control's limit on flushes in flight",
        BufferStats::concurrencyLimit);
    gauge(registry, "flow.rate", "items", "The flow control's items per second",
        BufferStats::rateLimit);
    timeGauge(registry, "oldest.item.age", "How long the oldest item in a batch has waited",
        s -> s.oldestItemAge().toNanos(), Tags.empty());
    timeGauge(registry, "flush.duration.max", "The longest flush",
        s -> s.flushLatencyMax().toNanos(), Tags.empty());
    timeGauge(registry, "flush.duration.percentile", "The median flush duration",
        s -> s.flushLatencyP50().toNanos(), Tags.of("phi", "0.5"));
    timeGauge(registry, "flush.duration.percentile", "The 99th percentile flush duration",
        s -> s.flushLatencyP99().toNanos(), Tags.of("phi", "0.99"));
    counter(registry, "items.accepted", "Items accepted", BufferStats::accepted, Tags.empty());
    counter(registry, "items.flushed", "Items delivered", BufferStats::flushed, Tags.empty());
    counter(registry, "items.failed", "Items handed to onFlushError", BufferStats::failed,
        Tags.empty());
    counter(registry, "items.expired", "Items whose delivery timeout passed (also failed)",
        BufferStats::expired, Tags.empty());
    counter(registry, "items.rejected", "Items handed to onReject", BufferStats::rejected,
        Tags.empty());
    counter(registry, "items.retried", "Items sent again by a retry", BufferStats::retried,
        Tags.empty());
    counter(registry, "items.undelivered", "Items close(timeout) gave up on",
        BufferStats::undelivered, Tags.empty());
    counter(registry, "items.refused", "Calls refused because the buffer was closed",
        BufferStats::refused, Tags.empty());
    counter(registry, "listener.errors", "Exceptions thrown by the listener",
        BufferStats::listenerErrors, Tags.empty());
    counter(registry, "hook.errors", "Exceptions thrown by periodic tasks",
        BufferStats::hookErrors, Tags.empty());
    counter(registry, "flushes.throttled", "Flushes and attempts the flow control saw throttled",
        BufferStats::throttled, Tags.empty());
    for (FlushReason reason : FlushReason.values()) {
      counter(registry, "flushes", "Flushes, by reason", s -> s.flushes(reason),
          Tags.of("reason", reason.name().toLowerCase(Locale.ROOT)));
    }
    FunctionTimer.builder(PREFIX + ".flush.duration", buffer, b -> stats(b).flushes(),
            b -> stats(b).flushTimeTotal().toNanos(), TimeUnit.NANOSECONDS)
        .description("Time spent in the flush function").tags(tags).register(registry);
  }

  private void gauge(MeterRegistry registry, String suffix, @org.jspecify.annotations.Nullable
      String unit, String description, ToDoubleFunction<BufferStats> value) {
    Gauge.Builder<Object> b = Gauge.builder(PREFIX + "." + suffix, buffer,
            o -> value.applyAsDouble(stats(o)))
        .description(description).tags(tags);
    if (unit != null) {
      b.baseUnit(unit);
    }
    b.register(registry);
  }

  private void timeGauge(MeterRegistry registry, String suffix, String description,
      ToDoubleFunction<BufferStats> nanos, Tags extra) {
    TimeGauge.builder(PREFIX + "." + suffix, buffer, TimeUnit.NANOSECONDS,
            o -> nanos.applyAsDouble(stats(o)))
        .description(description).tags(tags).tags(extra).register(registry);
  }

  private void counter(MeterRegistry registry, String suffix, String description,
      ToDoubleFunction<BufferStats> value, Tags extra) {
    FunctionCounter.builder(PREFIX + "." + suffix, buffer, o -> value.applyAsDouble(stats(o)))
        .description(description).tags(tags).tags(extra).register(registry);
  }

  @Override
  public String toString() {
    return "BufferMetrics[" + name + "]";
  }
}
