package dev.batchbuffer.examples.kinesis;

import java.net.URI;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.SdkSystemSetting;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kinesis.KinesisClient;

/**
 * Where the Kinesis client connects and as whom: the configuration of {@link KinesisPublisher}.
 *
 * @param endpoint the endpoint, or null for the region's own ({@code kinesis.REGION.amazonaws.com})
 * @param region the region
 * @param credentials who signs the requests
 * @param cbor whether the SDK speaks CBOR to Kinesis (its default, and what AWS serves). kinesalite
 *     understands only JSON: false sets {@link SdkSystemSetting#CBOR_ENABLED} to false before the
 *     client is built. That setting is read from a system property, so it holds for every AWS
 *     client the JVM builds afterwards.
 */
public record KinesisSettings(@Nullable URI endpoint, Region region,
    AwsCredentialsProvider credentials, boolean cbor) {

  /**
   * Checks the fields.
   */
  public KinesisSettings {
    Objects.requireNonNull(region, "region must not be null");
    Objects.requireNonNull(credentials, "credentials must not be null");
  }

  /**
   * Returns the settings for the real service: the region's endpoint, the default credentials
   * chain (environment, profile, instance role), CBOR on.
   *
   * @param region the region
   * @return the settings
   */
  public static KinesisSettings aws(Region region) {
    return new KinesisSettings(null, region, DefaultCredentialsProvider.builder().build(), true);
  }

  /**
   * Returns the settings for a local Kinesis such as kinesalite: that endpoint, dummy static
   * credentials (they are signed with but never checked), JSON instead of CBOR.
   *
   * @param endpoint e.g. {@code http://127.0.0.1:4567}
   * @return the settings
   */
  public static KinesisSettings local(URI endpoint) {
    return new KinesisSettings(Objects.requireNonNull(endpoint, "endpoint must not be null"),
        Region.US_EAST_1,
        StaticCredentialsProvider.create(AwsBasicCredentials.create("local", "local")), false);
  }

  /**
   * Builds a client for these settings on the JDK's HTTP connection ({@code url-connection-client}),
   * with the SDK's own retries off: {@link KinesisPublisher} retries, record by record. Close it
   * when done.
   *
   * @param interceptors added to the client, in order (e.g. to measure the requests sent)
   * @return the client
   */
  public KinesisClient client(List<? extends ExecutionInterceptor> interceptors) {
    if (!cbor) {
      System.setProperty(SdkSystemSetting.CBOR_ENABLED.property(), "false");
    }
    var builder = KinesisClient.builder()
        .region(region)
        .credentialsProvider(credentials)
        .httpClientBuilder(UrlConnectionHttpClient.builder())
        .overrideConfiguration(o -> {
          o.retryStrategy(AwsRetryStrategy.doNotRetry());
          interceptors.forEach(o::addExecutionInterceptor);
        });
    URI e = endpoint;
    if (e != null) {
      builder.endpointOverride(e);
    }
    return builder.build();
  }
}
