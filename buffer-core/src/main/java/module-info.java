/**
 * batchbuffer: a batching buffer with pluggable flush policies.
 *
 * <p>Producers {@link dev.batchbuffer.Buffer#add add} items; one loop on a virtual thread batches them
 * and hands each batch to a {@link dev.batchbuffer.FlushFunc} when a count, size or time condition says
 * so. {@link dev.batchbuffer.Buffer#close()} drains everything that was accepted.
 */
@SuppressWarnings("requires-automatic")
module dev.batchbuffer {
  // Nullness annotations in the API's signatures; a compile dependency, so on every user's path.
  requires static transitive org.jspecify;
  requires static jdk.jfr;
  // Micrometer 1.x ships an automatic module only. Optional, used by dev.batchbuffer.micrometer
  // alone, and NOT transitive: a module that requires dev.batchbuffer without Micrometer on its
  // module path must compile and run; one that uses BufferMetrics requires micrometer.core itself.
  requires static micrometer.core;

  exports dev.batchbuffer;
  exports dev.batchbuffer.testing;
  exports dev.batchbuffer.micrometer;
  exports dev.batchbuffer.internal.jfr to jdk.jfr;
}
