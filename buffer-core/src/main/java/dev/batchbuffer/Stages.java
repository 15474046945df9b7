package dev.batchbuffer;

import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import org.jspecify.annotations.Nullable;

/** Waiting for the stage of an asynchronous flush function, for its blocking forms. */
final class Stages {
  private Stages() {}

  /**
   * Waits for {@code stage}, interruptibly, throwing what it failed with.
   *
   * @param stage the stage a flush function returned, or null (refused)
   * @throws Exception what the stage failed with; an {@link ExecutionException} if it was cancelled
   */
  static void await(CompletionStage<?> stage) throws Exception {
    Objects.requireNonNull(stage, "flush returned null");
    CompletableFuture<?> future;
    try {
      future = stage.toCompletableFuture();
    } catch (UnsupportedOperationException e) { // allowed by CompletionStage: wait through a copy
      CompletableFuture<@Nullable Object> copy = new CompletableFuture<>();
      var unused = stage.whenComplete((v, t) -> {
        if (t != null) {
          copy.completeExceptionally(t);
        } else {
          copy.complete(v);
        }
      });
      future = copy;
    }
    try {
      future.get();
    } catch (ExecutionException | CompletionException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      if (cause instanceof Exception ex) {
        throw ex;
      }
      throw e;
    } catch (CancellationException e) {
      throw new ExecutionException("the flush stage was cancelled", e);
    }
  }
}
