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
 * <pre>{@code
 * BufferMetrics.of(buffer).bindTo(registry);
 * }</pre>
 *
 * <p>The meters hold the buffer weakly, as Micrometer's own binders do: once the buffer is
 * unreachable they read NaN. The table of meters is in the README ("Metrics").
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
   * Returns a binder for a keyed buffer; it adds the {@code batchbuffer.keys} gauge.
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
    }
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
