package dev.batchbuffer.examples.pubsub;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * A Pub/Sub emulator for tests and the demo: the one given by {@code PUBSUB_EMULATOR_HOST}, used as
 * it is; else the emulator jar that Google's Cloud SDK ships
 * ({@code /usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar},
 * or {@code -Dbatchbuffer.pubsub.emulator.jar}) started with this JVM's own {@code java} on
 * 127.0.0.1 and a free port. {@link #close()} kills a started emulator by its pid.
 */
public final class LocalPubSub implements AutoCloseable {
  private static final Path SDK_LIB =
      Path.of("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib");
  private static final String STARTED = "Server started, listening on ";
  private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

  private final @Nullable Process process;
  private final String hostPort;
  private final Duration startupTime;

  private LocalPubSub(@Nullable Process process, String hostPort, Duration startupTime) {
    this.process = process;
    this.hostPort = hostPort;
    this.startupTime = startupTime;
  }

  /**
   * Returns why no emulator can be had here, or empty if one can.
   *
   * @return the reason, for a skipped test's message or the demo's error
   */
  public static Optional<String> unavailable() {
    if (emulatorHost() != null || emulatorJar().isPresent()) {
      return Optional.empty();
    }
    return Optional.of("no Pub/Sub emulator: PUBSUB_EMULATOR_HOST is not set and no "
        + "cloud-pubsub-emulator-*-all.jar is in " + SDK_LIB + " (install the Cloud SDK's "
        + "pubsub-emulator component, or set -Dbatchbuffer.pubsub.emulator.jar=JAR)");
  }

  private static @Nullable String emulatorHost() {
    String host = System.getenv("PUBSUB_EMULATOR_HOST");
    return host == null || host.isBlank() ? null : host.trim();
  }

  static Optional<Path> emulatorJar() {
    String configured = System.getProperty("batchbuffer.pubsub.emulator.jar");
    if (configured != null) {
      return Optional.of(Path.of(configured)).filter(Files::isRegularFile);
    }
    if (!Files.isDirectory(SDK_LIB)) {
      return Optional.empty();
    }
    try (Stream<Path> files = Files.list(SDK_LIB)) {
      return files.filter(f -> {
        String name = f.getFileName().toString();
        return name.startsWith("cloud-pubsub-emulator-") && name.endsWith("-all.jar");
      }).sorted().reduce((a, b) -> b);
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /**
   * Uses {@code PUBSUB_EMULATOR_HOST}, or starts the emulator jar on 127.0.0.1 and waits until it
   * says it is listening.
   *
   * @return the emulator
   * @throws IllegalStateException if there is none ({@link #unavailable()}) or it did not start
   *     within 60 s
   * @throws IOException if the process cannot be started
   * @throws InterruptedException if interrupted while waiting
   */
  public static LocalPubSub start() throws IOException, InterruptedException {
    String host = emulatorHost();
    if (host != null) {
      return new LocalPubSub(null, host, Duration.ZERO);
    }
    Path jar = emulatorJar().orElseThrow(() -> new IllegalStateException(unavailable().orElse("")));
    String java = ProcessHandle.current().info().command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    int port;
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = probe.getLocalPort();
    }
    long t0 = System.nanoTime();
    Process process = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-jar",
        jar.toString(), "--host=127.0.0.1", "--port=" + port)
        .redirectErrorStream(true)
        .start();
    try {
      awaitStarted(process, port);
    } catch (IOException | RuntimeException | InterruptedException e) {
      kill(process);
      throw e;
    }
    return new LocalPubSub(process, "127.0.0.1:" + port, Duration.ofNanos(System.nanoTime() - t0));
  }

  private static void awaitStarted(Process process, int port)
      throws IOException, InterruptedException {
    BufferedReader out = new BufferedReader(
        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    CompletableFuture<Boolean> started = new CompletableFuture<>();
    StringBuilder said = new StringBuilder();
    Thread.ofVirtual().name("pubsub-emulator-output").start(() -> {
      try {
        for (String line = out.readLine(); line != null; line = out.readLine()) {
          if (!started.isDone()) {
            if (line.contains(STARTED + port)) {
              started.complete(true);
            } else if (said.length() < 4_000) {
              synchronized (said) {
                said.append(line).append('\n');
              }
            }
          }
        }
        started.complete(false); // the emulator's output ended: it exited
      } catch (IOException e) {
        started.completeExceptionally(e);
      }
    });
    boolean ok;
    try {
      ok = started.get(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new IllegalStateException("the Pub/Sub emulator did not start within " + START_TIMEOUT,
          e);
    } catch (ExecutionException e) {
      throw new IOException("could not read the Pub/Sub emulator's output", e.getCause());
    }
    if (!ok) {
      synchronized (said) {
        throw new IllegalStateException("the Pub/Sub emulator exited before it listened: " + said);
      }
    }
  }

  /**
   * Returns the settings for this emulator.
   *
   * @param project the project id to use
   * @return {@link PubSubSettings#emulator}
   */
  public PubSubSettings settings(String project) {
    return PubSubSettings.emulator(hostPort, project);
  }

  /**
   * Returns where the emulator listens.
   *
   * @return {@code HOST:PORT}
   */
  public String hostPort() {
    return hostPort;
  }

  /**
   * Returns how long the start took (zero for {@code PUBSUB_EMULATOR_HOST}).
   *
   * @return from {@link #start()} to the emulator listening
   */
  public Duration startupTime() {
    return startupTime;
  }

  /**
   * Returns whether this started the emulator (false: {@code PUBSUB_EMULATOR_HOST} was used).
   *
   * @return true if {@link #close()} kills a process
   */
  public boolean started() {
    return process != null;
  }

  /** Kills the emulator this started, by its pid, and waits for it to end. */
  @Override
  public void close() {
    Process p = process;
    if (p != null) {
      kill(p);
    }
  }

  private static void kill(Process process) {
    ProcessHandle.of(process.pid()).ifPresent(ProcessHandle::destroyForcibly);
    try {
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the Pub/Sub emulator (pid " + process.pid()
            + ") did not die");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
