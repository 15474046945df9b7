package com.example.consumer;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The README's quick start as a user's modular project has it, against the installed buffer-core
 * jar on the module path, without Micrometer.
 * Exits non-zero (an uncaught error) unless all 1 000 events reached the fake backend.
 */
public final class QuickStart {

  record Event(String id, String payload) {}

  /** Stands in for the README's backend: keeps every batch it is handed. */
  static final class Backend {
    final List<List<Event>> calls = new CopyOnWriteArrayList<>();

    void putRecords(List<Event> batch) {
      calls.add(batch);
    }
  }

  static long bytes(List<Event> batch) {
    long n = 0;
    for (Event e : batch) {
      n += e.payload().length();
    }
    return n;
  }

  private QuickStart() {}

  public static void main(String[] args) throws Exception {
    Backend backend = new Backend();
    // --- README quick start ---
    Config<Event> config = Config.builder(backend::putRecords)   // FlushFunc<Event>
        .capacity(500)                                          // flush at 500 events
        .flushInterval(Duration.ofMillis(200))                  // or 200 ms after the first one
        .willOverflow((batch, e) -> bytes(batch) + e.payload().length() > 5 * 1024 * 1024)
        .onFlushError((error, batch) -> System.err.println(batch.size() + " lost: " + error))
        .build();

    try (Buffer<Event> buffer = Buffer.start(config)) {
      for (int i = 0; i < 1_000; i++) {
        buffer.add(new Event("e" + i, "x".repeat(100)));          // blocks while the channel is full
      }
    }                                                           // close(): drain, final flush, wait
    // --- end ---

    int delivered = backend.calls.stream().mapToInt(List::size).sum();
    if (delivered != 1_000) {
      throw new AssertionError("expected 1000 events at the backend, got " + delivered);
    }
    if (!"dev.batchbuffer".equals(Buffer.class.getModule().getName())
        || !QuickStart.class.getModule().isNamed()) {
      throw new AssertionError("expected to run on the module path, got " + Buffer.class.getModule()
          + " and " + QuickStart.class.getModule());
    }
    if (ModuleLayer.boot().findModule("micrometer.core").isPresent()) {
      throw new AssertionError("micrometer.core is on the module path: this test must run without it");
    }
    System.out.println("consumer-modulepath: 1000 events in " + backend.calls.size() + " batches");
  }
}
