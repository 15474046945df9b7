/**
 * The public API: {@link dev.batchbuffer.Buffer}, its {@link dev.batchbuffer.Config} and
 * {@link dev.batchbuffer.Options}, the {@link dev.batchbuffer.FlushFunc} it calls and the
 * {@link dev.batchbuffer.TimeSource} it reads deadlines from.
 */
@NullMarked
package dev.batchbuffer;

import org.jspecify.annotations.NullMarked;
