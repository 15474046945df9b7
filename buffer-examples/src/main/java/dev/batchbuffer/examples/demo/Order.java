package dev.batchbuffer.examples.demo;

/**
 * One produced order: a row of the demo's table.
 *
 * @param id unique across producers
 * @param producer which producer made it
 * @param customer a customer name
 * @param amountCents the amount
 * @param createdAtMillis when it was produced
 */
record Order(long id, int producer, String customer, long amountCents, long createdAtMillis) {

  /** The per-row term of the table checksum; the SQL check sums the same expression. */
  long checksum() {
    return (id % 1_000_003) * 31 + amountCents;
  }
}
