/** Runnable examples of batchbuffer on real backends. */
@NullMarked
package dev.batchbuffer.examples;

import org.jspecify.annotations.NullMarked;
