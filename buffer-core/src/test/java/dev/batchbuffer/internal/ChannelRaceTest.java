package dev.batchbuffer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.batchbuffer.Async;
import dev.batchbuffer.TimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The MPSC ring on its own: bound, order per producer, no loss or duplicate, close semantics. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ChannelTest {

  @Test
  void boundIsExactEvenWhenNotAPowerOfTwo() {
    Channel<Integer> ch = new Channel<>(3, TimeSource.system());
    assertThat(ch.tryOffer(1)).isEqualTo(Channel.OK);
    assertThat(ch.tryOffer(2)).isEqualTo(Channel.OK);
    assertThat(ch.tryOffer(3)).isEqualTo(Channel.OK);
    assertThat(ch.tryOffer(4)).isEqualTo(Channel.FULL);
    assertThat(ch.size()).isEqualTo(3);
    assertThat(ch.poll()).isEqualTo(1);
    assertThat(ch.tryOffer(4)).isEqualTo(Channel.OK);
    assertThat(List.of(ch.poll(), ch.poll(), ch.poll())).containsExactly(2, 3, 4);
    assertThat(ch.poll()).isNull();
    assertThat(ch.accepted()).isEqualTo(4);
  }

  @Test
  void closedChannelRefusesOffersAndKeepsWhatItHolds() {
    Channel<Integer> ch = new Channel<>(4, TimeSource.system());
    ch.tryOffer(1);
    assertThat(ch.close()).isTrue();
    assertThat(ch.close()).as("second close").isFalse();
    assertThat(ch.isClosed()).isTrue();
    assertThat(ch.tryOffer(2)).isEqualTo(Channel.CLOSED);
    assertThat(ch.poll()).isEqualTo(1);
    assertThat(ch.poll()).isNull();
  }

  @Test
  void boundOutOfRangeIsRejected() {
    assertThatThrownBy(() -> new Channel<Integer>(0, TimeSource.system()))
        .hasMessage("bound must be in [1, 2^30] (was 0)");
  }

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
