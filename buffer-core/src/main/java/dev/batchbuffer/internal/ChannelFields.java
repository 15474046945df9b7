package dev.batchbuffer.internal;

/**
 * The hot fields of a {@link Channel}'s ring, each on its own cache line: producers hammer the producer
 * index, the consumer writes the consumer index once per item, and the two must not share a line.
 * Superclass fields are laid out first, so the padding classes keep them apart (JCTools' layout).
 */
final class ChannelFields {
  private ChannelFields() {}

  @SuppressWarnings("unused")
  abstract static class Pad0 {
    long pad1_00, pad1_01, pad1_02, pad1_03, pad1_04, pad1_05, pad1_06, pad1_07;
    long pad1_08, pad1_09, pad1_10, pad1_11, pad1_12, pad1_13, pad1_14, pad1_15;
  }

  abstract static class ProducerIndex extends Pad0 {
    /** Next index a producer claims; the sign bit is the closed flag. Written by CAS only. */
    volatile long producerIndex;
  }

  @SuppressWarnings("unused")
  abstract static class Pad1 extends ProducerIndex {
    long pad2_00, pad2_01, pad2_02, pad2_03, pad2_04, pad2_05, pad2_06, pad2_07;
    long pad2_08, pad2_09, pad2_10, pad2_11, pad2_12, pad2_13, pad2_14;
  }

  abstract static class ProducerLimit extends Pad1 {
    /** A cached {@code consumerIndex + bound}: producers below it need not read the consumer index. */
    volatile long producerLimit;
  }

  @SuppressWarnings("unused")
  abstract static class Pad2 extends ProducerLimit {
    long pad3_00, pad3_01, pad3_02, pad3_03, pad3_04, pad3_05, pad3_06, pad3_07;
    long pad3_08, pad3_09, pad3_10, pad3_11, pad3_12, pad3_13, pad3_14;
  }

  abstract static class ConsumerIndex extends Pad2 {
    /**
     * The index below which producers may reuse slots. Written by the consumer only (release
     * stores), every few polls and before the consumer waits or flushes; read by producers only
     * when their cached limit runs out.
     */
    volatile long consumerIndex;
  }

  @SuppressWarnings("unused")
  abstract static class Pad3 extends ConsumerIndex {
    long pad4_00, pad4_01, pad4_02, pad4_03, pad4_04, pad4_05, pad4_06, pad4_07;
    long pad4_08, pad4_09, pad4_10, pad4_11, pad4_12, pad4_13, pad4_14;
  }

  /**
   * The consumer's own fields, written on every poll: on a line of their own, so that producers
   * reading consumerIndex (on a full channel, at every re-try) do not pull it away per poll.
   */
  abstract static class ConsumerLocal extends Pad3 {
    /** The index the consumer takes next; consumerIndex lags it. */
    long cursor;
    /** The consumer index as last published. */
    long published;
    /** The weight of the element the last poll returned. */
    long lastWeight;
  }

  @SuppressWarnings("unused")
  abstract static class Pad3b extends ConsumerLocal {
    long pad6_00, pad6_01, pad6_02, pad6_03, pad6_04, pad6_05, pad6_06, pad6_07;
    long pad6_08, pad6_09, pad6_10, pad6_11, pad6_12, pad6_13;
  }

  abstract static class WakeAt extends Pad3b {
    /**
     * The producer index at which the parked consumer wants a wake-up, or {@code Long.MAX_VALUE}
     * when it is not parked. Set by the consumer before it parks; the producer that reaches it CASes
     * it back to {@code MAX_VALUE} and unparks the consumer, so at most one wake-up is sent. Starts
     * at 1: the consumer thread is not started until the first arrival wakes it.
     */
    volatile long wakeAt = 1;

    /**
     * The heaviest element the waiting consumer expects (compared unsigned): the producer of a
     * heavier one wakes it before its target. Written by the consumer before wakeAt; -1 (nothing
     * is heavier) unless the channel is hinted.
     */
    long expected;

    /**
     * One past the index of the latest element heavier than {@code expected} when its producer
     * offered it (raised by CAS, never lowered): the consumer does not wait while it is above the
     * consumer's cursor.
     */
    volatile long heavyAt;

    /** Producers parked because the channel was full; read by the consumer after it frees slots. */
    volatile int blockedProducers;

    /**
     * 1 once a producer found the channel full; the consumer then polls for arrivals instead of
     * parking, and clears it when none came for a while.
     */
    volatile int contended;
  }

  @SuppressWarnings("unused")
  abstract static class Pad4 extends WakeAt {
    long pad5_00, pad5_01, pad5_02, pad5_03, pad5_04, pad5_05, pad5_06, pad5_07;
    long pad5_08, pad5_09, pad5_10, pad5_11, pad5_12, pad5_13;
  }
}
