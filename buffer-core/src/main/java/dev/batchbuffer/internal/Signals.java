package dev.batchbuffer.internal;

import java.util.concurrent.CompletableFuture;

/** What travels through the channel besides plain items. */
public final class Signals {
  private Signals() {}

  /**
   * An item whose producer asked for a future.
   *
   * @param item the item
   * @param result completes when the item is delivered or given up on
   */
  public record Tracked(Object item, CompletableFuture<Void> result) {}

  /**
   * A {@code flush()} call: every item before it in the channel is flushed before it completes.
   *
   * @param result completes when those flushes are done
   */
  public record FlushRequest(CompletableFuture<Void> result) {}
}
