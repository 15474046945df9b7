package dev.batchbuffer;

/**
 * What happens to the later items of a key that paused because one of its batches failed for good
 * (after any retries of the middleware); see {@link KeyedBuffer.Builder#pauseKeyOnFailure}. A
 * paused key stays paused until {@link KeyedBuffer#resume} is called for it, also while it has no
 * items and after the buffer forgot its batch ({@code keyIdleTimeout}).
 */
public enum PauseMode {
  /**
   * The key's items that were not yet handed to the flush function fail at once with
   * {@link DeliveryException.Reason#KEY_PAUSED} and reach {@code onFlushError}, as do items of the
   * key that arrive later, until the key is resumed (as Pub/Sub's ordering keys do).
   */
  FAIL_FAST,
  /**
   * The key's items wait, in order, until the key is resumed; they count against the buffer's
   * bounds, so a paused key that is never resumed eventually fills them: then the loop takes
   * nothing more from the channel, {@code add} waits, the other keys stop too and a
   * {@code flush()} queued behind them waits for {@code resume(key)} or {@code close()}. At
   * {@code close()} the items still waiting fail with {@link DeliveryException.Reason#KEY_PAUSED}
   * and reach {@code onFlushError}.
   */
  WAIT
}
