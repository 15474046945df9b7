/**
 * Per-item results with {@link dev.batchbuffer.ResultBuffer}: {@link CollapsingLoader} collapses
 * many callers' lookups into one backend call per batch of distinct keys, and {@link SqsSender}
 * answers each message with the id a fake SQS-like batch API gave it, retrying only the entries
 * that failed.
 */
@NullMarked
package dev.batchbuffer.examples.results;

import org.jspecify.annotations.NullMarked;
