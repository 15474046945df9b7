package dev.batchbuffer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.batchbuffer.Async;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Timeout;

/**
 * The MPSC ring under a real race: producers on their own threads against one consumer that polls
 * and waits as the loop does lose nothing, duplicate nothing and keep each producer's order. Kept
 * apart from {@link ChannelTest} (each behaviour on its own, deterministically, in milliseconds) so
 * that the fast class can run once per mutant in the mutation profile.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ChannelRaceTest {

  @RepeatedTest(20)
  void producersRacingOneConsumerLoseNothingAndKeepTheirOrder() throws Exception {
    int producers = 4;
    int each = 50_000;
    Channel<Long> ch = new Channel<>(37, TimeSource.system());
    List<Long> received = new ArrayList<>(producers * each);
    AtomicLong done = new AtomicLong();
    Thread consumer = Thread.ofVirtual().unstarted(() -> {
      while (received.size() < producers * each) {
        Long e = ch.poll();
        if (e == null) {
          ch.signalProducers();
          ch.await(1, true, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(10));
        } else {
          received.add(e);
        }
      }
      done.set(1);
    });
    ch.bindConsumer(consumer);
    ch.startConsumer();
    Async.Producers threads = new Async.Producers();
    for (int p = 0; p < producers; p++) {
      long base = (long) p << 32;
      threads.start("producer-" + p, () -> {
        for (long i = 0; i < each; i++) {
          assertThat(ch.put(base + i, 0L, false, 0)).isEqualTo(Channel.OK);
        }
      });
    }
    threads.joinAll(Duration.ofSeconds(30));
    assertThat(consumer.join(Duration.ofSeconds(30))).as("the consumer ended").isTrue();
    assertThat(done).hasValue(1);
    long[] next = new long[producers];
    for (long e : received) {
      int p = (int) (e >>> 32);
      assertThat(e & 0xffff_ffffL).as("producer %d order", p).isEqualTo(next[p]);
      next[p]++;
    }
    assertThat(next).containsOnly(each);
  }
}
