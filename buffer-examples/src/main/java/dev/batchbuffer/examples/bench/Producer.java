package dev.batchbuffer.examples.bench;

/**
 * One producer thread's counters: what it added, for {@link Ledger#verify()}. Benchmarks extend it
 * with a thread-scoped state whose iteration setup registers with that benchmark's ledger.
 */
public abstract class Producer {
  /** Pre-boxed items, so the benchmarks measure batching, not boxing. */
  static final Long[] ITEMS = new Long[1024];

  static {
    for (int i = 0; i < ITEMS.length; i++) {
      ITEMS[i] = (long) i;
    }
  }

  long count;
  long sum;

  /** For subclasses. */
  protected Producer() {}

  /** Starts an iteration: zero counters, known to the ledger. */
  void register(Ledger ledger) {
    count = 0;
    sum = 0;
    ledger.producers.add(this);
  }

  /** The next item, counted as added. */
  Long next() {
    Long item = ITEMS[(int) (count & (ITEMS.length - 1))];
    count++;
    sum += item;
    return item;
  }
}
