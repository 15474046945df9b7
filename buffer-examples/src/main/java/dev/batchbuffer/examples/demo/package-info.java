/** The README's first command: many producers batching orders into an embedded SQLite file. */
@NullMarked
package dev.batchbuffer.examples.demo;

import org.jspecify.annotations.NullMarked;
