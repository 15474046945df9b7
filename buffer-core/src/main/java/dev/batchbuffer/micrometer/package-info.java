/**
 * Micrometer binding of a buffer's {@link dev.batchbuffer.BufferStats}. Micrometer is an optional
 * dependency: only this package needs it on the class path.
 */
@NullMarked
package dev.batchbuffer.micrometer;

import org.jspecify.annotations.NullMarked;
