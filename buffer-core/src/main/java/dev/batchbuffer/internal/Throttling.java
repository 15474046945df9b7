package dev.batchbuffer.internal;

import java.lang.reflect.Method;
import java.util.Set;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * Recognises throttling errors of the AWS and Google SDKs by class name, so that buffer-core
 * depends on neither. Reflection is used only on exceptions of those SDKs' base classes, and every
 * reflective call is guarded: a missing method or a failing call counts as "not throttling".
 */
public final class Throttling {
  private Throttling() {}

  /** The most exceptions of a cause chain looked at. */
  private static final int MAX_DEPTH = 32;

  /** Simple names of throttling exceptions, in any package (AWS SDK v1 and v2 services). */
  private static final Set<String> SIMPLE_NAMES = Set.of(
      "ProvisionedThroughputExceededException", // Kinesis, DynamoDB
      "ThrottlingException", // DynamoDB, CloudWatch, many JSON services
      "ThrottledException", // SNS
      "TooManyRequestsException", // Lambda, API Gateway
      "RequestLimitExceededException", // DynamoDB
      "RequestLimitExceeded", // EC2 error code used as a class name by some clients
      "RequestThrottledException", // SQS (JSON protocol)
      "LimitExceededException", // Kinesis, KMS
      "KmsThrottlingException", // Kinesis with KMS
      "SlowDownException"); // S3

  /** Fully qualified names of base classes whose state says whether they throttle. */
  private static final String AWS_SERVICE = "software.amazon.awssdk.core.exception.SdkServiceException";
  private static final String GAX_RESOURCE_EXHAUSTED =
      "com.google.api.gax.rpc.ResourceExhaustedException";
  private static final String GRPC_STATUS_RUNTIME = "io.grpc.StatusRuntimeException";
  private static final String GRPC_STATUS = "io.grpc.StatusException";

  /**
   * Returns whether {@code failure} itself (not its causes) is a known throttling error.
   *
   * @param failure the exception
   * @return true if it is one; false also if inspecting it failed
   */
  public static boolean isDefault(Throwable failure) {
    for (Class<?> c = failure.getClass(); c != null && c != Throwable.class;
        c = c.getSuperclass()) {
      String name = c.getName();
      if (SIMPLE_NAMES.contains(c.getSimpleName()) || name.equals(GAX_RESOURCE_EXHAUSTED)) {
        return true;
      }
      if (name.equals(AWS_SERVICE)) {
        return awsThrottling(failure);
      }
      if (name.equals(GRPC_STATUS_RUNTIME) || name.equals(GRPC_STATUS)) {
        return grpcResourceExhausted(failure);
      }
    }
    return false;
  }

  /**
   * Returns whether {@code test} holds for {@code failure} or one of its causes. A predicate that
   * throws (an exception or an error other than a VirtualMachineError) counts as false for that
   * exception; at most {@code MAX_DEPTH} causes are looked at, so
   * a cycle of causes ends.
   *
   * @param failure the exception, or null
   * @param test the predicate
   * @return true if it holds somewhere in the chain
   */
  public static boolean anyInChain(@Nullable Throwable failure, Predicate<Throwable> test) {
    int depth = 0;
    for (Throwable t = failure; t != null && depth < MAX_DEPTH; t = t.getCause(), depth++) {
      try {
        if (test.test(t)) {
          return true;
        }
      } catch (VirtualMachineError e) {
        throw e;
      } catch (Throwable e) { // an Error too (an assertion in the predicate): user code
        // a failing predicate says nothing about throttling
      }
    }
    return false;
  }

  private static boolean awsThrottling(Throwable failure) {
    Object throttling = call(failure, "isThrottlingException");
    if (throttling instanceof Boolean b && b) {
      return true;
    }
    Object status = call(failure, "statusCode");
    return status instanceof Integer code && (code == 429 || code == 503);
  }

  private static boolean grpcResourceExhausted(Throwable failure) {
    Object status = call(failure, "getStatus");
    Object code = status == null ? null : call(status, "getCode");
    return code != null && "RESOURCE_EXHAUSTED".equals(code.toString());
  }

  /** Calls a public no-argument method reflectively; null if that fails in any way. */
  private static @Nullable Object call(Object target, String method) {
    try {
      Method m = target.getClass().getMethod(method);
      return m.invoke(target);
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      return null;
    }
  }
}
