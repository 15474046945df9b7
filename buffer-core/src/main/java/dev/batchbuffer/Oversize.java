package dev.batchbuffer;

/**
 * What a byte policy does with one item that weighs more than its limit on its own, an item no batch
 * can hold within the limit.
 */
public enum Oversize {
  /**
   * The item goes to {@link Config#onReject()} (with a warning that says why); the batch is
   * untouched. The default: a backend with a hard limit would refuse the whole request, and the
   * rejected item is still accounted for.
   */
  REJECT,

  /**
   * The item is flushed alone in a batch of its own (the current batch is flushed first), for
   * backends whose limit is advisory or that split large records themselves.
   */
  SEND_ALONE,

  /**
   * {@link Buffer#add} and {@link Buffer#offer} throw {@link IllegalArgumentException} on the
   * producer's thread and nothing is enqueued: the caller learns at once, with the item in hand.
   * So does an item the weigher gives a negative weight.
   * The weigher then also runs on producer threads.
   */
  FAIL_FAST
}
