package dev.batchbuffer.examples.kinesis;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.protocols.jsoncore.JsonNode;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;

/**
 * Measures every {@code PutRecords} request on the wire: just before transmission it parses the
 * marshalled JSON body the SDK is about to send and counts its records and the bytes Kinesis counts
 * against its limits (each record's base64-decoded {@code Data} plus its {@code PartitionKey}'s
 * UTF-8 length), so a limit check does not trust the buffer's own weighing.
 */
final class PutRecordsMeter implements ExecutionInterceptor {

  /**
   * One request as sent.
   *
   * @param records the records in it
   * @param bytes data plus partition keys, summed
   * @param largestRecord data plus partition key of its largest record
   * @param bodyBytes the length of the HTTP body (JSON, base64 data)
   * @param data each record's data as UTF-8 text, in request order
   */
  record Sent(int records, long bytes, long largestRecord, long bodyBytes, List<String> data) {}

  private final List<Sent> sent = new CopyOnWriteArrayList<>();

  @Override
  public void beforeTransmission(Context.BeforeTransmission context,
      ExecutionAttributes executionAttributes) {
    if (!(context.request() instanceof PutRecordsRequest)) {
      return;
    }
    RequestBody body = context.requestBody().orElseThrow(
        () -> new AssertionError("a PutRecords request without a body"));
    byte[] json;
    try (InputStream in = body.contentStreamProvider().newStream()) {
      json = in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<JsonNode> records = field(JsonNode.parser().parse(json), "Records").asArray();
    long bytes = 0;
    long largest = 0;
    List<String> data = new ArrayList<>(records.size());
    for (JsonNode r : records) {
      byte[] blob = Base64.getDecoder().decode(field(r, "Data").asString());
      long size = blob.length
          + (long) field(r, "PartitionKey").asString().getBytes(StandardCharsets.UTF_8).length;
      bytes += size;
      largest = Math.max(largest, size);
      data.add(new String(blob, StandardCharsets.UTF_8));
    }
    sent.add(new Sent(records.size(), bytes, largest, json.length, List.copyOf(data)));
  }

  private static JsonNode field(JsonNode node, String name) {
    return node.field(name).orElseThrow(
        () -> new AssertionError("a PutRecords body without " + name + ": " + node));
  }

  /** Returns the requests sent so far, in order. */
  List<Sent> sent() {
    return List.copyOf(sent);
  }
}
