package dev.batchbuffer.examples.pubsub;

/** Writes JSON strings: the few bits of JSON the REST calls send. */
final class Json {
  private Json() {}

  /** Appends {@code s} as a quoted, escaped JSON string. */
  static StringBuilder string(StringBuilder out, String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format(java.util.Locale.ROOT, "\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"');
  }

  /** Returns {@code s} as a quoted, escaped JSON string. */
  static String string(String s) {
    return string(new StringBuilder(s.length() + 2), s).toString();
  }
}
