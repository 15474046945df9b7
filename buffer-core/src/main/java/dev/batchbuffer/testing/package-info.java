/**
 * A test kit for code that uses a {@link dev.batchbuffer.Buffer} or a
 * {@link dev.batchbuffer.KeyedBuffer}: deterministic time and recording flush functions, with
 * bounded waits of their own, so a test needs no other library and never sleeps for a linger.
 *
 * <ul>
 *   <li>{@link dev.batchbuffer.testing.ManualTimeSource}: a clock that moves only when the test
 *       advances it, and waits until the buffer's threads are parked on it.
 *   <li>{@link dev.batchbuffer.testing.RecordingFlush}: a flush function that keeps every batch and
 *       waits for a number of batches or items.
 *   <li>{@link dev.batchbuffer.testing.ScriptedFlush}: a flush function that follows a script
 *       (succeed, fail, fail some items, hold a flush in flight) and records every call.
 * </ul>
 *
 * <p>A linger test: the buffer gets the manual clock through
 * {@link dev.batchbuffer.Options.Builder#timeSource}, the test waits until the loop has armed its
 * linger deadline, then advances the clock past it:
 * {@snippet file="dev/batchbuffer/snippets/TestKitSnippetsTest.java" region="test-kit"}
 *
 * <p>The waits take a real-time timeout and fail with a message that says what did happen:
 * {@link java.util.concurrent.TimeoutException} from {@code ManualTimeSource},
 * {@link AssertionError} from the recorders.
 */
@NullMarked
package dev.batchbuffer.testing;

import org.jspecify.annotations.NullMarked;
