package dev.batchbuffer.examples.bench;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.FlushFunc;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The contenders of the peer comparison, by the name that {@link PeerBenchmark}'s {@code contender}
 * parameter, the harnesses' {@code --contenders} option and the chart use.
 */
public enum Peer {
  /** batchbuffer's {@link Buffer}: capacity, channel size and flush interval from the settings. */
  BATCHBUFFER {
    @Override
    public <T> Contender<T> start(FlushFunc<T> flush, Contender.Settings settings) {
      Buffer<T> buffer = Buffer.start(Config.builder(flush).capacity(settings.capacity())
          .chanSize(settings.queueSize()).flushInterval(settings.linger()).build());
      return new Contender<>() {
        @Override
        public void add(T item) throws InterruptedException {
          buffer.add(item);
        }

        @Override
        public void close() {
          buffer.close();
        }
      };
    }
  },
  /** The hand-written {@code ArrayBlockingQueue} + {@code drainTo} loop: {@link AbqBatcher}. */
  ABQ {
    @Override
    public <T> Contender<T> start(FlushFunc<T> flush, Contender.Settings settings) {
      return new AbqBatcher<>(flush, settings.capacity(), settings.queueSize(),
          settings.lingerNanos());
    }
  },
  /** A JCTools MPSC ring with a spinning consumer: {@link JctoolsBatcher}. */
  JCTOOLS {
    @Override
    public <T> Contender<T> start(FlushFunc<T> flush, Contender.Settings settings) {
      return new JctoolsBatcher<>(flush, settings);
    }
  },
  /** The LMAX Disruptor with a batching event handler: {@link DisruptorBatcher}. */
  DISRUPTOR {
    @Override
    public <T> Contender<T> start(FlushFunc<T> flush, Contender.Settings settings) {
      return new DisruptorBatcher<>(flush, settings);
    }
  },
  /** Reactor's {@code bufferTimeout} behind a sink: {@link ReactorBatcher}. */
  REACTOR {
    @Override
    public <T> Contender<T> start(FlushFunc<T> flush, Contender.Settings settings) {
      return new ReactorBatcher<>(flush, settings);
    }
  },
  /** OpenTelemetry's BatchSpanProcessor worker, blocking when full: {@link OtelStyleBatcher}. */
  OTEL {
    @Override
    public <T> Contender<T> start(FlushFunc<T> flush, Contender.Settings settings) {
      return new OtelStyleBatcher<>(flush, settings);
    }
  },
  /** No hand-off: each producer flushes its own batches: {@link NoHandoffBatcher}. */
  NOHANDOFF {
    @Override
    public <T> Contender<T> start(FlushFunc<T> flush, Contender.Settings settings) {
      return new NoHandoffBatcher<>(flush, settings);
    }
  };

  /**
   * Starts a contender of this kind.
   *
   * @param flush receives each batch
   * @param settings capacity, queue size and linger
   * @param <T> the item type
   * @return the running contender
   */
  public abstract <T> Contender<T> start(FlushFunc<T> flush, Contender.Settings settings);

  /**
   * How often an idle instance wakes by design: its idle poll or park period, or its timeout wait
   * (0 when an idle instance waits for an item or a close and nothing else). {@link LifecycleHarness}
   * opens fewer instances of a contender that wakes often, or two cores would do nothing but wake
   * them.
   *
   * @param settings the settings instances run with
   * @return wake-ups per second of one idle instance
   */
  public double idleWakeupsPerSecond(Contender.Settings settings) {
    return switch (this) {
      case BATCHBUFFER, REACTOR, NOHANDOFF -> 0;
      case ABQ -> 10; // its 100 ms poll for the first item of a batch
      case JCTOOLS -> 1e9 / JctoolsBatcher.CONSUMER_PARK_NANOS;
      case DISRUPTOR, OTEL -> 1e9 / settings.lingerNanos(); // the timeout wait, the schedule delay
    };
  }

  /**
   * The name used in parameters, options, JSON and charts: the constant in lower case.
   *
   * @return the name
   */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * The contender called {@code label}.
   *
   * @param label a {@link #label()}
   * @return the contender
   * @throws IllegalArgumentException if there is none of that name
   */
  public static Peer named(String label) {
    for (Peer peer : values()) {
      if (peer.label().equals(label)) {
        return peer;
      }
    }
    throw new IllegalArgumentException("no contender '" + label + "'; known: "
        + Arrays.stream(values()).map(Peer::label).toList());
  }

  /**
   * Parses a comma-separated list of labels, or {@code all}.
   *
   * @param labels e.g. {@code batchbuffer,abq}
   * @return the contenders, in the given order
   * @throws IllegalArgumentException if a label is unknown
   */
  public static List<Peer> parse(String labels) {
    if (labels.equals("all")) {
      return List.of(values());
    }
    return Arrays.stream(labels.split(",")).map(String::trim).filter(s -> !s.isEmpty())
        .map(Peer::named).toList();
  }
}
