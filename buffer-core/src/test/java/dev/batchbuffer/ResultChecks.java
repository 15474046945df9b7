package dev.batchbuffer;

import static dev.batchbuffer.TestConstants.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/** The checks the {@link ResultBuffer} tests share: an item's answer, its failure, the identity. */
final class ResultChecks {
  private ResultChecks() {}

  /** The answer a future completes with, waited for at most {@link TestConstants#WAIT}. */
  static <R> @Nullable R answer(CompletableFuture<R> f) throws Exception {
    return f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** The {@link DeliveryException} a future fails with; an assertion error if it completes. */
  static DeliveryException failure(CompletableFuture<?> f) throws Exception {
    try {
      f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(DeliveryException.class);
      return (DeliveryException) Objects.requireNonNull(e.getCause());
    }
    throw new AssertionError("the future completed normally: " + f.join());
  }

  /** The accounting identity of a quiescent, closed buffer. */
  static void assertIdentity(BufferStats s) {
    assertThat(s.accepted()).as("accepted == flushed + failed + rejected + undelivered")
        .isEqualTo(s.flushed() + s.failed() + s.rejected() + s.undelivered());
  }
}
