package dev.batchbuffer;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A snapshot of a buffer's state and history, from {@link Buffer#stats()} or
 * {@link KeyedBuffer#stats()}. Taking one costs a few dozen reads and takes no lock; the hot path
 * pays nothing for it.
 *
 * <p>Each counter is exact at some instant during the call, but the snapshot is not one atomic cut:
 * an item may be counted as flushing by one field and as flushed by the next. The counters
 * satisfy the accounting identity at any quiescent point:
 * {@code accepted == flushed + failed + rejected + undelivered + itemsWaiting + itemsFlushing}.
 *
 * @param name the buffer's name
 * @param state where the buffer is in its life
 * @param uptime time since the buffer started, on its {@link TimeSource}
 * @param itemsWaiting items accepted and not yet handed to a flush (in the channel or a batch)
 * @param itemsFlushing items in flushes that have not returned yet
 * @param bytesWaiting the weight of the items in batches by the policy's weigher (0 without one);
 *     items still in the channel are weighed when the loop takes them
 * @param bytesFlushing the weight of the items in flushes that have not returned yet
 * @param accepted items that {@code add}/{@code offer}/{@code submit} accepted
 * @param flushed items whose flush returned normally
 * @param failed items handed to {@code onFlushError}
 * @param rejected items handed to {@code onReject} (a veto, an oversize item, a failing policy)
 * @param retried items sent again by {@link FlushMiddleware#retry}, counted once per new attempt
 * @param undelivered items {@code close(Duration)} gave up on
 * @param refused calls to {@code add}/{@code offer}/{@code submit}/{@code flush} refused because
 *     the buffer was closed (the caller kept the item)
 * @param flushesByReason how many flushes each {@link FlushReason} caused; every reason is present
 * @param minBatchSize the smallest batch flushed, or 0 before the first flush
 * @param meanBatchSize the mean batch size, or 0 before the first flush
 * @param maxBatchSize the largest batch flushed, or 0 before the first flush
 * @param flushLatencyP50 the median time a flush function took (within 1/8 of the true value)
 * @param flushLatencyP99 the 99th percentile of the time a flush function took
 * @param flushLatencyMax the longest time a flush function took
 * @param flushTimeTotal the time all flushes took together, for rates
 * @param oldestItemAge how long the oldest item in a batch has waited; zero when batches are empty
 * @param flushesInFlight flushes running now
 * @param producersBlocked producers waiting for room (in the channel or under the memory bound)
 * @param keys live keys of a {@link KeyedBuffer}; 0 for a {@link Buffer}
 * @param listenerErrors exceptions thrown by {@link BufferListener} methods (caught, logged)
 * @param hookErrors exceptions thrown by periodic hooks (caught, logged)
 * @param recentErrors the last few flush failures, oldest first, without their items
 * @param expired items whose delivery timeout passed before a flush of them succeeded
 *     ({@link DeliveryException.Reason#EXPIRED}); they are also counted in {@code failed}
 * @param concurrencyLimit the current limit on flushes in flight of the buffer's
 *     {@link FlowControl}, or 0 without one
 * @param rateLimit the current items per second of the buffer's {@link FlowControl}, or 0 if it
 *     does not adapt a rate (or there is none)
 * @param throttled flushes and retried attempts that the {@link FlowControl} saw throttled (each
 *     counted whether or not it cut the limit); 0 without one
 * @param pausedKeys keys of a {@link KeyedBuffer} paused now
 *     ({@link KeyedBuffer.Builder#pauseKeyOnFailure}); 0 without that option
 * @param itemsFailedPaused items that failed with {@link DeliveryException.Reason#KEY_PAUSED}
 *     (also counted in {@code failed})
 * @param batchesRateLimited batches held back under a per-key rate limit
 *     ({@link KeyedBuffer.Builder#keyRateLimit}): their key's bucket was short, or a flush of
 *     the key still ran, when they were formed
 */
public record BufferStats(
    String name,
    State state,
    Duration uptime,
    long itemsWaiting,
    long itemsFlushing,
    long bytesWaiting,
    long bytesFlushing,
    long accepted,
    long flushed,
    long failed,
    long rejected,
    long retried,
    long undelivered,
    long refused,
    Map<FlushReason, Long> flushesByReason,
    int minBatchSize,
    double meanBatchSize,
    int maxBatchSize,
    Duration flushLatencyP50,
    Duration flushLatencyP99,
    Duration flushLatencyMax,
    Duration flushTimeTotal,
    Duration oldestItemAge,
    int flushesInFlight,
    int producersBlocked,
    int keys,
    long listenerErrors,
    long hookErrors,
    List<FlushError> recentErrors,
    long expired,
    int concurrencyLimit,
    double rateLimit,
    long throttled,
    int pausedKeys,
    long itemsFailedPaused,
    long batchesRateLimited) {

  /** How many flush failures {@link #recentErrors()} keeps. */
  public static final int RECENT_ERRORS = 8;

  /** Where a buffer is in its life. */
  public enum State {
    /** Accepting items and flushing. */
    RUNNING,
    /** {@code close()} was called: no more items are accepted; what was accepted is drained. */
    CLOSING,
    /** The loop has ended; every accepted item was flushed, failed, rejected or given up on. */
    CLOSED,
    /** A callback threw a fatal error ({@link VirtualMachineError}) and the loop stopped. */
    FAILED
  }

  /**
   * Creates a snapshot without the counters added later ({@code expired} and after), which are
   * 0: the shape of the record before they were added.
   *
   * @param name the buffer's name
   * @param state where the buffer is in its life
   * @param uptime time since the buffer started
   * @param itemsWaiting items accepted and not yet handed to a flush
   * @param itemsFlushing items in flushes that have not returned yet
   * @param bytesWaiting the weight of the items in batches
   * @param bytesFlushing the weight of the items in flushes that have not returned yet
   * @param accepted items accepted
   * @param flushed items whose flush returned normally
   * @param failed items handed to {@code onFlushError}
   * @param rejected items handed to {@code onReject}
   * @param retried items sent again by a retry
   * @param undelivered items {@code close(Duration)} gave up on
   * @param refused calls refused because the buffer was closed
   * @param flushesByReason flushes per reason
   * @param minBatchSize the smallest batch flushed
   * @param meanBatchSize the mean batch size
   * @param maxBatchSize the largest batch flushed
   * @param flushLatencyP50 the median flush time
   * @param flushLatencyP99 the 99th percentile flush time
   * @param flushLatencyMax the longest flush time
   * @param flushTimeTotal the time all flushes took together
   * @param oldestItemAge how long the oldest item in a batch has waited
   * @param flushesInFlight flushes running now
   * @param producersBlocked producers waiting for room
   * @param keys live keys
   * @param listenerErrors exceptions thrown by listener methods
   * @param hookErrors exceptions thrown by periodic hooks
   * @param recentErrors the last few flush failures
   */
  public BufferStats(String name, State state, Duration uptime, long itemsWaiting,
      long itemsFlushing, long bytesWaiting, long bytesFlushing, long accepted, long flushed,
      long failed, long rejected, long retried, long undelivered, long refused,
      Map<FlushReason, Long> flushesByReason, int minBatchSize, double meanBatchSize,
      int maxBatchSize, Duration flushLatencyP50, Duration flushLatencyP99,
      Duration flushLatencyMax, Duration flushTimeTotal, Duration oldestItemAge,
      int flushesInFlight, int producersBlocked, int keys, long listenerErrors, long hookErrors,
      List<FlushError> recentErrors) {
    this(name, state, uptime, itemsWaiting, itemsFlushing, bytesWaiting, bytesFlushing, accepted,
        flushed, failed, rejected, retried, undelivered, refused, flushesByReason, minBatchSize,
        meanBatchSize, maxBatchSize, flushLatencyP50, flushLatencyP99, flushLatencyMax,
        flushTimeTotal, oldestItemAge, flushesInFlight, producersBlocked, keys, listenerErrors,
        hookErrors, recentErrors, 0, 0, 0, 0, 0, 0L, 0L);
  }

  /**
   * Copies the collections; checks for nulls.
   */
  public BufferStats {
    Objects.requireNonNull(name, "name must not be null");
    Objects.requireNonNull(state, "state must not be null");
    flushesByReason = Map.copyOf(flushesByReason);
    recentErrors = List.copyOf(recentErrors);
  }

  /**
   * Returns the number of flushes, for every reason.
   *
   * @return the sum of {@link #flushesByReason()}
   */
  public long flushes() {
    long sum = 0;
    for (long n : flushesByReason.values()) {
      sum += n;
    }
    return sum;
  }

  /**
   * Returns the number of flushes for one reason.
   *
   * @param reason the reason
   * @return how many flushes it caused
   */
  public long flushes(FlushReason reason) {
    return flushesByReason.getOrDefault(reason, 0L);
  }

  /**
   * Returns the most recent flush failure.
   *
   * @return the last of {@link #recentErrors()}, or null if no flush has failed
   */
  public @org.jspecify.annotations.Nullable FlushError lastError() {
    return recentErrors.isEmpty() ? null : recentErrors.get(recentErrors.size() - 1);
  }
}
