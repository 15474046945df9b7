/**
 * Google Cloud Pub/Sub {@code publish} behind a batchbuffer, over REST with {@code java.net.http}:
 * {@link PubSubPublisher} is the class to copy (one {@code publish} request per batch, sized by
 * {@link dev.batchbuffer.Presets#pubSubPublish}); {@link PubSubSettings} says where and as whom;
 * {@link PubSubRest} does the few admin and pull calls the tests and the demo need;
 * {@link LocalPubSub} starts the Pub/Sub emulator on 127.0.0.1; {@link PubSubBackend} is the demo's
 * {@code --backend pubsub}.
 */
@NullMarked
package dev.batchbuffer.examples.pubsub;

import org.jspecify.annotations.NullMarked;
