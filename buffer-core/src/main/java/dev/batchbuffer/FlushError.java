package dev.batchbuffer;

import java.time.Instant;

/**
 * A recent flush failure, as kept by {@link BufferStats#recentErrors()}: when, how big, and why;
 * never the items, so a failed batch is not kept alive by the stats.
 *
 * @param at when the failure was settled, by the wall clock
 * @param batchSize how many items the batch held
 * @param failed how many of them failed (fewer than the batch for a {@link PartialFlushException})
 * @param reason why the batch was flushed
 * @param error what the flush function threw
 */
public record FlushError(Instant at, int batchSize, int failed, FlushReason reason,
    Throwable error) {}
