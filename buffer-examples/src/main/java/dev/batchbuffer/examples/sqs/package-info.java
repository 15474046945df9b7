/**
 * Amazon SQS through the AWS SDK v2: {@link dev.batchbuffer.examples.sqs.SqsPublisher} sends each
 * batch as one {@code SendMessageBatch} request sized by the SQS preset, answers each message with
 * its message id, and retries only the entries the queue refused for a reason that may pass;
 * {@link dev.batchbuffer.examples.sqs.SqsConnection} holds the endpoint, region and credentials;
 * {@link dev.batchbuffer.examples.sqs.LocalSqs} runs ElasticMQ in-process on 127.0.0.1 for the
 * integration tests and the demo ({@code --backend sqs}).
 */
@NullMarked
package dev.batchbuffer.examples.sqs;

import org.jspecify.annotations.NullMarked;
