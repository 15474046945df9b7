package dev.batchbuffer.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.FlushFunc;
import dev.batchbuffer.FlushMiddleware;
import dev.batchbuffer.RetryPolicy;
import dev.batchbuffer.TimeSource;
import dev.batchbuffer.snippets.Backends.Kinesis;
import dev.batchbuffer.snippets.Backends.Reading;
import dev.batchbuffer.testing.ScriptedFlush;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The examples of {@link FlushMiddleware} and {@link RetryPolicy}, run. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FlushMiddlewareSnippetsTest {

  @Test
  void chainOfMiddlewares() throws Exception {
    Kinesis kinesis = new Kinesis();
    RetryPolicy retryPolicy = RetryPolicy.builder().build();
    TimeSource time = TimeSource.system();
    // @start region="chain"
    FlushFunc<Reading> flush = FlushMiddleware.chain(kinesis::putRecords,
        FlushMiddleware.circuitBreaker(5, Duration.ofSeconds(30), false, time), // outermost: stops storms
        FlushMiddleware.retry(retryPolicy, time),                              // retries each batch
        FlushMiddleware.rateLimit(10, 1_000, time),                            // every attempt is paced
        FlushMiddleware.timeout(Duration.ofSeconds(5), time));                 // innermost: per call
    // @end
    List<Reading> batch = List.of(new Reading("device-1", new byte[8]));
    flush.flush(batch);
    assertThat(kinesis.requests).containsExactly(batch);
  }

  @Test
  void aMiddlewareOfYourOwnIsALambda() throws Exception {
    Kinesis kinesis = new Kinesis();
    List<Integer> sizes = new CopyOnWriteArrayList<>();
    // @start region="own"
    FlushMiddleware<Reading> recordSizes = next -> batch -> {
      sizes.add(batch.size());   // before the call
      next.flush(batch);
    };
    FlushFunc<Reading> flush = FlushMiddleware.chain(kinesis::putRecords, recordSizes);
    // @end
    flush.flush(List.of(new Reading("device-1", new byte[8]), new Reading("device-2", new byte[8])));
    assertThat(sizes).containsExactly(2);
    assertThat(kinesis.requests).hasSize(1);
  }

  @Test
  void retryPolicy() {
    // @start region="retry-policy"
    RetryPolicy policy = RetryPolicy.builder()
        .maxAttempts(5)
        .backoff(Duration.ofMillis(100), Duration.ofSeconds(5))   // 100 ms, 200 ms, 400 ms, ... <= 5 s
        .jitter(0.2)                                              // each delay +-20%
        .maxElapsed(Duration.ofSeconds(30))
        .retryOn(e -> !(e instanceof IllegalArgumentException))
        .build();
    // @end
    assertThat(policy.maxAttempts()).isEqualTo(5);
    assertThat(policy.maxElapsedNanos()).isEqualTo(Duration.ofSeconds(30).toNanos());
    assertThat(policy.retries(new IOException("503"))).isTrue();
    assertThat(policy.retries(new IllegalArgumentException("bad batch"))).isFalse();
  }

  @Test
  void aPartialFailureIsJudgedByItsCause() throws Exception {
    TimeSource time = TimeSource.system();
    // @start region="retry-partial"
    RetryPolicy onlyIo = RetryPolicy.builder()
        .backoff(Duration.ofMillis(1), Duration.ofMillis(10))
        .retryOn(e -> e instanceof IOException)   // for a PartialFlushException: tested on its cause
        .build();
    ScriptedFlush<String> backend = ScriptedFlush.<String>builder()
        .failItems(new IOException("throttled"), 1, 2)   // items 1 and 2 fail, with an IOException
        .build();
    FlushFunc<String> flush = FlushMiddleware.chain(backend, FlushMiddleware.retry(onlyIo, time));
    flush.flush(List.of("a", "b", "c"));   // calls: [a, b, c], then the retry of [b, c]
    // @end
    assertThat(backend.calls()).extracting(ScriptedFlush.Call::batch)
        .containsExactly(List.of("a", "b", "c"), List.of("b", "c"));
    assertThat(backend.delivered()).containsExactly("a", "b", "c");
  }
}
