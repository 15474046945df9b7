/** Implementation details: the channel, the flush loop and their helpers. Not exported. */
@NullMarked
package dev.batchbuffer.internal;

import org.jspecify.annotations.NullMarked;
