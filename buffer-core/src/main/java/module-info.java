/**
 * batchbuffer: a batching buffer with pluggable flush policies.
 *
 * <p>Producers {@link dev.batchbuffer.Buffer#add add} items; one loop on a virtual thread batches them
 * and hands each batch to a {@link dev.batchbuffer.FlushFunc} when a count, size or time condition says
 * so. {@link dev.batchbuffer.Buffer#close()} drains everything that was accepted.
 */
module dev.batchbuffer {
  requires static transitive org.jspecify;

  exports dev.batchbuffer;
  exports dev.batchbuffer.testing;
}
