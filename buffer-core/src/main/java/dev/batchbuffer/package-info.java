/**
 * The public API: {@link dev.batchbuffer.Buffer}, its {@link dev.batchbuffer.Config} and
 * {@link dev.batchbuffer.Options}, the {@link dev.batchbuffer.FlushFunc} it calls and the
 * {@link dev.batchbuffer.TimeSource} it reads deadlines from. Beside them:
 * {@link dev.batchbuffer.KeyedBuffer} (a batch per key), {@link dev.batchbuffer.FlushPolicy} and
 * {@link dev.batchbuffer.Presets} (when a batch is complete), {@link dev.batchbuffer.FlushMiddleware}
 * and {@link dev.batchbuffer.RetryPolicy} (retry, timeout, rate limit, circuit breaker around a
 * flush function), and {@link dev.batchbuffer.BufferStats} and
 * {@link dev.batchbuffer.BufferListener} (what a buffer is doing).
 *
 * <p>The smallest use: start a buffer with a flush function, add items, close it to drain.
 * {@snippet file="dev/batchbuffer/snippets/BufferSnippetsTest.java" region="buffer"}
 */
@NullMarked
package dev.batchbuffer;

import org.jspecify.annotations.NullMarked;
