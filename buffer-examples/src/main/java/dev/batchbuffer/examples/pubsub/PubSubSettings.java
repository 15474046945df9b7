package dev.batchbuffer.examples.pubsub;

import java.net.URI;
import java.util.Objects;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * Where the publisher sends and as whom: the configuration of {@link PubSubPublisher}.
 *
 * @param endpoint {@code https://pubsub.googleapis.com}, or an emulator's {@code http://HOST:PORT}
 * @param project the Google Cloud project id
 * @param bearerToken supplies an OAuth 2.0 access token for each request (e.g. from Google's auth
 *     library or {@code gcloud auth print-access-token}), or null for the emulator, which needs none
 */
public record PubSubSettings(URI endpoint, String project, @Nullable Supplier<String> bearerToken) {

  /**
   * Checks the fields.
   */
  public PubSubSettings {
    Objects.requireNonNull(endpoint, "endpoint must not be null");
    Objects.requireNonNull(project, "project must not be null");
  }

  /**
   * Returns the settings for the real service.
   *
   * @param project the project id
   * @param bearerToken supplies an access token with the {@code pubsub} scope
   * @return the settings
   */
  public static PubSubSettings google(String project, Supplier<String> bearerToken) {
    return new PubSubSettings(URI.create("https://pubsub.googleapis.com"), project,
        Objects.requireNonNull(bearerToken, "bearerToken must not be null"));
  }

  /**
   * Returns the settings for an emulator.
   *
   * @param hostPort as in {@code PUBSUB_EMULATOR_HOST}, e.g. {@code 127.0.0.1:8085}
   * @param project any project id (the emulator creates what it is asked to)
   * @return the settings
   */
  public static PubSubSettings emulator(String hostPort, String project) {
    return new PubSubSettings(URI.create("http://" + hostPort), project, null);
  }

  /**
   * Returns the URI of a REST method of this project.
   *
   * @param path e.g. {@code topics/orders:publish}
   * @return {@code ENDPOINT/v1/projects/PROJECT/PATH}
   */
  public URI uri(String path) {
    return endpoint.resolve("/v1/projects/" + project + "/" + path);
  }
}
