/** A user's module: it needs batchbuffer and nothing else (no Micrometer). */
module com.example.consumer {
  requires dev.batchbuffer;
}
