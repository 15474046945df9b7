package dev.batchbuffer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.BufferStats;
import dev.batchbuffer.FlushReason;
import dev.batchbuffer.testing.ManualTimeSource;
import org.junit.jupiter.api.Test;

/** The snapshot arithmetic of {@link Telemetry}, without a buffer. */
class TelemetryTest {
  final ManualTimeSource time = new ManualTimeSource();
  final Telemetry<String> telemetry =
      new Telemetry<>("t", time, new Problems("t", time), null);

  @Test
  void acceptedNeverGoesBackWhenAFlushRequestIsCountedLate() {
    // The channel shows a flush() request's slot before the request is counted: 3 then 2 items.
    assertThat(telemetry.snapshot(BufferStats.State.RUNNING, () -> 3, 0, 0).accepted())
        .isEqualTo(3);
    telemetry.requested(1);
    assertThat(telemetry.snapshot(BufferStats.State.RUNNING, () -> 3, 0, 0).accepted())
        .isEqualTo(3);
    assertThat(telemetry.snapshot(BufferStats.State.RUNNING, () -> 5, 0, 0).accepted())
        .isEqualTo(4);
  }

  @Test
  void itemsMoveFromWaitingToFlushingToFlushed() {
    telemetry.flushStarted(4, 40, FlushReason.COUNT);
    BufferStats s = telemetry.snapshot(BufferStats.State.RUNNING, () -> 10, 0, 0);
    assertThat(s.itemsWaiting()).isEqualTo(6);
    assertThat(s.itemsFlushing()).isEqualTo(4);
    assertThat(s.bytesFlushing()).isEqualTo(40);
    telemetry.flushSettled(null, 4, 40, FlushReason.COUNT, 1_000, 1, 0, new RuntimeException("x"));
    s = telemetry.snapshot(BufferStats.State.RUNNING, () -> 10, 0, 0);
    assertThat(s.itemsFlushing()).isZero();
    assertThat(s.flushed()).isEqualTo(3);
    assertThat(s.failed()).isEqualTo(1);
    assertThat(s.itemsWaiting()).isEqualTo(6);
    assertThat(s.recentErrors()).singleElement()
        .satisfies(e -> assertThat(e.failed()).isEqualTo(1));
  }
}
