package dev.batchbuffer.examples.sqs;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.sqs.SqsClient;

/**
 * Where and as whom to reach SQS: what a deployment configures, kept out of the code that sends.
 *
 * @param endpoint the endpoint to call instead of the region's (an emulator, a VPC endpoint), or
 *     null for the region's own
 * @param region the region
 * @param credentials the credentials
 * @param requestTimeout the longest one HTTP request may take, connection included
 */
public record SqsConnection(@Nullable URI endpoint, Region region,
    AwsCredentialsProvider credentials, Duration requestTimeout) {

  /**
   * Checks for nulls.
   *
   * @param endpoint the endpoint, or null for the region's
   * @param region the region
   * @param credentials the credentials
   * @param requestTimeout the longest one HTTP request may take
   */
  public SqsConnection {
    Objects.requireNonNull(region, "region must not be null");
    Objects.requireNonNull(credentials, "credentials must not be null");
    Objects.requireNonNull(requestTimeout, "requestTimeout must not be null");
  }

  /**
   * The region's endpoint with the SDK's default credentials chain (environment, profile,
   * container or instance role): what production uses.
   *
   * @param region the region
   * @return the connection
   */
  public static SqsConnection aws(Region region) {
    return new SqsConnection(null, region, DefaultCredentialsProvider.builder().build(),
        Duration.ofSeconds(30));
  }

  /**
   * A local emulator such as ElasticMQ: any region, dummy static credentials.
   *
   * @param endpoint the emulator's URL
   * @return the connection
   */
  public static SqsConnection local(URI endpoint) {
    return new SqsConnection(endpoint, Region.US_EAST_1,
        StaticCredentialsProvider.create(AwsBasicCredentials.create("local", "local")),
        Duration.ofSeconds(10));
  }

  /**
   * Builds a client over the JDK's {@code HttpURLConnection}. The SDK's own retries are off: the
   * publisher retries, entry by entry, and two layers of retries would multiply the attempts. The
   * caller closes the client.
   *
   * @param interceptors interceptors to add (the tests measure each request with one)
   * @return the client
   */
  public SqsClient newClient(List<? extends ExecutionInterceptor> interceptors) {
    var builder = SqsClient.builder()
        .region(region)
        .credentialsProvider(credentials)
        .httpClientBuilder(UrlConnectionHttpClient.builder()
            .connectionTimeout(requestTimeout)
            .socketTimeout(requestTimeout))
        .overrideConfiguration(o -> {
          o.retryStrategy(AwsRetryStrategy.doNotRetry()).apiCallAttemptTimeout(requestTimeout);
          interceptors.forEach(o::addExecutionInterceptor);
        });
    if (endpoint != null) {
      builder.endpointOverride(endpoint);
    }
    return builder.build();
  }
}
