/**
 * Helpers for tests of code that uses a {@link dev.batchbuffer.Buffer}: a
 * {@link dev.batchbuffer.testing.ManualTimeSource} that a test advances by hand, so linger deadlines
 * fire deterministically and no test sleeps, and a {@link dev.batchbuffer.testing.RecordingFlush} that
 * keeps every batch and lets a test wait for a number of batches or items.
 */
@NullMarked
package dev.batchbuffer.testing;

import org.jspecify.annotations.NullMarked;
