/**
 * Amazon Kinesis Data Streams {@code PutRecords} behind a batchbuffer: {@link KinesisPublisher} is
 * the class to copy (one request per batch, sized by
 * {@link dev.batchbuffer.Presets#kinesisPutRecords}, per-record failures retried alone, in order);
 * {@link KinesisSettings} builds the SDK client from configuration; {@link LocalKinesis} starts
 * kinesalite from the module's {@code kinesalite/} npm project on 127.0.0.1 for the tests and the
 * demo; {@link KinesisStreams} creates streams and reads every shard back; {@link KinesisBackend}
 * is the demo's {@code --backend kinesis}.
 */
@NullMarked
package dev.batchbuffer.examples.kinesis;

import org.jspecify.annotations.NullMarked;
