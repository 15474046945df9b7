package dev.batchbuffer.examples.file;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Reads a log written by {@link FileLogWriter} and finds where its valid part ends: at the first
 * line that has no {@code '\n'} or whose checksum does not match the record (what a crash in the
 * middle of a write leaves, see {@link FileLogWriter}'s crash-safety note). Recovery is to truncate
 * the file to {@link Contents#validBytes()} before appending again.
 */
public final class FileLogReader {
  private FileLogReader() {}

  /**
   * What a log holds.
   *
   * @param records the valid records, in file order
   * @param validBytes the length of the valid part of the file
   * @param fileBytes the length of the file; more than {@code validBytes} when the tail is torn
   */
  public record Contents(List<String> records, long validBytes, long fileBytes) {

    /**
     * Returns whether the file ends with a torn or damaged part after its valid records.
     *
     * @return true if {@code fileBytes > validBytes}
     */
    public boolean torn() {
      return fileBytes > validBytes;
    }
  }

  /**
   * Reads the whole file into memory and checks every line. For logs that fit in memory, such as
   * the tests' and the demo's; a large log is read the same way in chunks.
   *
   * @param file the log
   * @return its records and where the valid part ends
   * @throws IOException if the file cannot be read
   */
  public static Contents read(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    List<String> records = new ArrayList<>();
    int start = 0;
    while (start < bytes.length) {
      int end = indexOf(bytes, (byte) '\n', start);
      if (end < 0 || !valid(bytes, start, end)) {
        break;
      }
      records.add(new String(bytes, start + 9, end - start - 9, StandardCharsets.UTF_8));
      start = end + 1;
    }
    return new Contents(List.copyOf(records), start, bytes.length);
  }

  private static boolean valid(byte[] bytes, int start, int end) {
    if (end - start < 9 || bytes[start + 8] != ' ') {
      return false;
    }
    int expected;
    try {
      expected = HexFormat.fromHexDigits(new String(bytes, start, 8, StandardCharsets.US_ASCII));
    } catch (IllegalArgumentException e) {
      return false;
    }
    return FileLogWriter.crc(bytes, start + 9, end - start - 9) == expected;
  }

  private static int indexOf(byte[] bytes, byte b, int from) {
    for (int i = from; i < bytes.length; i++) {
      if (bytes[i] == b) {
        return i;
      }
    }
    return -1;
  }
}
