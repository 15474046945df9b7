/**
 * An append-only log file: {@link dev.batchbuffer.examples.file.FileLogWriter} turns each batch into
 * one gathering write and syncs the file on the buffer's periodic hook;
 * {@link dev.batchbuffer.examples.file.FileLogReader} reads it back and detects a torn last line.
 */
@NullMarked
package dev.batchbuffer.examples.file;

import org.jspecify.annotations.NullMarked;
