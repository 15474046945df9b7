package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigTest {
  private static final FlushFunc<String> NOOP = batch -> {};

  @Test
  @SuppressWarnings("NullAway") // the nine-argument call with nulls is the documented form
  void nineArgumentCallWithNullsAndZerosMeansDefaults() {
    Config<String> c = new Config<>(NOOP, null, null, null, null, null, 0, 0, null);
    assertThat(c.capacity()).isEqualTo(Config.DEFAULT_CAPACITY).isEqualTo(100);
    assertThat(c.chanSize()).isEqualTo(200);
    assertThat(c.flushInterval()).isEqualTo(Config.DEFAULT_FLUSH_INTERVAL).isEqualTo(Duration.ofSeconds(5));
    assertThat(c.willOverflow().test(List.of("a"), "b")).isFalse();
    assertThat(c.canAdd().test(List.of("a"), "b")).isTrue();
    assertThat(c.shouldFlush().test(List.of("a"))).isFalse();
    assertThat(c.shouldFlush().test(java.util.Collections.nCopies(100, "a"))).isTrue();
    c.onReject().accept("x"); // the no-op default
  }

  @Test
  void builderDefaultsEqualTheNineArgumentDefaults() {
    @SuppressWarnings("NullAway")
    Config<String> nine = new Config<>(NOOP, null, null, null, null, null, 0, 0, null);
    assertThat(Config.builder(NOOP).build()).isEqualTo(nine);
  }

  @Test
  void defaultHooksAreSharedInstances() {
    Config<String> a = Config.builder(NOOP).build();
    Config<Integer> b = Config.builder((FlushFunc<Integer>) batch -> {}).build();
    assertThat((Object) a.willOverflow()).isSameAs(b.willOverflow());
    assertThat((Object) a.canAdd()).isSameAs(b.canAdd());
    assertThat((Object) a.onReject()).isSameAs(b.onReject());
    assertThat((Object) a.onFlushError()).isSameAs(b.onFlushError());
  }

  @Test
  void chanSizeDefaultsToTwiceCapacity() {
    assertThat(Config.builder(NOOP).capacity(7).build().chanSize()).isEqualTo(14);
  }

  @Test
  void defaultShouldFlushFollowsCapacity() {
    Config<String> c = Config.builder(NOOP).capacity(2).build();
    assertThat(c.shouldFlush().test(List.of("a"))).isFalse();
    assertThat(c.shouldFlush().test(List.of("a", "b"))).isTrue();
  }

  @Test
  void builderSettersAreKept() {
    Config<String> c = Config.builder(NOOP).capacity(3).chanSize(5)
        .flushInterval(Duration.ofMillis(250)).build();
    assertThat(c.capacity()).isEqualTo(3);
    assertThat(c.chanSize()).isEqualTo(5);
    assertThat(c.flushInterval()).isEqualTo(Duration.ofMillis(250));
  }

  @Test
  @SuppressWarnings("NullAway")
  void flushMissingIsRejectedNamingFlush() {
    assertThatThrownBy(() -> new Config<String>(null, null, null, null, null, null, 0, 0, null))
        .isInstanceOf(NullPointerException.class).hasMessage("flush must not be null");
    assertThatThrownBy(() -> Config.builder((FlushFunc<String>) null))
        .isInstanceOf(NullPointerException.class).hasMessage("flush must not be null");
  }

  @Test
  void capacityNegativeIsRejected() {
    assertThatThrownBy(() -> Config.builder(NOOP).capacity(-1).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessage("capacity must be >= 0 (was -1)");
  }

  @Test
  void chanSizeNegativeIsRejected() {
    assertThatThrownBy(() -> Config.builder(NOOP).chanSize(-5).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessage("chanSize must be >= 0 (was -5)");
  }

  @Test
  void chanSizeAboveMaximumIsRejected() {
    assertThatThrownBy(() -> Config.builder(NOOP).chanSize(Config.MAX_CHAN_SIZE + 1).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("chanSize must be <= 1073741824 (was 1073741825)");
  }

  @Test
  void hugeCapacityWithDefaultChanSizeIsRejectedNotClamped() {
    assertThatThrownBy(() -> Config.builder(NOOP).capacity(Integer.MAX_VALUE).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("chanSize must be set")
        .hasMessageContaining("capacity was 2147483647");
    // With an explicit chanSize the same capacity is fine (a time-only buffer).
    assertThat(Config.builder(NOOP).capacity(Integer.MAX_VALUE).chanSize(10).build().capacity())
        .isEqualTo(Integer.MAX_VALUE);
  }

  @Test
  void flushIntervalZeroIsRejected() {
    assertThatThrownBy(() -> Config.builder(NOOP).flushInterval(Duration.ZERO).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessage("flushInterval must be > 0 (was PT0S)");
  }

  @Test
  void flushIntervalNegativeIsRejected() {
    assertThatThrownBy(() -> Config.builder(NOOP).flushInterval(Duration.ofMillis(-1)).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("flushInterval must be > 0 (was PT-0.001S)");
  }

  @Test
  void flushIntervalAboveMaximumIsRejected() {
    assertThatThrownBy(() -> Config.builder(NOOP).flushInterval(Duration.ofDays(36_501)).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("flushInterval must be <= PT876000H (was PT876024H)");
  }

  @Test
  @SuppressWarnings("NullAway")
  void builderSettersRejectNullNamingTheField() {
    Config.Builder<String> b = Config.builder(NOOP);
    assertThatThrownBy(() -> b.willOverflow(null)).hasMessage("willOverflow must not be null");
    assertThatThrownBy(() -> b.canAdd(null)).hasMessage("canAdd must not be null");
    assertThatThrownBy(() -> b.onReject(null)).hasMessage("onReject must not be null");
    assertThatThrownBy(() -> b.shouldFlush(null)).hasMessage("shouldFlush must not be null");
    assertThatThrownBy(() -> b.onFlushError(null)).hasMessage("onFlushError must not be null");
    assertThatThrownBy(() -> b.flushInterval(null)).hasMessage("flushInterval must not be null");
  }

  @Test
  @SuppressWarnings("NullAway")
  void optionsRejectBadValuesNamingTheField() {
    assertThatThrownBy(() -> Options.builder().name(" "))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("name must not be blank (was \" \")");
    assertThatThrownBy(() -> Options.builder().timeSource(null))
        .isInstanceOf(NullPointerException.class).hasMessage("timeSource must not be null");
    assertThat(Options.defaults().timeSource()).isSameAs(TimeSource.system());
  }
}
