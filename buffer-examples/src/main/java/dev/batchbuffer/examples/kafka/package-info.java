/**
 * Apache Kafka: {@link dev.batchbuffer.examples.kafka.KafkaBatchSink} hands each batch of the buffer
 * to a {@code KafkaProducer} and reports the records that failed by index, and
 * {@link dev.batchbuffer.examples.kafka.LocalKafka} starts a one-node KRaft broker in-process on
 * 127.0.0.1 for the tests and the demo.
 */
@NullMarked
package dev.batchbuffer.examples.kafka;

import org.jspecify.annotations.NullMarked;
