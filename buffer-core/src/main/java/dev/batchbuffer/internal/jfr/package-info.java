/**
 * The JDK Flight Recorder events of a buffer. Exported to {@code jdk.jfr} only; loaded only when
 * {@code jdk.jfr} is present.
 */
@NullMarked
package dev.batchbuffer.internal.jfr;

import org.jspecify.annotations.NullMarked;
