package dev.batchbuffer.examples.sqs;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import software.amazon.awssdk.core.SdkRequest;
import software.amazon.awssdk.core.SdkResponse;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttribute;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.services.sqs.model.BatchResultErrorEntry;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequest;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchRequestEntry;
import software.amazon.awssdk.services.sqs.model.SendMessageBatchResponse;

/**
 * Makes the real server refuse chosen entries as throttled, without ever storing them: the entry's
 * body is swapped for {@code "\u0000"}, which ElasticMQ refuses for real (as SQS does), entry by
 * entry, as the sender's fault; the response's failure for that entry is then rewritten to
 * {@code RequestThrottled}, not the sender's fault, which is what SQS answers under load. The
 * other entries of the request go through untouched.
 */
final class EntryThrottler implements ExecutionInterceptor {
  /** The code the refused entries get. */
  static final String CODE = "RequestThrottled";

  private static final ExecutionAttribute<Set<String>> THROTTLED =
      new ExecutionAttribute<>("throttled-entry-ids");

  /** How many more times each body is refused. */
  private final Map<String, Integer> remaining = new ConcurrentHashMap<>();

  /** Refuses the next {@code times} deliveries of {@code body}. */
  void throttle(String body, int times) {
    remaining.put(body, times);
  }

  @Override
  public SdkRequest modifyRequest(Context.ModifyRequest context, ExecutionAttributes attributes) {
    if (!(context.request() instanceof SendMessageBatchRequest request)) {
      return context.request();
    }
    Set<String> throttled = new HashSet<>();
    List<SendMessageBatchRequestEntry> entries = new ArrayList<>();
    for (SendMessageBatchRequestEntry entry : request.entries()) {
      Integer left = remaining.computeIfPresent(entry.messageBody(), (body, n) -> n - 1);
      if (left != null && left >= 0) {
        throttled.add(entry.id());
        entries.add(entry.toBuilder().messageBody("\u0000").build());
      } else {
        entries.add(entry);
      }
    }
    if (throttled.isEmpty()) {
      return request;
    }
    attributes.putAttribute(THROTTLED, throttled);
    return request.toBuilder().entries(entries).build();
  }

  @Override
  public SdkResponse modifyResponse(Context.ModifyResponse context, ExecutionAttributes attributes) {
    Set<String> throttled = attributes.getAttribute(THROTTLED);
    if (throttled == null || !(context.response() instanceof SendMessageBatchResponse response)) {
      return context.response();
    }
    List<BatchResultErrorEntry> failed = new ArrayList<>();
    for (BatchResultErrorEntry e : response.failed()) {
      failed.add(throttled.contains(e.id())
          ? e.toBuilder().code(CODE).message("Rate exceeded (injected)").senderFault(false).build()
          : e);
    }
    return response.toBuilder().failed(failed).build();
  }
}
