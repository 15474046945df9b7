package dev.batchbuffer.snippets;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Stand-ins for the application code the examples call (a DAO, a queue client, record types): the
 * examples show how a buffer meets them, these record what they were given so a test can check.
 */
final class Backends {
  private Backends() {}

  /** An order row. */
  record Order(String id, long cents) {}

  /** An order table whose {@code insertAll} writes one batch. */
  static final class Orders {
    final List<List<Order>> inserts = new CopyOnWriteArrayList<>();

    void insertAll(List<Order> batch) {
      inserts.add(List.copyOf(batch));
    }
  }

  /** A queue message, with the queue it goes to. */
  record Message(String queueUrl, String body) {
    long sizeInBytes() {
      return body.getBytes(StandardCharsets.UTF_8).length;
    }
  }

  /** One batch request a queue client sent. */
  record SendBatch(String queueUrl, List<Message> messages) {}

  /** A queue client with a batch send per queue. */
  static final class Sqs {
    final List<SendBatch> requests = new CopyOnWriteArrayList<>();

    void sendBatch(String queueUrl, List<Message> batch) {
      requests.add(new SendBatch(queueUrl, List.copyOf(batch)));
    }
  }

  /** A stream record: a partition key and a payload. */
  static final class Reading {
    private final String deviceId;
    private final byte[] payload;

    Reading(String deviceId, byte[] payload) {
      this.deviceId = deviceId;
      this.payload = payload.clone();
    }

    String deviceId() {
      return deviceId;
    }

    byte[] payload() {
      return payload.clone();
    }

    /** What the stream counts: the payload plus the partition key's UTF-8 bytes. */
    long sizeInBytes() {
      return (long) payload.length + deviceId.getBytes(StandardCharsets.UTF_8).length;
    }
  }

  /** A stream client with a batch put. */
  static final class Kinesis {
    final List<List<Reading>> requests = new CopyOnWriteArrayList<>();

    void putRecords(List<Reading> batch) {
      requests.add(List.copyOf(batch));
    }
  }

  /**
   * A stream's answer for one record of a batch put: a sequence number, or an error code (as
   * Kinesis {@code PutRecords} answers each record, in request order).
   */
  record PutResult(String sequenceNumber, String errorCode) {
    boolean ok() {
      return errorCode.isEmpty();
    }
  }

  /** A stream client whose batch put answers each record; it throttles records of "hot" devices. */
  static final class SequencedStream {
    final List<List<Reading>> requests = new CopyOnWriteArrayList<>();
    private long next = 1;

    synchronized List<PutResult> putRecords(List<Reading> batch) {
      requests.add(List.copyOf(batch));
      List<PutResult> out = new java.util.ArrayList<>();
      for (Reading r : batch) {
        out.add(r.deviceId().startsWith("hot")
            ? new PutResult("", "ProvisionedThroughputExceededException")
            : new PutResult(Long.toString(next++), ""));
      }
      return out;
    }
  }

  /** An application event. */
  record Event(String type) {}
}
