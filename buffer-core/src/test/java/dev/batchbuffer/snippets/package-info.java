/**
 * The code of every example in the public javadoc. Each example is a region
 * ({@code // @start region="..."} ... {@code // @end}) of a test here that a {@code {@snippet}} tag
 * shows, so an example compiles with the tests and runs as one: it cannot go stale.
 */
@NullMarked
package dev.batchbuffer.snippets;

import org.jspecify.annotations.NullMarked;
