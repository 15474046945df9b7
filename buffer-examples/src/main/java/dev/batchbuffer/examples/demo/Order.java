package dev.batchbuffer.examples.demo;

import java.util.Locale;

/**
 * One produced order: a row of the demo's table, or a message of the demo's queue or topic.
 *
 * @param id unique across producers
 * @param producer which producer made it
 * @param customer a customer name (no comma)
 * @param amountCents the amount
 * @param createdAtMillis when it was produced
 */
public record Order(long id, int producer, String customer, long amountCents, long createdAtMillis) {

  /**
   * Returns the per-order term of the demo's checksum; the SQL check sums the same expression.
   *
   * @return {@code (id % 1_000_003) * 31 + amountCents}
   */
  public long checksum() {
    return (id % 1_000_003) * 31 + amountCents;
  }

  /**
   * Returns the order as one line of text, for message backends; {@link #decode} reads it back.
   *
   * @return {@code id,producer,customer,amountCents,createdAtMillis}
   */
  public String encode() {
    return String.format(Locale.ROOT, "%d,%d,%s,%d,%d", id, producer, customer, amountCents,
        createdAtMillis);
  }

  /**
   * Reads an order written by {@link #encode}.
   *
   * @param text the encoded order
   * @return the order
   * @throws IllegalArgumentException if {@code text} is not an encoded order
   */
  public static Order decode(String text) {
    String[] f = text.split(",", -1);
    if (f.length != 5) {
      throw new IllegalArgumentException("not an encoded order: '" + text + "'");
    }
    try {
      return new Order(Long.parseLong(f[0]), Integer.parseInt(f[1]), f[2], Long.parseLong(f[3]),
          Long.parseLong(f[4]));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not an encoded order: '" + text + "'", e);
    }
  }
}
