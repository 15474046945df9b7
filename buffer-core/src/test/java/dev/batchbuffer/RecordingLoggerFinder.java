package dev.batchbuffer;

import java.text.MessageFormat;
import java.util.List;
import java.util.ResourceBundle;
import java.util.concurrent.CopyOnWriteArrayList;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Captures what the library logs through {@link System.Logger} in tests (installed with
 * META-INF/services), so a test can check that a failure left a trace. A test class that counts
 * lines registers {@link Reset} so that each test starts from none: buffer names repeat across
 * repetitions and re-runs in one JVM.
 */
public final class RecordingLoggerFinder extends System.LoggerFinder {
  /** One captured log line. */
  public record Line(String logger, System.Logger.Level level, String message, @Nullable Throwable error) {}

  static final List<Line> LINES = new CopyOnWriteArrayList<>();

  /** Creates the finder; called by the service loader. */
  public RecordingLoggerFinder() {}

  @Override
  public System.Logger getLogger(String name, Module module) {
    return new System.Logger() {
      @Override
      public String getName() {
        return name;
      }

      @Override
      public boolean isLoggable(Level level) {
        return true;
      }

      @Override
      public void log(Level level, @Nullable ResourceBundle bundle, @Nullable String msg,
          @Nullable Throwable thrown) {
        LINES.add(new Line(name, level, String.valueOf(msg), thrown));
      }

      @Override
      public void log(Level level, @Nullable ResourceBundle bundle, @Nullable String format,
          @Nullable Object... params) {
        LINES.add(new Line(name, level, MessageFormat.format(String.valueOf(format), params), null));
      }
    };
  }

  /** Clears the captured lines before each test of the class that registers it. */
  static final class Reset implements BeforeEachCallback {
    /** Creates the extension; called by JUnit. */
    Reset() {}

    @Override
    public void beforeEach(ExtensionContext context) {
      LINES.clear();
    }
  }

  /** Lines whose message contains {@code text}. Public for the tests of other packages. */
  public static List<Line> linesContaining(String text) {
    return LINES.stream().filter(l -> l.message().contains(text)).toList();
  }
}
