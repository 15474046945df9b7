package dev.batchbuffer.examples.kinesis;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * A local Kinesis for tests and the demo: kinesalite (npm, in memory) started from the module's
 * {@code kinesalite/} project ({@code package.json}, {@code package-lock.json}, {@code start.js})
 * as a child {@code node} process on 127.0.0.1 and a free port. {@code npm ci} runs first when
 * {@code node_modules} is missing. {@link #close()} kills the process by its pid; so does the end
 * of this JVM (the script exits when its stdin closes).
 *
 * <p>Needs {@code node} and {@code npm} on the {@code PATH}: {@link #unavailable()} says why not.
 */
public final class LocalKinesis implements AutoCloseable {
  private static final Pattern LISTENING =
      Pattern.compile("kinesalite listening on 127\\.0\\.0\\.1:(\\d+)");
  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration NPM_TIMEOUT = Duration.ofMinutes(5);

  private final Process process;
  private final int port;
  private final Duration startupTime;

  private LocalKinesis(Process process, int port, Duration startupTime) {
    this.process = process;
    this.port = port;
    this.startupTime = startupTime;
  }

  /**
   * Returns why kinesalite cannot start here, or empty if it can: {@code node} or {@code npm}
   * missing from the {@code PATH}, or the {@code kinesalite/} project not found.
   *
   * @return the reason, for a skipped test's message or the demo's error
   */
  public static Optional<String> unavailable() {
    for (String tool : List.of("node", "npm")) {
      if (onPath(tool).isEmpty()) {
        return Optional.of("'" + tool + "' is not on the PATH: the Kinesis example needs Node.js "
            + "and npm to run kinesalite (install Node.js 18 or later)");
      }
    }
    if (projectDir().isEmpty()) {
      return Optional.of("the kinesalite/ npm project (start.js) was not found under "
          + Path.of("").toAbsolutePath() + " (set -Dbatchbuffer.kinesalite.dir=DIR)");
    }
    return Optional.empty();
  }

  /**
   * Installs kinesalite if needed and starts it on 127.0.0.1 and a free port.
   *
   * @return the running server
   * @throws IllegalStateException if it cannot start here ({@link #unavailable()}), or did not
   *     print its port within 30 s
   * @throws IOException if a process cannot be started
   * @throws InterruptedException if interrupted while waiting
   */
  public static LocalKinesis start() throws IOException, InterruptedException {
    Optional<String> why = unavailable();
    if (why.isPresent()) {
      throw new IllegalStateException(why.get());
    }
    Path dir = projectDir().orElseThrow();
    long t0 = System.nanoTime();
    if (!Files.isDirectory(dir.resolve("node_modules").resolve("kinesalite"))) {
      npmCi(dir);
    }
    Process process = new ProcessBuilder(onPath("node").orElseThrow().toString(), "start.js", "0")
        .directory(dir.toFile())
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start();
    try {
      int port = readPort(process);
      return new LocalKinesis(process, port, Duration.ofNanos(System.nanoTime() - t0));
    } catch (IOException | RuntimeException | InterruptedException e) {
      kill(process);
      throw e;
    }
  }

  private static int readPort(Process process) throws IOException, InterruptedException {
    BufferedReader out = new BufferedReader(
        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    CompletableFuture<@Nullable String> line = new CompletableFuture<>();
    Thread.ofVirtual().name("kinesalite-stdout").start(() -> {
      try {
        line.complete(out.readLine());
        while (out.readLine() != null) {
          // keep draining so the child never blocks on a full pipe
        }
      } catch (IOException e) {
        line.completeExceptionally(e);
      }
    });
    String first;
    try {
      first = line.get(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new IllegalStateException("kinesalite printed no port within " + START_TIMEOUT, e);
    } catch (ExecutionException e) {
      throw new IOException("could not read kinesalite's output", e.getCause());
    }
    Matcher m = LISTENING.matcher(first == null ? "" : first);
    if (!m.find()) {
      throw new IllegalStateException("kinesalite did not start: it said '" + first + "'"
          + (process.isAlive() ? "" : " and exited with " + process.exitValue()));
    }
    return Integer.parseInt(m.group(1));
  }

  private static void npmCi(Path dir) throws IOException, InterruptedException {
    Process npm = new ProcessBuilder(onPath("npm").orElseThrow().toString(), "ci", "--no-audit",
        "--no-fund", "--loglevel=error")
        .directory(dir.toFile())
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start();
    if (!npm.waitFor(NPM_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
      kill(npm);
      throw new IllegalStateException("npm ci in " + dir + " took longer than " + NPM_TIMEOUT);
    }
    if (npm.exitValue() != 0) {
      throw new IllegalStateException("npm ci in " + dir + " failed with exit code "
          + npm.exitValue());
    }
  }

  /**
   * Finds the {@code kinesalite/} project: {@code -Dbatchbuffer.kinesalite.dir}, else
   * {@code kinesalite/} or {@code buffer-examples/kinesalite/} under the working directory.
   */
  static Optional<Path> projectDir() {
    List<Path> candidates = new ArrayList<>();
    String configured = System.getProperty("batchbuffer.kinesalite.dir");
    if (configured != null) {
      candidates.add(Path.of(configured));
    }
    candidates.add(Path.of("kinesalite"));
    candidates.add(Path.of("buffer-examples", "kinesalite"));
    return candidates.stream()
        .filter(d -> Files.isRegularFile(d.resolve("start.js")))
        .map(Path::toAbsolutePath)
        .findFirst();
  }

  private static Optional<Path> onPath(String tool) {
    String path = System.getenv("PATH");
    if (path == null) {
      return Optional.empty();
    }
    for (String dir : path.split(File.pathSeparator, -1)) {
      if (dir.isEmpty()) {
        continue;
      }
      Path candidate = Path.of(dir, tool);
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }

  /**
   * Returns the endpoint to give the SDK client.
   *
   * @return {@code http://127.0.0.1:PORT}
   */
  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + port);
  }

  /**
   * Returns how long the start took, {@code npm ci} included when it ran.
   *
   * @return from {@link #start()} to the port printed
   */
  public Duration startupTime() {
    return startupTime;
  }

  /**
   * Returns the pid of the node process.
   *
   * @return the pid
   */
  public long pid() {
    return process.pid();
  }

  /**
   * Returns whether the node process is running.
   *
   * @return true until it is killed or exits
   */
  public boolean isAlive() {
    return process.isAlive();
  }

  /** Kills the node process by its pid and waits for it to end (its streams are in memory). */
  @Override
  public void close() {
    kill(process);
  }

  private static void kill(Process process) {
    ProcessHandle.of(process.pid()).ifPresent(ProcessHandle::destroyForcibly);
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        throw new IllegalStateException("kinesalite (pid " + process.pid() + ") did not die");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
