package dev.batchbuffer;

import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Settings of a {@link Buffer} beyond the nine of {@link Config}, kept beside it so that the
 * nine-argument {@code Config} keeps its shape: the time source and the buffer's name. Immutable and
 * thread-safe.
 *
 * <pre>{@code
 * Buffer<Event> buffer = Buffer.start(config, Options.builder().name("events").build());
 * }</pre>
 *
 * @param <T> the item type the options apply to; {@code Options<Object>} fits every buffer
 */
public final class Options<T> {
  private static final Options<Object> DEFAULTS = new Builder<>().build();

  private final TimeSource timeSource;
  private final @Nullable String name;

  private Options(Builder<T> builder) {
    this.timeSource = builder.timeSource;
    this.name = builder.name;
  }

  /**
   * Returns the options every setting of which is the default.
   *
   * @param <T> the item type
   * @return the shared default options
   */
  @SuppressWarnings("unchecked")
  public static <T> Options<T> defaults() {
    return (Options<T>) DEFAULTS;
  }

  /**
   * Starts a builder with every setting at its default.
   *
   * @param <T> the item type
   * @return a new builder
   */
  public static <T> Builder<T> builder() {
    return new Builder<>();
  }

  /**
   * Returns where the buffer reads time and waits for deadlines.
   *
   * @return the time source; {@link TimeSource#system()} by default
   */
  public TimeSource timeSource() {
    return timeSource;
  }

  /**
   * Returns the buffer's name, used in its thread name and log messages.
   *
   * @return the name, or null to let the buffer number itself ({@code batchbuffer-1}, ...)
   */
  public @Nullable String name() {
    return name;
  }

  @Override
  public String toString() {
    return "Options[timeSource=" + timeSource + ", name=" + name + "]";
  }

  /**
   * Builds {@link Options}. Not thread-safe.
   *
   * @param <T> the item type
   */
  public static final class Builder<T> {
    private TimeSource timeSource = TimeSource.system();
    private @Nullable String name;

    private Builder() {}

    /**
     * Sets the time source; tests pass a {@link dev.batchbuffer.testing.ManualTimeSource}.
     *
     * @param timeSource where to read time and wait for deadlines
     * @return this builder
     */
    public Builder<T> timeSource(TimeSource timeSource) {
      this.timeSource = Objects.requireNonNull(timeSource, "timeSource must not be null");
      return this;
    }

    /**
     * Sets the buffer's name.
     *
     * @param name a short, non-blank name for threads and logs
     * @return this builder
     * @throws IllegalArgumentException if {@code name} is blank
     */
    public Builder<T> name(String name) {
      Objects.requireNonNull(name, "name must not be null");
      if (name.isBlank()) {
        throw new IllegalArgumentException("name must not be blank (was \"" + name + "\")");
      }
      this.name = name;
      return this;
    }

    /**
     * Returns the options.
     *
     * @return new, immutable options
     */
    public Options<T> build() {
      return new Options<>(this);
    }
  }
}
