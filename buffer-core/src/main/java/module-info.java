/**
 * batchbuffer: a batching buffer with pluggable flush policies.
 *
 * <p>Producers {@link dev.batchbuffer.Buffer#add add} items; one loop on a virtual thread batches them
 * and hands each batch to a {@link dev.batchbuffer.FlushFunc} when a count, size or time condition says
 * so. {@link dev.batchbuffer.Buffer#close()} drains everything that was accepted.
 */
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.batchbuffer {
  requires static transitive org.jspecify;
  requires static jdk.jfr;
  // Micrometer 1.x ships an automatic module only; optional, used by dev.batchbuffer.micrometer.
  requires static transitive micrometer.core;

  exports dev.batchbuffer;
  exports dev.batchbuffer.testing;
  exports dev.batchbuffer.micrometer;
  exports dev.batchbuffer.internal.jfr to jdk.jfr;
}
