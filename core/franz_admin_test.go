package core

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// newTestFranzDriver returns a franz-go driver on brokers, with Config
// changed by modify, closed when the test ends.
func newTestFranzDriver(t *testing.T, brokers []string, modify func(*Config)) *franzDriver {
	t.Helper()
	c := Config{Brokers: brokers, Client: ClientFranzGo}
	if modify != nil {
		modify(&c)
	}
	cfg := new(Config)
	*cfg = c.withDefaults()
	d, err := newFranzDriver(cfg, newAbortableDialer(cfg.DialTimeout), nil)
	require.NoError(t, err)
	t.Cleanup(d.close)
	return d
}

// franzTestClient is a plain kgo client on brokers, for what a test does
// beside the driver, closed when the test ends.
func franzTestClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func franzTestContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A topic another client creates is listed at the next call: listTopics
// does not answer from a cache.
func TestFranzListTopicsSeesNewTopicAtOnce(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	d := newTestFranzDriver(t, b.Brokers(), nil)
	ctx := franzTestContext(t)
	before, err := d.listTopics(ctx)
	require.NoError(t, err)
	assert.NotContains(t, before, "fresh")

	_, err = kadm.NewClient(franzTestClient(t, b.Brokers())).CreateTopic(ctx, 1, 1, nil, "fresh")
	require.NoError(t, err)
	after, err := d.listTopics(ctx)
	require.NoError(t, err)
	assert.Contains(t, after, "fresh")
}

// describeTopic tells a missing topic (nil, no error) from one that
// exists, and createTopic creates it once, with its retention, and
// accepts it existing.
func TestFranzDescribeAndCreateTopic(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	d := newTestFranzDriver(t, b.Brokers(), nil)
	ctx := franzTestContext(t)

	parts, brokers, err := d.describeTopic(ctx, "orders")
	require.NoError(t, err)
	assert.Nil(t, parts, "no such topic")
	assert.Len(t, brokers, 1)

	require.NoError(t, d.createTopic(ctx, "orders", 3, 1, 36*time.Hour))
	require.NoError(t, d.createTopic(ctx, "orders", 5, 1, 0), "existing already is not an error")
	parts, brokers, err = d.describeTopic(ctx, "orders")
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2}, parts, "created once, with its partitions")
	assert.Len(t, brokers, 1)
	assert.Equal(t, "129600000", topicConfig(t, b.Brokers(), "orders", "retention.ms"))

	err = d.createTopic(ctx, "replicated", 1, 3, 0)
	require.Error(t, err, "one broker cannot hold three replicas")
	assert.ErrorContains(t, err, "replication factor 3")
	assert.ErrorContains(t, err, b.Addr())
}

// listOffsets answers each partition's first and end offsets, the first
// offset at or after a time (-1 for none), the last stable offset when
// read committed, and names a partition it cannot list.
func TestFranzListOffsets(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	d := newTestFranzDriver(t, b.Brokers(), nil)
	ctx := franzTestContext(t)
	require.NoError(t, d.createTopic(ctx, "offsets", 2, 1, 0))

	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	cl := franzTestClient(t, b.Brokers(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 3 {
		rec := &kgo.Record{Topic: "offsets", Partition: 0, Value: []byte{byte(i)}, Timestamp: t0.Add(time.Duration(i) * time.Second)}
		require.NoError(t, cl.ProduceSync(ctx, rec).FirstErr())
	}

	got, err := d.listOffsets(ctx, "offsets", []int{0, 1}, false, t0.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, map[int]offsetBounds{0: {first: 0, end: 3, atTime: 1}, 1: {first: 0, end: 0, atTime: -1}}, got)

	got, err = d.listOffsets(ctx, "offsets", []int{0}, false, time.Now())
	require.NoError(t, err)
	assert.Equal(t, offsetBounds{first: 0, end: 3, atTime: -1}, got[0], "no record at or after now")

	got, err = d.listOffsets(ctx, "offsets", []int{0}, false, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, offsetBounds{first: 0, end: 3, atTime: -1}, got[0], "no time asked")

	// Two records in a transaction left open: the high watermark counts
	// them, the last stable offset stops before them.
	txn := franzTestClient(t, b.Brokers(), kgo.TransactionalID("open"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, txn.BeginTransaction())
	for range 2 {
		require.NoError(t, txn.ProduceSync(ctx, &kgo.Record{Topic: "offsets", Partition: 1, Value: []byte("txn")}).FirstErr())
	}
	got, err = d.listOffsets(ctx, "offsets", []int{1}, false, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), got[1].end, "read uncommitted: the high watermark")
	got, err = d.listOffsets(ctx, "offsets", []int{1}, true, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, int64(0), got[1].end, "read committed: the last stable offset")
	require.NoError(t, txn.EndTransaction(ctx, kgo.TryAbort))

	_, err = d.listOffsets(ctx, "offsets", []int{0, 9}, false, time.Time{})
	require.Error(t, err)
	assert.ErrorContains(t, err, "partition 9")
	assert.NotContains(t, err.Error(), "partition 0")
}

// ping answers nil when a broker answers, and otherwise names every
// broker and why, within RequestTimeout even when one never answers.
func TestFranzPing(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	closed := closedAddr(t)
	silent := silentBroker(t)

	d := newTestFranzDriver(t, []string{closed, b.Addr()}, nil)
	require.NoError(t, d.ping(franzTestContext(t)), "the second broker answers")

	const timeout = time.Second
	d = newTestFranzDriver(t, []string{closed, silent}, func(c *Config) { c.RequestTimeout = timeout })
	start := time.Now()
	err := d.ping(context.Background())
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.Less(t, elapsed, timeout+500*time.Millisecond, "bounded by RequestTimeout")
	assert.ErrorContains(t, err, closed)
	assert.ErrorContains(t, err, silent)
	assert.ErrorContains(t, err, "no Kafka broker reachable")
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// silentBroker returns the address of a listener that accepts
// connections and never answers, until the test ends.
func silentBroker(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	var mu sync.Mutex
	var accepting sync.WaitGroup
	accepting.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		accepting.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// The admin client is made at the first call: close is safe before it,
// and twice, and admin calls fail with ErrClosed after it.
func TestFranzAdminClose(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	d := newTestFranzDriver(t, b.Brokers(), nil)
	d.close()
	d.close()
	_, err := d.listTopics(context.Background())
	assert.ErrorIs(t, err, ErrClosed)

	d = newTestFranzDriver(t, b.Brokers(), nil)
	require.NoError(t, d.ping(franzTestContext(t)))
	d.close()
	d.close()
	assert.ErrorIs(t, d.ping(context.Background()), ErrClosed)
}

// A Config with TLS gives options kgo accepts (it refuses DialTLSConfig
// beside a Dialer), and dials TLS over the driver's dialer.
func TestFranzOptionsWithTLS(t *testing.T) {
	d := newTestFranzDriver(t, []string{closedAddr(t)}, func(c *Config) { c.TLS = &tls.Config{MinVersion: tls.VersionTLS12} })
	cl, err := kgo.NewClient(d.options()...)
	require.NoError(t, err)
	cl.Close()

	silent := silentBroker(t)
	dial := dialTLS(newAbortableDialer(time.Second), &tls.Config{MinVersion: tls.VersionTLS12})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = dial(ctx, "tcp", silent)
	require.Error(t, err, "no TLS server there")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the handshake waits no longer than ctx")
	assert.ErrorContains(t, err, silent)
}
