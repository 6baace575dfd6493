package core_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// These tests run against the embedded broker, or against the cluster in
// KAFKA_BROKERS when it is set; each has its own random topic prefix.

type Foo struct {
	Bar string `json:"bar"`
}

type Unregistered struct {
	N int `json:"n"`
}

type Order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty" jsonschema:"minimum=1"`
}

// newTestApp returns an application on the test's brokers with a random
// topic prefix, closed when the test ends.
func newTestApp(t *testing.T, cfg core.Config) (*core.Application, []string) {
	t.Helper()
	if cfg.Brokers == nil {
		cfg.Brokers = kafkaesktest.Brokers(t)
	}
	cfg.TopicPrefix = kafkaesktest.TopicPrefix(t)
	app, err := core.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, app.Close(ctx))
	})
	return app, cfg.Brokers
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPublishReadBackWithPlainReader(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{})
	core.MustRegister[Foo](app, nil)
	ctx := testContext(t)

	headers := []core.Header{{Key: "foo", Value: []byte("bar")}, {Key: "trace-id", Value: []byte("abc123")}}
	require.NoError(t, app.Publish(ctx, "orders", Foo{Bar: "foo"}, core.Key([]byte("user-1")), core.Headers(headers...)))

	msgs := testutil.ReadTopic(t, brokers, app.Topic("orders"), 1, 20*time.Second)
	m := msgs[0]
	assert.Equal(t, app.Topic("orders"), m.Topic)
	assert.True(t, strings.HasPrefix(m.Topic, app.Config().TopicPrefix), "topic is prefix + stream")
	assert.Equal(t, "user-1", string(m.Key))
	assert.Equal(t, headers, headersOf(m))
	assert.Equal(t, `{"schema":"Foo:1","data":{"bar":"foo"}}`, string(m.Value))
}

func TestPublishSameKeyKeepsOrderOnOnePartition(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{})
	ctx := testContext(t)
	for i := range 20 {
		require.NoError(t, app.Publish(ctx, "keyed", Unregistered{N: i}, core.Key([]byte("same"))))
	}
	msgs := testutil.ReadTopic(t, brokers, app.Topic("keyed"), 20, 20*time.Second)
	for i, m := range msgs {
		assert.Equal(t, msgs[0].Partition, m.Partition, "one key, one partition")
		assert.Equal(t, `{"schema":"Unregistered:1","data":{"n":`+strconv.Itoa(i)+`}}`, string(m.Value))
	}
}

func TestPublishUnregisteredTypeAsTypeNameVersion1(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{})
	ctx := testContext(t)
	require.NoError(t, app.Publish(ctx, "unreg", &Unregistered{N: 7}))
	msgs := testutil.ReadTopic(t, brokers, app.Topic("unreg"), 1, 20*time.Second)
	assert.Equal(t, `{"schema":"Unregistered:1","data":{"n":7}}`, string(msgs[0].Value))
}

func TestRawPublishSendsBytesAsTheyAre(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{})
	ctx := testContext(t)
	// RawPublish creates no topic; create it as a kafkaesk Publish would.
	require.NoError(t, app.EnsureStream(ctx, "raw", 0))
	require.NoError(t, app.RawPublish(ctx, "raw", []byte("1"), core.Key([]byte("k"))))
	require.NoError(t, app.RawPublish(ctx, "raw", []byte("2"), core.Key([]byte("k"))))
	msgs := testutil.ReadTopic(t, brokers, app.Topic("raw"), 2, 20*time.Second)
	assert.Equal(t, "1", string(msgs[0].Value))
	assert.Equal(t, "2", string(msgs[1].Value))
}

// A batch goes out in order, and done hears of each value once.
func TestRawPublishBatchAsyncDeliversEachValueOnce(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{})
	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "batch", 0))
	const n = 2500
	values := make([][]byte, n)
	for i := range values {
		values[i] = []byte(strconv.Itoa(i))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	done := func(value []byte, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			seen["error: "+err.Error()]++
			return
		}
		seen[string(value)]++
	}
	require.NoError(t, app.RawPublishBatchAsync(ctx, "batch", values[:1000], done, core.Key([]byte("k"))))
	require.NoError(t, app.RawPublishBatchAsync(ctx, "batch", values[1000:], done, core.Key([]byte("k"))))
	require.NoError(t, app.Flush(ctx))
	mu.Lock()
	assert.Len(t, seen, n)
	for v, count := range seen {
		assert.Equal(t, 1, count, "value %s", v)
	}
	mu.Unlock()
	msgs := testutil.ReadTopic(t, brokers, app.Topic("batch"), n, 20*time.Second)
	for i, m := range msgs {
		require.Equal(t, strconv.Itoa(i), string(m.Value), "in order on the key's partition")
	}
}

// One value too large for a batch fails alone: the others are
// delivered, and done reports each outcome once.
func TestRawPublishBatchAsyncTooLargeFailsAlone(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{BatchBytes: 1024})
	ctx := testContext(t)
	var mu sync.Mutex
	outcomes := map[int]error{}
	err := app.RawPublishBatchAsync(ctx, "batch", [][]byte{[]byte("a"), make([]byte, 2048), []byte("c")},
		func(v []byte, err error) {
			mu.Lock()
			defer mu.Unlock()
			outcomes[len(v)] = err
		})
	require.NoError(t, err)
	require.NoError(t, app.Flush(ctx))
	mu.Lock()
	require.Len(t, outcomes, 2, "one entry per length: a and c share one")
	assert.NoError(t, outcomes[1])
	var pe *core.PublishError
	require.ErrorAs(t, outcomes[2048], &pe)
	assert.Equal(t, app.Topic("batch"), pe.Topic)
	assert.ErrorIs(t, outcomes[2048], core.ErrMessageTooLarge)
	assert.Contains(t, outcomes[2048].Error(), "message of 2048 bytes is larger than the batch limit")
	mu.Unlock()
	assert.Equal(t, int64(2), testutil.MessageCount(t, brokers, app.Topic("batch")))
	s := app.ProducerStats()
	assert.Equal(t, core.ProducerStats{Accepted: 3, Delivered: 2, Failed: 1, Retried: s.Retried}, s,
		"retries aside: a real broker may answer the first produce to a new topic with a retriable error")

	require.NoError(t, app.Close(ctx))
	assert.ErrorIs(t, app.RawPublishBatchAsync(ctx, "batch", [][]byte{[]byte("a")}, nil), core.ErrClosed)
}

func TestValidationFailureSendsNothing(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{})
	core.MustRegister[Order](app, nil)
	ctx := testContext(t)

	err := app.Publish(ctx, "orders", Order{ID: "o-1", Qty: 0})
	var ve *core.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Order:1", ve.Schema)
	require.Len(t, ve.Problems, 1)
	assert.Equal(t, "/qty", ve.Problems[0].Field)
	assert.Contains(t, err.Error(), "Order:1")
	assert.Contains(t, err.Error(), "field /qty: must be >= 1 but found 0")

	// The failed message never reached the topic: after one valid publish
	// it holds exactly that one.
	require.NoError(t, app.Publish(ctx, "orders", Order{ID: "o-2", Qty: 2}))
	assert.Equal(t, int64(1), testutil.MessageCount(t, brokers, app.Topic("orders")))
	msgs := testutil.ReadTopic(t, brokers, app.Topic("orders"), 1, 20*time.Second)
	assert.Equal(t, `{"schema":"Order:1","data":{"id":"o-2","qty":2}}`, string(msgs[0].Value))
}

func TestSchemaConflictOnMountSendsNothing(t *testing.T) {
	type Foo struct {
		Bar int    `json:"bar"`
		Baz string `json:"baz"`
	}
	app, brokers := newTestApp(t, core.Config{})
	core.MustRegister[Foo](app, &core.SchemaOptions{Streams: []string{"conflict"}})
	ctx := testContext(t)
	require.NoError(t, app.Start(ctx))

	r := core.NewRouter()
	core.MustRegister[Order](r, &core.SchemaOptions{ID: "Foo"})
	err := app.Mount(r)
	var ce *core.SchemaConflictError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "Foo:1")
	assert.Contains(t, err.Error(), "core_test.Foo")
	assert.Contains(t, err.Error(), "core_test.Order")
	assert.Len(t, app.Schemas(), 1, "nothing of the conflicting router is merged")
	assert.Equal(t, int64(0), testutil.MessageCount(t, brokers, app.Topic("conflict")))
}

func TestPublishAsyncFlushAndClose(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{})
	ctx := testContext(t)
	const n = 1000
	var acked, failed atomic.Int64
	for i := range n {
		err := app.PublishAsync(ctx, "async", Unregistered{N: i}, func(err error) {
			if err != nil {
				failed.Add(1)
				return
			}
			acked.Add(1)
		})
		require.NoError(t, err)
	}
	require.NoError(t, app.Flush(ctx))
	assert.Equal(t, int64(n), acked.Load(), "Flush returns after every delivery callback ran")
	assert.Zero(t, failed.Load())
	assert.Equal(t, int64(n), testutil.MessageCount(t, brokers, app.Topic("async")))

	require.NoError(t, app.Close(ctx))
	assert.ErrorIs(t, app.Publish(ctx, "async", Unregistered{}), core.ErrClosed)
	assert.ErrorIs(t, app.RawPublish(ctx, "async", []byte("x")), core.ErrClosed)
	assert.NoError(t, app.Close(ctx), "a second Close returns nil")
}

func TestStartAndStopHooks(t *testing.T) {
	app, _ := newTestApp(t, core.Config{})
	var calls []string
	fail := true
	r := core.NewRouter()
	r.OnStart(func(context.Context) error {
		calls = append(calls, "router start")
		if fail {
			return errors.New("not yet")
		}
		return nil
	})
	r.OnStop(func(context.Context) error { calls = append(calls, "router stop"); return nil })
	app.OnStop(func(context.Context) error { calls = append(calls, "app stop"); return nil })
	require.NoError(t, app.Mount(r))
	ctx := testContext(t)

	err := app.Publish(ctx, "hooks", Foo{})
	require.ErrorContains(t, err, "start hook: not yet", "the first Publish starts the app")
	fail = false
	require.NoError(t, app.Publish(ctx, "hooks", Foo{}), "a failed start is retried")
	require.NoError(t, app.Publish(ctx, "hooks", Foo{}))
	require.NoError(t, app.Close(ctx))
	assert.Equal(t, []string{"router start", "router start", "app stop", "router stop"}, calls)
}

func TestBrokerUnreachableNamesTheAddress(t *testing.T) {
	// Nothing listens on a port we just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	app, err := core.New(core.Config{Brokers: []string{addr}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer app.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err = app.Publish(ctx, "nowhere", Foo{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr, "the error names the broker")
	assert.Less(t, time.Since(start), 4*time.Second, "no hang past the deadline")
}

func TestSilentBrokerReturnsAtTheDeadline(t *testing.T) {
	// A broker that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	})

	app, err := core.New(core.Config{Brokers: []string{l.Addr().String()}, RequestTimeout: 500 * time.Millisecond, DeliveryTimeout: time.Second})
	require.NoError(t, err)
	closeCtx, cancelClose := context.WithTimeout(context.Background(), time.Second)
	defer cancelClose()
	defer app.Close(closeCtx)

	// With a deadline: the deadline bounds the call.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	require.Error(t, app.Publish(ctx, "silent", Foo{}))
	assert.Less(t, time.Since(start), 2*time.Second)

	// Without one: DeliveryTimeout bounds it, retries included.
	start = time.Now()
	err = app.Publish(context.Background(), "silent", Foo{})
	require.Error(t, err)
	assert.ErrorIs(t, err, core.ErrDeliveryTimeout)
	assert.Contains(t, err.Error(), "silent", "the error names the topic")
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestMessageLargerThanBatchBytesIsRefused(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{BatchBytes: 1024})
	ctx := testContext(t)
	err := app.Publish(ctx, "big", Foo{Bar: strings.Repeat("x", 2048)})
	var pe *core.PublishError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, app.Topic("big"), pe.Topic)
	assert.Contains(t, err.Error(), "larger than the batch limit")
	assert.Equal(t, int64(0), testutil.MessageCount(t, brokers, app.Topic("big")))
}

func TestMessageLargerThanTheBrokerAllowsIsRefused(t *testing.T) {
	// The broker's max.message.bytes defaults to 1 MiB on Kafka and kfake.
	app, _ := newTestApp(t, core.Config{BatchBytes: 8 << 20})
	ctx := testContext(t)
	err := app.Publish(ctx, "huge", Foo{Bar: strings.Repeat("x", 2<<20)})
	var pe *core.PublishError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, app.Topic("huge"), pe.Topic)
	assert.ErrorIs(t, err, core.ErrMessageTooLarge)
}

func TestTopicCreationRefusedNamesTheTopic(t *testing.T) {
	app, _ := newTestApp(t, core.Config{ReplicationFactor: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := app.Publish(ctx, "refused", Foo{})
	var te *core.TopicError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, app.Topic("refused"), te.Topic)
	assert.ErrorIs(t, err, core.ErrNotEnoughBrokers, "retried until the deadline: a broker may come back")
	assert.Contains(t, err.Error(), "replication factor 100 needs 100 brokers, and 1 are up")
}

// headersOf converts the headers a plain kafka-go reader returns.
func headersOf(m kafka.Message) []core.Header {
	var h []core.Header
	for _, x := range m.Headers {
		h = append(h, core.Header{Key: x.Key, Value: x.Value})
	}
	return h
}
