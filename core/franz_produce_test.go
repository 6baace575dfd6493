package core

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// franzOutcomes records what a produce client reported, per record.
type franzOutcomes struct {
	mu    sync.Mutex
	calls map[*Record]int
	errs  map[*Record]error
	n     int
}

func newFranzOutcomes() *franzOutcomes {
	return &franzOutcomes{calls: map[*Record]int{}, errs: map[*Record]error{}}
}

// complete is the client's completeFunc. It keeps no slice of recs.
func (o *franzOutcomes) complete(recs []*Record, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range recs {
		o.calls[r]++
		o.errs[r] = err
		o.n++
	}
}

// wait waits until n outcomes were reported, failing the test after
// timeout.
func (o *franzOutcomes) wait(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.n >= n
	}, timeout, 5*time.Millisecond, "%d outcomes reported", n)
}

// once asserts that each of recs was reported exactly once, and returns
// their errors.
func (o *franzOutcomes) once(t *testing.T, recs []*Record) []error {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	errs := make([]error, len(recs))
	for i, r := range recs {
		require.Equal(t, 1, o.calls[r], "record %d (%s) reported once", i, r.Value)
		errs[i] = o.errs[r]
	}
	return errs
}

// newTestFranzProducer returns a franz-go produce client on b's brokers,
// with a topic manager on the same driver, and its outcomes.
// The client is closed when the test ends.
func newTestFranzProducer(t *testing.T, brokers []string, modify func(*Config)) (*franzProduceClient, *franzOutcomes) {
	t.Helper()
	d := newTestFranzDriver(t, brokers, modify)
	topics := newTopicManager(d, d.cfg, nil)
	o := newFranzOutcomes()
	pc, err := d.newProduceClient(topics, o.complete)
	require.NoError(t, err)
	c := pc.(*franzProduceClient)
	t.Cleanup(func() { assert.NoError(t, c.close()) })
	return c, o
}

func values(n int, format string) []*Record {
	recs := make([]*Record, n)
	for i := range recs {
		recs[i] = &Record{Value: fmt.Appendf(nil, format, i)}
	}
	return recs
}

// Records are delivered with their partition and offset set, and are in
// the topic there, with their key, headers and time; the topic is made
// with the configured partitions and the record's retention.
func TestFranzProduceDelivers(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	c, o := newTestFranzProducer(t, b.Brokers(), func(c *Config) { c.Partitions = 3 })
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	recs := values(100, "v%03d")
	for i, r := range recs {
		r.Topic = "delivered"
		r.Key = []byte("k" + strconv.Itoa(i%10))
		r.Headers = []Header{{Key: "h", Value: []byte(strconv.Itoa(i))}}
		r.Time = at
		r.produce.retention = time.Hour
	}
	c.send(recs)
	o.wait(t, len(recs), 10*time.Second)
	for i, err := range o.once(t, recs) {
		require.NoError(t, err, "record %d", i)
	}

	msgs := testutil.ReadTopic(t, b.Brokers(), "delivered", len(recs), 10*time.Second)
	at2 := map[[2]int64]kafka.Message{}
	for _, m := range msgs {
		at2[[2]int64{int64(m.Partition), m.Offset}] = m
	}
	for i, r := range recs {
		m, ok := at2[[2]int64{int64(r.Partition), r.Offset}]
		require.True(t, ok, "record %d at partition %d offset %d", i, r.Partition, r.Offset)
		assert.Equal(t, r.Value, m.Value)
		assert.Equal(t, r.Key, m.Key)
		assert.Equal(t, []kafka.Header{{Key: "h", Value: []byte(strconv.Itoa(i))}}, m.Headers)
		assert.True(t, at.Equal(m.Time), "time %v, want %v", m.Time, at)
	}
	assert.Len(t, testutil.Partitions(t, b.Brokers(), "delivered"), 3)
	assert.Equal(t, "3600000", topicConfig(t, b.Brokers(), "delivered", "retention.ms"))
}

// franz-go's partitioner picks, for a key, the partition kafka-go's
// Murmur2Balancer picks (and the Java client, and kafkaesk): switching
// clients keeps every key on its partition.
func TestFranzKeyedPartitioningIsKafkaGoMurmur2(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, 200)
	for i := range keys {
		keys[i] = make([]byte, 1+rng.IntN(40))
		for j := range keys[i] {
			keys[i][j] = byte(rng.Uint32())
		}
	}
	partitions := []int{0, 1, 2, 3, 4, 5, 6}
	balancer := &kafka.Murmur2Balancer{}
	want := func(key []byte) int { return balancer.Balance(kafka.Message{Key: key}, partitions...) }

	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, k := range keys {
		require.Equal(t, want(k), p.Partition(&kgo.Record{Key: k}, len(partitions)), "key %x", k)
	}

	// And the client is configured with it.
	b := kafkaesktest.New(t, nil)
	c, o := newTestFranzProducer(t, b.Brokers(), func(c *Config) { c.Partitions = len(partitions) })
	recs := make([]*Record, len(keys))
	for i, k := range keys {
		recs[i] = &Record{Topic: "keyed", Key: k, Value: []byte("x")}
	}
	c.send(recs)
	o.wait(t, len(recs), 10*time.Second)
	for i, err := range o.once(t, recs) {
		require.NoError(t, err)
		assert.Equal(t, want(keys[i]), recs[i].Partition, "key %x", keys[i])
	}
}

// A record larger than BatchBytes fails at once with ErrMessageTooLarge,
// as not written, and no request carries it.
func TestFranzRecordLargerThanBatchBytesIsNotSent(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	c, o := newTestFranzProducer(t, b.Brokers(), func(c *Config) { c.BatchBytes = 1024 })
	count, stop := b.CountProduce()
	defer stop()
	big := &Record{Topic: "big", Value: make([]byte, 2000)}
	c.send([]*Record{big})
	err := o.once(t, []*Record{big})[0]
	assert.ErrorIs(t, err, ErrMessageTooLarge)
	assert.Equal(t, failure{tooLarge: true}, classify(err))
	assert.ErrorContains(t, err, "BatchBytes 1024")
	assert.Zero(t, count())
	assert.Zero(t, b.HighWatermark("big", 0))
}

// A batch the broker refuses as too large (the topic's max.message.bytes
// is below BatchBytes) is sent again in halves: only the culprit fails.
func TestFranzTooLargeBatchFailsOnlyTheCulprit(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	ctx := franzTestContext(t)
	_, err := kadm.NewClient(franzTestClient(t, b.Brokers())).CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("2048")}, "small")
	require.NoError(t, err)
	c, o := newTestFranzProducer(t, b.Brokers(), func(c *Config) { c.BatchTimeout = 50 * time.Millisecond })
	recs := values(12, "%03d")
	for _, r := range recs {
		r.Topic = "small"
		r.Value = append(r.Value, bytes.Repeat([]byte("."), 300)...)
	}
	culprit := recs[7]
	culprit.Value = append(culprit.Value, bytes.Repeat([]byte("!"), 3000)...)
	c.send(recs)
	o.wait(t, len(recs), 10*time.Second)
	for i, err := range o.once(t, recs) {
		if recs[i] == culprit {
			assert.ErrorIs(t, err, ErrMessageTooLarge)
			assert.Equal(t, failure{tooLarge: true}, classify(err), "final, not written")
			continue
		}
		require.NoError(t, err, "record %d", i)
	}
	msgs := testutil.ReadTopic(t, b.Brokers(), "small", len(recs)-1, 10*time.Second)
	assert.Len(t, msgs, len(recs)-1)
	for i, m := range msgs {
		assert.NotEqual(t, culprit.Value, m.Value, "message %d", i)
	}
	for _, r := range recs {
		if r != culprit {
			assert.Equal(t, r.Value, msgs[r.Offset].Value, "offset %d", r.Offset)
		}
	}
}

// abort while the broker refuses every produce (a pause) makes abort and
// close return at once, and reports each record once, failed and final.
func TestFranzAbortWhilePaused(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	c, o := newTestFranzProducer(t, b.Brokers(), func(c *Config) { c.Partitions = 1 })
	warm := &Record{Topic: "paused", Value: []byte("warm")}
	c.send([]*Record{warm}) // creates the topic, connects, loads the producer id
	o.wait(t, 1, 10*time.Second)

	resume := b.Pause()
	defer resume()
	recs := values(50, "p%02d")
	for _, r := range recs {
		r.Topic = "paused"
	}
	c.send(recs)
	time.Sleep(300 * time.Millisecond) // refused and retried meanwhile
	start := time.Now()
	c.abort()
	require.NoError(t, c.close())
	assert.Less(t, time.Since(start), time.Second)
	written := 0
	for i, err := range o.once(t, recs) {
		require.Error(t, err, "record %d", i)
		assert.False(t, classify(err).retryable, "final: %v", err)
		assert.ErrorIs(t, err, ErrClosed)
		if classify(err).written {
			written++
		}
	}
	assert.Zero(t, written, "the broker answered every request: franz-go failed them at safe points")
	resume()
	assert.Equal(t, int64(1), b.HighWatermark("paused", 0), "only the first record was written")
}

// abort with a produce request the broker holds cannot know whether the
// broker writes it: those records are reported as possibly written, and
// abort and close still return at once.
func TestFranzAbortWithRequestInFlight(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	c, o := newTestFranzProducer(t, b.Brokers(), nil)
	warm := &Record{Topic: "slow", Value: []byte("warm")}
	c.send([]*Record{warm})
	o.wait(t, 1, 10*time.Second)

	restore := b.SlowProduce(time.Hour)
	defer restore()
	recs := values(20, "s%02d")
	for _, r := range recs {
		r.Topic = "slow"
	}
	c.send(recs)
	time.Sleep(200 * time.Millisecond) // the first batch is in flight
	start := time.Now()
	c.abort()
	require.NoError(t, c.close())
	assert.Less(t, time.Since(start), time.Second)
	unknown := 0
	for i, err := range o.once(t, recs) {
		require.Error(t, err, "record %d", i)
		f := classify(err)
		assert.False(t, f.retryable, "final: %v", err)
		if f.written {
			unknown++
		}
	}
	assert.Positive(t, unknown, "the records in flight may have been written")
	t.Logf("abort and close took %v; %d of %d reported possibly written", time.Since(start), unknown, len(recs))
}

// A record franz-go gives up on at DeliveryTimeout fails with
// ErrDeliveryTimeout, final. The idempotent producer fails it only when
// the broker answered every request that carried it: not written.
// Without it (AcksLeader), it may have been written.
func TestFranzDeliveryTimeout(t *testing.T) {
	for _, tc := range []struct {
		acks    Acks
		written bool
	}{{AcksAll, false}, {AcksLeader, true}} {
		t.Run(tc.acks.String(), func(t *testing.T) {
			b := kafkaesktest.New(t, nil)
			c, o := newTestFranzProducer(t, b.Brokers(), func(c *Config) {
				c.RequiredAcks = tc.acks
				c.DeliveryTimeout = time.Second // kgo's least
			})
			warm := &Record{Topic: "late", Value: []byte("warm")}
			c.send([]*Record{warm})
			o.wait(t, 1, 10*time.Second)
			require.NoError(t, o.once(t, []*Record{warm})[0])

			resume := b.Pause()
			defer resume()
			// Its timestamp is an hour old: the DeliveryTimeout counts
			// from acceptance (the deadline the producer sets), not
			// from the record's time, as kgo's own timeout would.
			late := &Record{Topic: "late", Value: []byte("late"), Time: time.Now().Add(-time.Hour)}
			late.produce.deadline = time.Now().Add(time.Second)
			c.send([]*Record{late})
			o.wait(t, 2, 10*time.Second)
			err := o.once(t, []*Record{late})[0]
			assert.ErrorIs(t, err, ErrDeliveryTimeout)
			assert.ErrorContains(t, err, b.Addr())
			assert.Equal(t, failure{written: tc.written}, classify(err))
		})
	}
}

// Nothing is handed over after abort, and close is safe twice.
func TestFranzSendAfterAbortAndCloseTwice(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	c, o := newTestFranzProducer(t, b.Brokers(), nil)
	c.abort()
	r := &Record{Topic: "after", Value: []byte("x")}
	c.send([]*Record{r})
	err := o.once(t, []*Record{r})[0]
	assert.True(t, errors.Is(err, errAborted), "%v", err)
	assert.Equal(t, failure{}, classify(err))
	require.NoError(t, c.close())
	require.NoError(t, c.close())
}

// The hand-over allocates nothing per record on our side: the kgo.Record
// comes from a pool and the promise finds the Record in it.
func BenchmarkFranzSend(b *testing.B) {
	broker := kafkaesktest.New(b, nil)
	cfg := Config{Brokers: broker.Brokers(), Client: ClientFranzGo}.withDefaults()
	d, err := newFranzDriver(&cfg, newAbortableDialer(cfg.DialTimeout), nil)
	require.NoError(b, err)
	defer d.close()
	topics := newTopicManager(d, &cfg, nil)
	var done sync.WaitGroup
	pc, err := d.newProduceClient(topics, func(recs []*Record, err error) {
		for range recs {
			done.Done()
		}
	})
	require.NoError(b, err)
	defer pc.close()
	recs := make([]*Record, 100)
	for i := range recs {
		recs[i] = &Record{Topic: "bench", Value: make([]byte, 100)}
	}
	done.Add(1)
	pc.send(recs[:1])
	done.Wait()
	b.ReportAllocs()
	for b.Loop() {
		done.Add(len(recs))
		pc.send(recs)
		done.Wait()
	}
}

var _ produceClient = (*franzProduceClient)(nil)
