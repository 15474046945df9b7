/** JMH benchmarks of batchbuffer next to the hand-written loops and libraries users would pick. */
@NullMarked
package dev.batchbuffer.examples.bench;

import org.jspecify.annotations.NullMarked;
