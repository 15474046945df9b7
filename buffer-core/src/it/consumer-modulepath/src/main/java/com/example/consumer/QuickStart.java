package com.example.consumer;

import dev.batchbuffer.Buffer;
import dev.batchbuffer.Config;
import dev.batchbuffer.PartialFlushException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The README's quick start as a user's modular project has it, against the installed buffer-core
 * jar on the module path, without Micrometer.
 * Exits non-zero (an uncaught error) unless every one of the 1 000 events was either stored by the
 * fake backend or handed to onFlushError as a failed record.
 */
public final class QuickStart {

  record Event(String id, String payload) {}

  record PutResult(List<Integer> failedIndexes, Exception firstError) {}

  /** Stands in for the README's backend: answers per record, and refuses every id ending in 7. */
  static final class Backend {
    final List<List<Event>> calls = new CopyOnWriteArrayList<>();
    final List<Event> stored = new CopyOnWriteArrayList<>();

    PutResult putRecords(List<Event> batch) {
      calls.add(batch);
      List<Integer> failed = new ArrayList<>();
      for (int i = 0; i < batch.size(); i++) {
        if (batch.get(i).id().endsWith("7")) {
          failed.add(i);
        } else {
          stored.add(batch.get(i));
        }
      }
      return new PutResult(failed, failed.isEmpty() ? null : new IOException("throttled"));
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
    List<Event> deadLetters = new CopyOnWriteArrayList<>();
    // --- README quick start ---
    Config<Event> config = Config.<Event>builder(batch -> {
          PutResult result = backend.putRecords(batch);     // answers per record, like Kinesis, SQS
          if (!result.failedIndexes().isEmpty()) {          // never let those answers vanish
            throw new PartialFlushException(result.failedIndexes(), result.firstError());
          }
        })
        .capacity(500)                                      // flush at 500 events
        .flushInterval(Duration.ofMillis(200))              // or 200 ms after the first one
        .willOverflow((batch, e) -> bytes(batch) + e.payload().length() > 5 * 1024 * 1024)
        .onFlushError((error, failed) -> deadLetters.addAll(failed))  // just the failed events
        .build();

    try (Buffer<Event> buffer = Buffer.start(config)) {
      for (int i = 0; i < 1_000; i++) {
        buffer.add(new Event("e" + i, "x".repeat(100)));      // blocks while the channel is full
      }
    }                                                       // close(): drain, final flush, wait
    // --- end ---

    if (backend.stored.size() != 900 || deadLetters.size() != 100) {
      throw new AssertionError("expected 900 events stored and 100 dead letters, got "
          + backend.stored.size() + " and " + deadLetters.size());
    }
    if (!"dev.batchbuffer".equals(Buffer.class.getModule().getName())
        || !QuickStart.class.getModule().isNamed()) {
      throw new AssertionError("expected to run on the module path, got " + Buffer.class.getModule()
          + " and " + QuickStart.class.getModule());
    }
    if (ModuleLayer.boot().findModule("micrometer.core").isPresent()) {
      throw new AssertionError("micrometer.core is on the module path: this test must run without it");
    }
    System.out.println("consumer-modulepath: 900 events stored, 100 dead letters, " + backend.calls.size() + " batches");
  }
}
