package dev.batchbuffer.examples.kinesis;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiPredicate;
import software.amazon.awssdk.core.SdkRequest;
import software.amazon.awssdk.core.SdkResponse;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttribute;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;

/**
 * Throttles chosen records of {@code PutRecords} the way Kinesis does when a shard is over its
 * write limit, because kinesalite never throttles: the chosen entries are taken out of the request
 * before it is sent (so, as with real throttling, they are not written), and put back into the
 * response at their positions with {@code ErrorCode ProvisionedThroughputExceededException} and no
 * sequence number, {@code FailedRecordCount} raised to match. Everything else is kinesalite's own
 * answer. Which records: a predicate of the record's data (UTF-8) and how many times that data was
 * requested before. A call whose every record is throttled cannot be sent empty (Kinesis needs one
 * record): it sends its first record to a sink stream instead and answers every entry as throttled.
 * It also logs every call: what the caller asked to send and what was throttled.
 */
final class Throttler implements ExecutionInterceptor {
  static final String THROTTLED = "ProvisionedThroughputExceededException";

  /**
   * One call.
   *
   * @param requested each record's data as the caller gave it, in order
   * @param throttled the data of the records this call throttled, in order
   */
  record Call(List<String> requested, List<String> throttled) {}

  private static final ExecutionAttribute<List<Integer>> POSITIONS =
      new ExecutionAttribute<>("ThrottledPositions");

  private static final ExecutionAttribute<Boolean> TO_SINK = new ExecutionAttribute<>("ToSink");

  private final BiPredicate<String, Integer> throttle;
  private final String sinkStream;
  private final ConcurrentHashMap<String, Integer> seen = new ConcurrentHashMap<>();
  private final List<Call> calls = new CopyOnWriteArrayList<>();

  /**
   * @param throttle given a record's data and how many earlier calls requested it, whether to
   *     throttle it in this call
   * @param sinkStream an existing stream that takes a call's first record when all are throttled
   */
  Throttler(BiPredicate<String, Integer> throttle, String sinkStream) {
    this.throttle = throttle;
    this.sinkStream = sinkStream;
  }

  @Override
  public SdkRequest modifyRequest(Context.ModifyRequest context, ExecutionAttributes attributes) {
    if (!(context.request() instanceof PutRecordsRequest request)) {
      return context.request();
    }
    List<PutRecordsRequestEntry> kept = new ArrayList<>();
    List<Integer> positions = new ArrayList<>();
    List<String> requested = new ArrayList<>();
    List<String> throttled = new ArrayList<>();
    List<PutRecordsRequestEntry> entries = request.records();
    for (int i = 0; i < entries.size(); i++) {
      String data = entries.get(i).data().asUtf8String();
      requested.add(data);
      int before = seen.merge(data, 1, Integer::sum) - 1;
      if (throttle.test(data, before)) {
        positions.add(i);
        throttled.add(data);
      } else {
        kept.add(entries.get(i));
      }
    }
    calls.add(new Call(List.copyOf(requested), List.copyOf(throttled)));
    attributes.putAttribute(POSITIONS, List.copyOf(positions));
    boolean toSink = kept.isEmpty();
    attributes.putAttribute(TO_SINK, toSink);
    return toSink
        ? request.toBuilder().streamName(sinkStream).records(entries.get(0)).build()
        : request.toBuilder().records(kept).build();
  }

  @Override
  public SdkResponse modifyResponse(Context.ModifyResponse context, ExecutionAttributes attributes) {
    List<Integer> positions = attributes.getAttribute(POSITIONS);
    if (!(context.response() instanceof PutRecordsResponse response) || positions == null
        || positions.isEmpty()) {
      return context.response();
    }
    boolean toSink = Boolean.TRUE.equals(attributes.getAttribute(TO_SINK));
    List<PutRecordsResultEntry> written = toSink ? List.of() : response.records();
    List<PutRecordsResultEntry> all = new ArrayList<>(written.size() + positions.size());
    int next = 0;
    for (int i = 0; i < written.size() + positions.size(); i++) {
      if (positions.contains(i)) {
        all.add(PutRecordsResultEntry.builder().errorCode(THROTTLED)
            .errorMessage("Rate exceeded for shard (injected by the test)").build());
      } else {
        all.add(written.get(next++));
      }
    }
    int failed = toSink || response.failedRecordCount() == null ? 0 : response.failedRecordCount();
    return response.toBuilder().records(all).failedRecordCount(failed + positions.size()).build();
  }

  /** Returns every call so far, in order. */
  List<Call> calls() {
    return List.copyOf(calls);
  }
}
