package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// kafkaesk's own acceptance scenarios (tests/acceptance/test_pubsub.py and
// test_healthcheck.py), in Go, plus the subscription rules of issue 4.
// They run against the embedded broker, or against the cluster in
// KAFKA_BROKERS when it is set; each test has its own topic prefix and
// consumer groups.

// accGroup returns a consumer group of the test's own: the topic prefix is
// random per test, so runs against a shared cluster never share a group.
func accGroup(app *core.Application, name string) string {
	return app.Config().TopicPrefix + name
}

// accOnePartition is fastConsumerConfig with one partition per created
// topic, so that the order of what a handler receives is the publish order.
func accOnePartition() core.Config {
	cfg := fastConsumerConfig()
	cfg.Partitions = 1
	return cfg
}

// accSecondApp returns another application with cfg (the same brokers and
// topic prefix as the first), closed when the test ends.
func accSecondApp(t *testing.T, cfg core.Config) *core.Application {
	t.Helper()
	app, err := core.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, app.Close(ctx))
	})
	return app
}

func accPublish(t *testing.T, app *core.Application, stream string, bars ...string) {
	t.Helper()
	ctx := testContext(t)
	for _, bar := range bars {
		require.NoError(t, app.Publish(ctx, stream, Foo{Bar: bar}))
	}
}

func accSeq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

// accCommitted returns the offsets group committed on each partition of
// topic, as the broker has them: -1 for a partition with none.
func accCommitted(t *testing.T, brokers []string, group, topic string) map[int]int64 {
	t.Helper()
	partitions := testutil.Partitions(t, brokers, topic)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: partitions}})
	require.NoError(t, err)
	require.NoError(t, resp.Error)
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		require.NoError(t, p.Error, "partition %d", p.Partition)
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// accNoCommits returns, for every partition of topic, the "no committed
// offset" answer -1.
func accNoCommits(t *testing.T, brokers []string, topic string) map[int]int64 {
	out := map[int]int64{}
	for _, p := range testutil.Partitions(t, brokers, topic) {
		out[p] = -1
	}
	return out
}

// accTopicExists lists every topic of the cluster (a request that creates
// none) and reports whether topic is among them.
func accTopicExists(t *testing.T, brokers []string, topic string) bool {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{}) // nil topics: all of them
	require.NoError(t, err)
	for _, tp := range md.Topics {
		if tp.Name == topic {
			return true
		}
	}
	return false
}

// accCalls records, in order, what happened across goroutines.
type accCalls struct {
	mu    sync.Mutex
	calls []string
}

func (c *accCalls) add(s string) {
	c.mu.Lock()
	c.calls = append(c.calls, s)
	c.mu.Unlock()
}

func (c *accCalls) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// accLogs captures an application's log records (Info and above).
type accLogs struct {
	mu   sync.Mutex
	recs []accLogRecord
}

type accLogRecord struct {
	Time  time.Time
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func (l *accLogs) logger() *slog.Logger { return slog.New(&accLogHandler{logs: l}) }

// find returns the records with message msg whose attributes hold every
// key=value of attrs.
func (l *accLogs) find(msg string, attrs map[string]string) []accLogRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []accLogRecord
next:
	for _, r := range l.recs {
		if r.Msg != msg {
			continue
		}
		for k, v := range attrs {
			if r.Attrs[k] != v {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// waitFor waits for a record with message msg whose attribute key
// contains sub, and returns the first.
func (l *accLogs) waitFor(t *testing.T, msg, key, sub string, timeout time.Duration) accLogRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, r := range l.find(msg, nil) {
			if strings.Contains(r.Attrs[key], sub) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log %q with %s containing %q in %v", msg, key, sub, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type accLogHandler struct {
	logs  *accLogs
	attrs []slog.Attr
}

func (h *accLogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo
}

func (h *accLogHandler) Handle(_ context.Context, r slog.Record) error {
	rec := accLogRecord{Time: r.Time, Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.Resolve().String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	h.logs.mu.Lock()
	h.logs.recs = append(h.logs.recs, rec)
	h.logs.mu.Unlock()
	return nil
}

func (h *accLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &accLogHandler{logs: h.logs, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *accLogHandler) WithGroup(string) slog.Handler { return h }

// test_data_binding: a handler gets the data, the schema, the record and
// the application of one message.
func TestDataBindingGivesTheHandlerDataSchemaRecordAndApp(t *testing.T) {
	app, _ := newTestApp(t, accOnePartition())
	core.MustRegister[Foo](app, nil)
	group := accGroup(app, "binding")
	type seen struct {
		data   Foo
		schema string
		rec    core.Record
		app    *core.Application
		sub    *core.Subscription
	}
	got := newCollector[seen]()
	sub, err := core.Subscribe(app, "foo.bar", group, func(ctx context.Context, m *core.Message[Foo]) error {
		got.add(seen{data: m.Data, schema: m.Schema, rec: *m.Record, app: m.App, sub: m.Subscription})
		return nil
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, group, sub.Group)
	assert.Equal(t, "foo.bar", sub.Pattern)
	assert.Nil(t, sub.Streams)
	assert.Equal(t, []*core.Subscription{sub}, app.Subscriptions())

	ctx := testContext(t)
	headers := []core.Header{{Key: "trace-id", Value: []byte("abc123")}, {Key: "foo", Value: []byte("bar")}}
	before := time.Now()
	require.NoError(t, app.Publish(ctx, "foo.bar", Foo{Bar: "baz"}, core.Key([]byte("user-1")), core.Headers(headers...)))
	run := startRun(t, app)

	s := got.waitFor(t, 1, 15*time.Second)[0]
	assert.Equal(t, Foo{Bar: "baz"}, s.data)
	assert.Equal(t, "Foo:1", s.schema)
	assert.Equal(t, app.Topic("foo.bar"), s.rec.Topic)
	assert.Equal(t, 0, s.rec.Partition)
	assert.Equal(t, int64(0), s.rec.Offset)
	assert.Equal(t, "user-1", string(s.rec.Key))
	assert.Equal(t, headers, s.rec.Headers)
	assert.Equal(t, `{"schema":"Foo:1","data":{"bar":"baz"}}`, string(s.rec.Value))
	assert.WithinDuration(t, before, s.rec.Time, time.Minute, "the record's timestamp")
	assert.Same(t, app, s.app)
	assert.Same(t, sub, s.sub)

	require.NoError(t, run.stop(t))
	assert.Len(t, got.items(), 1)
	assert.Equal(t, core.SubscriptionStats{Handled: 1}, sub.Stats())
}

// test_consume_many_messages: the consumer starts first, 10 messages are
// published, and exactly those 10 are consumed, once each.
func TestTenPublishedAreTenConsumed(t *testing.T) {
	app, brokers := newTestApp(t, fastConsumerConfig()) // 7 partitions, as kafkaesk
	group := accGroup(app, "ten")
	got := newCollector[string]()
	sub, err := core.Subscribe(app, "foo.bar", group, func(ctx context.Context, m *core.Message[Foo]) error {
		got.add(m.Data.Bar)
		return nil
	}, nil)
	require.NoError(t, err)
	require.NoError(t, app.EnsureStream(testContext(t), "foo.bar", 0))
	run := startRun(t, app)
	accPublish(t, app, "foo.bar", accSeq("m", 0, 10)...)

	assert.ElementsMatch(t, accSeq("m", 0, 10), got.waitFor(t, 10, 15*time.Second))
	require.NoError(t, run.stop(t))
	assert.ElementsMatch(t, accSeq("m", 0, 10), got.items(), "each once")
	assert.Equal(t, core.SubscriptionStats{Handled: 10}, sub.Stats())

	var committed int64
	for _, off := range accCommitted(t, brokers, group, app.Topic("foo.bar")) {
		committed += max(off, 0)
	}
	assert.Equal(t, int64(10), committed, "a stop commits everything handled")
}

// test_not_consume_message_that_does_not_match: the exact stream foo.bar
// gets nothing from foo.bar1, while the pattern foo.bar* reads both.
func TestExactStreamDoesNotReceiveFromLongerName(t *testing.T) {
	cfg := accOnePartition()
	logs := &accLogs{}
	cfg.Logger = logs.logger()
	app, _ := newTestApp(t, cfg)
	type got struct{ topic, bar string }
	exact, pattern := newCollector[got](), newCollector[got]()
	_, err := core.Subscribe(app, "foo.bar", accGroup(app, "exact"), func(ctx context.Context, m *core.Message[Foo]) error {
		exact.add(got{m.Record.Topic, m.Data.Bar})
		return nil
	}, nil)
	require.NoError(t, err)
	_, err = core.Subscribe(app, "foo.bar*", accGroup(app, "pattern"), func(ctx context.Context, m *core.Message[Foo]) error {
		pattern.add(got{m.Record.Topic, m.Data.Bar})
		return nil
	}, nil)
	require.NoError(t, err)
	// Both topics exist before the subscriptions start.
	accPublish(t, app, "foo.bar1", "longer-1", "longer-2")
	accPublish(t, app, "foo.bar", "exact-1")
	run := startRun(t, app)

	assert.ElementsMatch(t, []got{
		{app.Topic("foo.bar1"), "longer-1"}, {app.Topic("foo.bar1"), "longer-2"}, {app.Topic("foo.bar"), "exact-1"},
	}, pattern.waitFor(t, 3, 15*time.Second))
	assert.Equal(t, []got{{app.Topic("foo.bar"), "exact-1"}}, exact.waitFor(t, 1, 15*time.Second))
	accPublish(t, app, "foo.bar1", "longer-3")
	accPublish(t, app, "foo.bar", "exact-2")
	assert.Equal(t, []got{{app.Topic("foo.bar"), "exact-1"}, {app.Topic("foo.bar"), "exact-2"}}, exact.waitFor(t, 2, 15*time.Second))
	pattern.waitFor(t, 5, 15*time.Second)
	require.NoError(t, run.stop(t))
	assert.Equal(t, []got{{app.Topic("foo.bar"), "exact-1"}, {app.Topic("foo.bar"), "exact-2"}}, exact.items())

	// The exact subscription only ever consumed foo.bar.
	consuming := logs.find("kafkaesk: consuming", map[string]string{"group": accGroup(app, "exact")})
	require.NotEmpty(t, consuming)
	for _, r := range consuming {
		assert.Equal(t, "["+app.Topic("foo.bar")+"]", r.Attrs["matched"])
	}
}

// Foo version 1 and version 2: two Go types under one schema id, with
// different required fields.
type accFooV1 struct {
	Bar string `json:"bar"`
}

type accFooV2 struct {
	Baz   string `json:"baz"`
	Count int    `json:"count"`
}

// test_multiple_subscribers_different_models: two groups on one stream,
// one with Foo v1 and one with Foo v2; each handler only ever receives its
// own model, and the other's messages are skipped.
func TestTwoGroupsWithTwoModelVersions(t *testing.T) {
	app, _ := newTestApp(t, accOnePartition())
	core.MustRegister[accFooV1](app, &core.SchemaOptions{ID: "Foo", Version: 1})
	core.MustRegister[accFooV2](app, &core.SchemaOptions{ID: "Foo", Version: 2})
	type got struct {
		schema string
		data   any
	}
	v1, v2 := newCollector[got](), newCollector[got]()
	sub1, err := core.Subscribe(app, "foo", accGroup(app, "v1"), func(ctx context.Context, m *core.Message[accFooV1]) error {
		v1.add(got{m.Schema, m.Data})
		return nil
	}, nil)
	require.NoError(t, err)
	sub2, err := core.Subscribe(app, "foo", accGroup(app, "v2"), func(ctx context.Context, m *core.Message[accFooV2]) error {
		v2.add(got{m.Schema, m.Data})
		return nil
	}, nil)
	require.NoError(t, err)

	ctx := testContext(t)
	require.NoError(t, app.Publish(ctx, "foo", accFooV1{Bar: "a"}))
	require.NoError(t, app.Publish(ctx, "foo", accFooV2{Baz: "b", Count: 1}))
	require.NoError(t, app.Publish(ctx, "foo", accFooV2{Baz: "c", Count: 2}))
	require.NoError(t, app.Publish(ctx, "foo", accFooV1{Bar: "d"}))
	require.NoError(t, app.Publish(ctx, "foo", accFooV1{Bar: "e"}))
	require.NoError(t, app.Publish(ctx, "foo", accFooV2{Baz: "f", Count: 3}))
	run := startRun(t, app)

	assert.Equal(t, []got{{"Foo:1", accFooV1{Bar: "a"}}, {"Foo:1", accFooV1{Bar: "d"}}, {"Foo:1", accFooV1{Bar: "e"}}},
		v1.waitFor(t, 3, 15*time.Second))
	assert.Equal(t, []got{{"Foo:2", accFooV2{Baz: "b", Count: 1}}, {"Foo:2", accFooV2{Baz: "c", Count: 2}}, {"Foo:2", accFooV2{Baz: "f", Count: 3}}},
		v2.waitFor(t, 3, 15*time.Second))
	// The last message of each is the other's: wait until it was skipped.
	require.Eventually(t, func() bool {
		return sub1.Stats() == core.SubscriptionStats{Handled: 3, Skipped: 3} && sub2.Stats() == core.SubscriptionStats{Handled: 3, Skipped: 3}
	}, 10*time.Second, 20*time.Millisecond, "v1 %+v, v2 %+v", sub1.Stats(), sub2.Stats())
	require.NoError(t, run.stop(t))
	assert.Len(t, v1.items(), 3)
	assert.Len(t, v2.items(), 3)
}

// test_subscribe_diff_data_types and test_raw_publish_data: a []byte
// handler gets the value as it is, a Record handler the record, an
// Envelope handler the parsed envelope and a map handler (kafkaesk's
// unannotated handler) the whole envelope as a mapping. A value that is
// not an envelope reaches the first two and is skipped by the others.
func TestBytesRecordEnvelopeAndMapHandlers(t *testing.T) {
	app, _ := newTestApp(t, accOnePartition())
	core.MustRegister[Foo](app, nil)
	type got[T any] struct {
		data   T
		schema string
		offset int64
	}
	bytesGot := newCollector[got[string]]()
	recordGot := newCollector[got[core.Record]]()
	envelopeGot := newCollector[got[core.Envelope]]()
	mapGot := newCollector[got[map[string]any]]()

	bytesSub, err := core.Subscribe(app, "types", accGroup(app, "bytes"), func(ctx context.Context, m *core.Message[[]byte]) error {
		bytesGot.add(got[string]{string(m.Data), m.Schema, m.Record.Offset})
		return nil
	}, nil)
	require.NoError(t, err)
	recordSub, err := core.Subscribe(app, "types", accGroup(app, "record"), func(ctx context.Context, m *core.Message[core.Record]) error {
		recordGot.add(got[core.Record]{m.Data, m.Schema, m.Record.Offset})
		return nil
	}, nil)
	require.NoError(t, err)
	envelopeSub, err := core.Subscribe(app, "types", accGroup(app, "envelope"), func(ctx context.Context, m *core.Message[core.Envelope]) error {
		envelopeGot.add(got[core.Envelope]{m.Data, m.Schema, m.Record.Offset})
		return nil
	}, nil)
	require.NoError(t, err)
	mapSub, err := core.Subscribe(app, "types", accGroup(app, "map"), func(ctx context.Context, m *core.Message[map[string]any]) error {
		mapGot.add(got[map[string]any]{m.Data, m.Schema, m.Record.Offset})
		return nil
	}, nil)
	require.NoError(t, err)

	ctx := testContext(t)
	headers := []core.Header{{Key: "h", Value: []byte("v")}}
	require.NoError(t, app.Publish(ctx, "types", Foo{Bar: "x"}, core.Key([]byte("k")), core.Headers(headers...)))
	require.NoError(t, app.RawPublish(ctx, "types", []byte("1")))
	require.NoError(t, app.Publish(ctx, "types", Foo{Bar: "y"}))
	run := startRun(t, app)

	const x, y = `{"schema":"Foo:1","data":{"bar":"x"}}`, `{"schema":"Foo:1","data":{"bar":"y"}}`
	assert.Equal(t, []got[string]{{x, "", 0}, {"1", "", 1}, {y, "", 2}}, bytesGot.waitFor(t, 3, 15*time.Second))

	recs := recordGot.waitFor(t, 3, 15*time.Second)
	for i, want := range []string{x, "1", y} {
		assert.Equal(t, want, string(recs[i].data.Value))
		assert.Equal(t, int64(i), recs[i].data.Offset)
		assert.Equal(t, int64(i), recs[i].offset)
		assert.Equal(t, app.Topic("types"), recs[i].data.Topic)
		assert.Equal(t, 0, recs[i].data.Partition)
		assert.Equal(t, "", recs[i].schema)
	}
	assert.Equal(t, "k", string(recs[0].data.Key))
	assert.Equal(t, headers, recs[0].data.Headers)

	envs := envelopeGot.waitFor(t, 2, 15*time.Second)
	assert.Equal(t, []got[core.Envelope]{
		{core.Envelope{Schema: "Foo:1", Data: []byte(`{"bar":"x"}`)}, "Foo:1", 0},
		{core.Envelope{Schema: "Foo:1", Data: []byte(`{"bar":"y"}`)}, "Foo:1", 2},
	}, envs)

	maps := mapGot.waitFor(t, 2, 15*time.Second)
	assert.Equal(t, []got[map[string]any]{
		{map[string]any{"schema": "Foo:1", "data": map[string]any{"bar": "x"}}, "Foo:1", 0},
		{map[string]any{"schema": "Foo:1", "data": map[string]any{"bar": "y"}}, "Foo:1", 2},
	}, maps)

	require.Eventually(t, func() bool {
		return bytesSub.Stats().Handled == 3 && recordSub.Stats().Handled == 3 &&
			envelopeSub.Stats().Handled == 2 && mapSub.Stats().Handled == 2
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, run.stop(t))
	assert.Equal(t, core.SubscriptionStats{Handled: 3}, bytesSub.Stats())
	assert.Equal(t, core.SubscriptionStats{Handled: 3}, recordSub.Stats())
	assert.Equal(t, core.SubscriptionStats{Handled: 2, Skipped: 1}, envelopeSub.Stats(), `"1" is not an envelope`)
	assert.Equal(t, core.SubscriptionStats{Handled: 2, Skipped: 1}, mapSub.Stats(), `"1" is not an envelope`)
}

// test_subscribe_to_topic_that_does_not_exist: the subscription waits
// for its topic without creating it; the publisher creates it, and the 10
// messages are consumed.
func TestSubscribeBeforeTopicExists(t *testing.T) {
	app, brokers := newTestApp(t, accOnePartition())
	const interval = 300 * time.Millisecond
	got := newCollector[string]()
	sub, err := core.Subscribe(app, "later", accGroup(app, "later"), func(ctx context.Context, m *core.Message[Foo]) error {
		got.add(m.Data.Bar)
		return nil
	}, &core.SubscribeOptions{DiscoveryInterval: interval})
	require.NoError(t, err)
	run := startRun(t, app)
	require.Eventually(t, func() bool { return app.HealthCheck() == nil }, 5*time.Second, 10*time.Millisecond)

	time.Sleep(4 * interval) // several discovery rounds
	assert.False(t, accTopicExists(t, brokers, app.Topic("later")), "subscribers never create topics")
	assert.True(t, sub.Running(), "a subscription waiting for its topic is running")
	assert.NoError(t, app.HealthCheck())
	assert.Empty(t, got.items())

	accPublish(t, app, "later", accSeq("m", 0, 10)...)
	assert.Equal(t, accSeq("m", 0, 10), got.waitFor(t, 10, 15*time.Second))
	require.NoError(t, run.stop(t))
	assert.Equal(t, accSeq("m", 0, 10), got.items())
	assert.Equal(t, core.SubscriptionStats{Handled: 10}, sub.Stats())
}

// test_subscribe_to_topic_that_already_has_messages_for_group: a new
// group starts from the earliest offset: 10 messages published before it
// starts and 10 after are 20 consumed.
func TestNewGroupReadsFromEarliest(t *testing.T) {
	app, brokers := newTestApp(t, accOnePartition())
	group := accGroup(app, "earliest")
	accPublish(t, app, "foo.bar", accSeq("before-", 0, 10)...)
	got := newCollector[string]()
	sub, err := core.Subscribe(app, "foo.bar", group, func(ctx context.Context, m *core.Message[Foo]) error {
		got.add(m.Data.Bar)
		return nil
	}, nil)
	require.NoError(t, err)
	run := startRun(t, app)
	assert.Equal(t, accSeq("before-", 0, 10), got.waitFor(t, 10, 15*time.Second))
	accPublish(t, app, "foo.bar", accSeq("after-", 0, 10)...)
	want := append(accSeq("before-", 0, 10), accSeq("after-", 0, 10)...)
	assert.Equal(t, want, got.waitFor(t, 20, 15*time.Second))
	require.NoError(t, run.stop(t))
	assert.Equal(t, want, got.items())
	assert.Equal(t, core.SubscriptionStats{Handled: 20}, sub.Stats())
	assert.Equal(t, map[int]int64{0: 20}, accCommitted(t, brokers, group, app.Topic("foo.bar")))
}

// test_subscription_failure: a failing handler stops Run with a
// *HandlerError and commits nothing; a fixed handler in the same group
// then receives every message again, and a new one.
func TestFailingHandlerCommitsNothingAndFixedHandlerGetsEverything(t *testing.T) {
	cfg := accOnePartition()
	app, brokers := newTestApp(t, cfg)
	core.MustRegister[Foo](app, nil)
	group := accGroup(app, "failure")
	topic := app.Topic("fail")
	boom := errors.New("boom")
	var calls accCalls
	sub, err := core.Subscribe(app, "fail", group, func(ctx context.Context, m *core.Message[Foo]) error {
		calls.add("error " + m.Data.Bar)
		return boom
	}, nil)
	require.NoError(t, err)
	accPublish(t, app, "fail", "1", "2")

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = app.Run(ctx)
	require.NoError(t, ctx.Err(), "Run returned because the handler failed, not at the deadline")
	var he *core.HandlerError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, group, he.Group)
	assert.Equal(t, topic, he.Topic)
	assert.Equal(t, 0, he.Partition)
	assert.Equal(t, int64(0), he.Offset)
	assert.ErrorIs(t, err, boom)
	assert.EqualError(t, err, fmt.Sprintf("kafkaesk: group %s: handler failed on %s/0 at offset 0: boom", group, topic))
	assert.Equal(t, []string{"error 1"}, calls.get(), "nothing past the failed message is handled")
	assert.Equal(t, core.SubscriptionStats{}, sub.Stats())
	assert.False(t, sub.Running())
	assert.Equal(t, accNoCommits(t, brokers, topic), accCommitted(t, brokers, group, topic), "the failure committed nothing")

	// The fixed handler, in the same group.
	fixed := accSecondApp(t, app.Config())
	core.MustRegister[Foo](fixed, nil)
	got := newCollector[string]()
	sub2, err := core.Subscribe(fixed, "fail", group, func(ctx context.Context, m *core.Message[Foo]) error {
		calls.add("ok " + m.Data.Bar)
		got.add(fmt.Sprintf("%s@%d", m.Data.Bar, m.Record.Offset))
		return nil
	}, nil)
	require.NoError(t, err)
	run := startRun(t, fixed)
	accPublish(t, fixed, "fail", "3")
	assert.Equal(t, []string{"1@0", "2@1", "3@2"}, got.waitFor(t, 3, 15*time.Second))
	require.NoError(t, run.stop(t))
	assert.Equal(t, []string{"error 1", "ok 1", "ok 2", "ok 3"}, calls.get())
	assert.Equal(t, core.SubscriptionStats{Handled: 3}, sub2.Stats())
	assert.Equal(t, map[int]int64{0: 3}, accCommitted(t, brokers, group, topic))
}

// A pattern picks up a topic created after Run started, within a few
// discovery intervals: first when nothing matched yet, then while it
// consumes another topic, which it goes on consuming.
func TestPatternPicksUpTopicCreatedAfterStart(t *testing.T) {
	cfg := accOnePartition()
	logs := &accLogs{}
	cfg.Logger = logs.logger()
	app, brokers := newTestApp(t, cfg)
	const interval = 300 * time.Millisecond
	const discoveryBound = 5 * interval
	group := accGroup(app, "pattern")
	got := newCollector[string]()
	sub, err := core.Subscribe(app, "orders.*", group, func(ctx context.Context, m *core.Message[Foo]) error {
		got.add(strings.TrimPrefix(m.Record.Topic, app.Config().TopicPrefix) + ":" + m.Data.Bar)
		return nil
	}, &core.SubscribeOptions{DiscoveryInterval: interval})
	require.NoError(t, err)
	accPublish(t, app, "orders", "no-dot")        // does not match orders.*
	accPublish(t, app, "payments.eu", "payments") // nor does this
	run := startRun(t, app)
	time.Sleep(3 * interval)
	assert.Empty(t, got.items())
	assert.True(t, sub.Running(), "waiting for a matching topic")

	// The first matching topic. Publish creates it and returns after the
	// acknowledgement; the bound runs from before the creation.
	published := time.Now()
	accPublish(t, app, "orders.eu", "eu-1")
	found := logs.waitFor(t, "kafkaesk: consuming", "matched", app.Topic("orders.eu"), 10*time.Second)
	assert.Less(t, found.Time.Sub(published), discoveryBound, "orders.eu found within a few discovery intervals")
	assert.Equal(t, []string{"orders.eu:eu-1"}, got.waitFor(t, 1, 10*time.Second))
	t.Logf("orders.eu: found after %v, first message after %v", found.Time.Sub(published), time.Since(published))

	// A second one while the first is consumed.
	published = time.Now()
	accPublish(t, app, "orders.us.west", "us-1")
	changed := logs.waitFor(t, "kafkaesk: matched topics changed", "now", app.Topic("orders.us.west"), 10*time.Second)
	assert.Less(t, changed.Time.Sub(published), discoveryBound, "orders.us.west found within a few discovery intervals")
	assert.Equal(t, []string{"orders.eu:eu-1", "orders.us.west:us-1"}, got.waitFor(t, 2, 10*time.Second))
	t.Logf("orders.us.west: found after %v, first message after %v", changed.Time.Sub(published), time.Since(published))

	// The first topic goes on being consumed, without redelivery.
	accPublish(t, app, "orders.eu", "eu-2")
	assert.Equal(t, []string{"orders.eu:eu-1", "orders.us.west:us-1", "orders.eu:eu-2"}, got.waitFor(t, 3, 10*time.Second))
	require.NoError(t, run.stop(t))
	assert.Equal(t, []string{"orders.eu:eu-1", "orders.us.west:us-1", "orders.eu:eu-2"}, got.items())
	assert.Equal(t, core.SubscriptionStats{Handled: 3}, sub.Stats())
	assert.Equal(t, map[int]int64{0: 2}, accCommitted(t, brokers, group, app.Topic("orders.eu")))
	assert.Equal(t, map[int]int64{0: 1}, accCommitted(t, brokers, group, app.Topic("orders.us.west")))
}

// A list of streams consumes those that exist and picks up a missing one
// once it is created; nothing else is read.
func TestStreamsListPicksUpAMissingStreamLater(t *testing.T) {
	app, brokers := newTestApp(t, accOnePartition())
	const interval = 300 * time.Millisecond
	group := accGroup(app, "list")
	got := newCollector[string]()
	sub, err := core.SubscribeStreams(app, []string{"a", "b"}, group, func(ctx context.Context, m *core.Message[Foo]) error {
		got.add(strings.TrimPrefix(m.Record.Topic, app.Config().TopicPrefix) + ":" + m.Data.Bar)
		return nil
	}, &core.SubscribeOptions{DiscoveryInterval: interval})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, sub.Streams)
	assert.Empty(t, sub.Pattern)
	accPublish(t, app, "a", "a-1")
	accPublish(t, app, "ab", "ab-1") // not in the list
	run := startRun(t, app)
	assert.Equal(t, []string{"a:a-1"}, got.waitFor(t, 1, 15*time.Second))
	time.Sleep(2 * interval)
	assert.False(t, accTopicExists(t, brokers, app.Topic("b")), "subscribers never create topics")

	accPublish(t, app, "b", "b-1")
	assert.Equal(t, []string{"a:a-1", "b:b-1"}, got.waitFor(t, 2, 10*time.Second))
	accPublish(t, app, "a", "a-2")
	assert.Equal(t, []string{"a:a-1", "b:b-1", "a:a-2"}, got.waitFor(t, 3, 10*time.Second))
	require.NoError(t, run.stop(t))
	assert.Equal(t, []string{"a:a-1", "b:b-1", "a:a-2"}, got.items())
	assert.Equal(t, core.SubscriptionStats{Handled: 3}, sub.Stats())
}

// test_subscribe_without_group: a group is required, at registration.
func TestEmptyGroupIsAnError(t *testing.T) {
	app, _ := newTestApp(t, core.Config{})
	handler := func(ctx context.Context, m *core.Message[Foo]) error { return nil }

	sub, err := core.Subscribe(app, "orders", "", handler, nil)
	assert.Nil(t, sub)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a consumer group is required")
	assert.Contains(t, err.Error(), `"orders"`, "the error names the subscription")

	sub, err = core.SubscribeStreams(app, []string{"a", "b"}, "", handler, nil)
	assert.Nil(t, sub)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a consumer group is required")
	assert.Contains(t, err.Error(), "[a b]")

	r := core.NewRouter()
	sub, err = core.Subscribe(r, "orders.*", "", handler, nil)
	assert.Nil(t, sub)
	assert.ErrorContains(t, err, "a consumer group is required")
	assert.Empty(t, r.Subscriptions())

	// The other registration errors.
	_, err = core.Subscribe(app, "", "g", handler, nil)
	assert.EqualError(t, err, "kafkaesk: Subscribe: the pattern is empty")
	_, err = core.SubscribeStreams(app, nil, "g", handler, nil)
	assert.EqualError(t, err, "kafkaesk: SubscribeStreams: no streams given")
	_, err = core.Subscribe[Foo](app, "orders", "g", nil, nil)
	assert.ErrorContains(t, err, "the handler is nil")
	_, err = core.Subscribe(app, "orders", "g", handler, &core.SubscribeOptions{Concurrency: -1})
	assert.ErrorContains(t, err, "Concurrency -1 is negative")

	assert.Empty(t, app.Subscriptions(), "nothing was registered")
	require.NoError(t, app.Mount(r))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.EqualError(t, app.Run(ctx), "kafkaesk: Run: no subscriptions registered")
}

// accOrder is Order with a schema constraint, for the validation skip.
type accOrder = Order // qty has jsonschema:"minimum=1"

// A message that cannot be decoded into the handler's type is skipped,
// counted and logged with its topic, partition and offset; the handler
// never sees it and the subscription goes on (test_malformed_message,
// test_invalid_event_schema_is_sending_error_metric,
// test_malformed_event_schema_is_sending_error_metric).
func TestUndecodableMessagesAreSkippedAndCounted(t *testing.T) {
	cfg := accOnePartition()
	logs := &accLogs{}
	cfg.Logger = logs.logger()
	app, brokers := newTestApp(t, cfg)
	core.MustRegister[accOrder](app, nil)
	group := accGroup(app, "skip")
	topic := app.Topic("orders")
	got := newCollector[accOrder]()
	sub, err := core.Subscribe(app, "orders", group, func(ctx context.Context, m *core.Message[accOrder]) error {
		got.add(m.Data)
		return nil
	}, nil)
	require.NoError(t, err)

	ctx := testContext(t)
	require.NoError(t, app.Publish(ctx, "orders", accOrder{ID: "o-1", Qty: 1}))                                     // 0
	require.NoError(t, app.RawPublish(ctx, "orders", []byte("bad string")))                                         // 1: not JSON
	require.NoError(t, app.RawPublish(ctx, "orders", []byte(`{"schema":"Order:1"}`)))                               // 2: no data
	require.NoError(t, app.RawPublish(ctx, "orders", []byte(`{"schema":"Order:1","data":{"id":"o-x","qty":0}}`)))   // 3: minimum=1 fails
	require.NoError(t, app.RawPublish(ctx, "orders", []byte(`{"schema":"Order:1","data":"a string"}`)))             // 4: data not an object
	require.NoError(t, app.RawPublish(ctx, "orders", []byte(`{"schema":"Order:1","data":{"id":"o-y","qty":"2"}}`))) // 5: wrong type
	require.NoError(t, app.RawPublish(ctx, "orders", []byte(`{"schema":"Order:1","data":null}`)))                   // 6: null data
	require.NoError(t, app.Publish(ctx, "orders", accOrder{ID: "o-2", Qty: 2}))                                     // 7
	run := startRun(t, app)

	assert.Equal(t, []accOrder{{ID: "o-1", Qty: 1}, {ID: "o-2", Qty: 2}}, got.waitFor(t, 2, 15*time.Second))
	require.Eventually(t, func() bool { return sub.Stats().Handled == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.True(t, sub.Running(), "the subscription goes on")
	require.NoError(t, run.stop(t))
	assert.Equal(t, []accOrder{{ID: "o-1", Qty: 1}, {ID: "o-2", Qty: 2}}, got.items(), "the handler never saw the others")
	assert.Equal(t, core.SubscriptionStats{Handled: 2, Skipped: 6}, sub.Stats())
	assert.Equal(t, map[int]int64{0: 8}, accCommitted(t, brokers, group, topic), "skipped messages are committed as handled")

	skipped := logs.find("kafkaesk: message skipped", map[string]string{"group": group, "topic": topic, "partition": "0"})
	var offsets []string
	for _, r := range skipped {
		offsets = append(offsets, r.Attrs["offset"])
		assert.Equal(t, slog.LevelWarn, r.Level)
		assert.NotEmpty(t, r.Attrs["err"], "the reason is logged")
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5", "6"}, offsets)
	if len(skipped) == 6 {
		assert.Contains(t, skipped[1].Attrs["err"], `no "data"`)
		assert.Contains(t, skipped[2].Attrs["err"], "/qty")
	}
}

// The same for a handler type with no registered schema, decoded without
// validation: whatever does not decode into it is skipped and counted.
func TestUndecodableMessagesOfAnUnregisteredTypeAreSkipped(t *testing.T) {
	app, brokers := newTestApp(t, accOnePartition())
	group := accGroup(app, "skip-unregistered")
	got := newCollector[Unregistered]()
	sub, err := core.Subscribe(app, "unreg", group, func(ctx context.Context, m *core.Message[Unregistered]) error {
		assert.Equal(t, "Unregistered:1", m.Schema)
		got.add(m.Data)
		return nil
	}, nil)
	require.NoError(t, err)

	ctx := testContext(t)
	require.NoError(t, app.Publish(ctx, "unreg", Unregistered{N: 1})) // 0
	for _, bad := range []string{
		"bad string",                                   // 1: not JSON
		`{"schema":"Unregistered:1"}`,                  // 2: no data
		`{"schema":"Unregistered:1","data":null}`,      // 3: null data
		`{"schema":"Unregistered:1","data":"x"}`,       // 4: data not an object
		`{"schema":"Unregistered:1","data":{"n":"x"}}`, // 5: wrong field type
		`{"data":{"n":3}}`,                             // 6: no schema
		`{"schema":"Unregistered:1","data":{"n":2}`,    // 7: truncated
		`[1,2]`, // 8: not an object
	} {
		require.NoError(t, app.RawPublish(ctx, "unreg", []byte(bad)))
	}
	require.NoError(t, app.Publish(ctx, "unreg", Unregistered{N: 4})) // 9
	run := startRun(t, app)

	assert.Equal(t, []Unregistered{{N: 1}, {N: 4}}, got.waitFor(t, 2, 15*time.Second))
	require.Eventually(t, func() bool { return sub.Stats().Handled == 2 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, run.stop(t))
	assert.Equal(t, []Unregistered{{N: 1}, {N: 4}}, got.items())
	assert.Equal(t, core.SubscriptionStats{Handled: 2, Skipped: 8}, sub.Stats())
	assert.Equal(t, map[int]int64{0: 10}, accCommitted(t, brokers, group, app.Topic("unreg")))
}

// A handler asks to skip a message with ErrSkip (kafkaesk's
// UnhandledMessage): it is counted, logged and committed, and the
// subscription goes on.
func TestHandlerAsksToSkip(t *testing.T) {
	cfg := accOnePartition()
	logs := &accLogs{}
	cfg.Logger = logs.logger()
	app, brokers := newTestApp(t, cfg)
	group := accGroup(app, "asks")
	var calls accCalls
	handled := newCollector[string]()
	sub, err := core.Subscribe(app, "foo", group, func(ctx context.Context, m *core.Message[Foo]) error {
		calls.add(m.Data.Bar)
		if strings.HasPrefix(m.Data.Bar, "skip") {
			return fmt.Errorf("not for me: %w", core.ErrSkip)
		}
		handled.add(m.Data.Bar)
		return nil
	}, nil)
	require.NoError(t, err)
	accPublish(t, app, "foo", "keep-0", "skip-1", "keep-2", "skip-3", "skip-4", "keep-5")
	run := startRun(t, app)

	assert.Equal(t, []string{"keep-0", "keep-2", "keep-5"}, handled.waitFor(t, 3, 15*time.Second))
	require.Eventually(t, func() bool { return sub.Stats().Handled == 3 }, 5*time.Second, 10*time.Millisecond)
	assert.NoError(t, app.HealthCheck(), "the subscription goes on")
	require.NoError(t, run.stop(t))
	assert.Equal(t, []string{"keep-0", "skip-1", "keep-2", "skip-3", "skip-4", "keep-5"}, calls.get(), "each handled once, none retried")
	assert.Equal(t, core.SubscriptionStats{Handled: 3, Skipped: 3}, sub.Stats())
	assert.Equal(t, map[int]int64{0: 6}, accCommitted(t, brokers, group, app.Topic("foo")))

	var offsets []string
	for _, r := range logs.find("kafkaesk: message skipped", map[string]string{"group": group, "topic": app.Topic("foo")}) {
		offsets = append(offsets, r.Attrs["offset"])
		assert.Equal(t, "not for me: kafkaesk: message skipped", r.Attrs["err"])
	}
	assert.Equal(t, []string{"1", "3", "4"}, offsets)
}

// Forwarding, as kafkaesk's subscriber.publish: the consumed record, value
// and key unchanged, goes to another stream with its headers followed by
// extra ones.
func TestForwardPropagatesHeaders(t *testing.T) {
	app, _ := newTestApp(t, accOnePartition())
	core.MustRegister[Foo](app, nil)
	out := newCollector[core.Record]()
	_, err := core.Subscribe(app, "in", accGroup(app, "forward"), func(ctx context.Context, m *core.Message[Foo]) error {
		return m.Forward(ctx, "out", core.Header{Key: "forwarded-by", Value: []byte("test")}, core.Header{Key: "trace-id", Value: []byte("second")})
	}, nil)
	require.NoError(t, err)
	outSub, err := core.Subscribe(app, "out", accGroup(app, "out"), func(ctx context.Context, m *core.Message[core.Record]) error {
		out.add(m.Data)
		return nil
	}, &core.SubscribeOptions{DiscoveryInterval: 300 * time.Millisecond})
	require.NoError(t, err)
	run := startRun(t, app)

	ctx := testContext(t)
	in := []core.Header{{Key: "trace-id", Value: []byte("abc123")}, {Key: "tenant", Value: []byte("t1")}}
	require.NoError(t, app.Publish(ctx, "in", Foo{Bar: "x"}, core.Key([]byte("k1")), core.Headers(in...)))
	require.NoError(t, app.Publish(ctx, "in", Foo{Bar: "y"}, core.Headers(core.Header{Key: "only", Value: []byte("one")})))

	recs := out.waitFor(t, 2, 15*time.Second)
	assert.Equal(t, app.Topic("out"), recs[0].Topic)
	assert.Equal(t, `{"schema":"Foo:1","data":{"bar":"x"}}`, string(recs[0].Value), "the value is forwarded unchanged")
	assert.Equal(t, "k1", string(recs[0].Key), "so is the key")
	assert.Equal(t, []core.Header{
		{Key: "trace-id", Value: []byte("abc123")}, {Key: "tenant", Value: []byte("t1")},
		{Key: "forwarded-by", Value: []byte("test")}, {Key: "trace-id", Value: []byte("second")},
	}, recs[0].Headers, "the record's headers, then the extra ones")
	assert.Equal(t, `{"schema":"Foo:1","data":{"bar":"y"}}`, string(recs[1].Value))
	assert.Empty(t, recs[1].Key)
	assert.Equal(t, []core.Header{
		{Key: "only", Value: []byte("one")}, {Key: "forwarded-by", Value: []byte("test")}, {Key: "trace-id", Value: []byte("second")},
	}, recs[1].Headers)
	require.NoError(t, run.stop(t))
	assert.Equal(t, core.SubscriptionStats{Handled: 2}, outSub.Stats())
}

type accReply struct {
	Reply string `json:"reply"`
}

// A typed publish from inside a handler carries the consumed record's
// headers, before any given.
func TestPublishFromHandlerCarriesHeaders(t *testing.T) {
	app, _ := newTestApp(t, accOnePartition())
	core.MustRegister[Foo](app, nil)
	core.MustRegister[accReply](app, &core.SchemaOptions{ID: "Reply", Version: 3})
	type got struct {
		data    accReply
		schema  string
		key     string
		headers []core.Header
	}
	out := newCollector[got]()
	_, err := core.Subscribe(app, "in", accGroup(app, "publish"), func(ctx context.Context, m *core.Message[Foo]) error {
		return m.Publish(ctx, "replies", accReply{Reply: "re: " + m.Data.Bar},
			core.Key([]byte("reply-key")), core.Headers(core.Header{Key: "replied", Value: []byte("yes")}))
	}, nil)
	require.NoError(t, err)
	_, err = core.Subscribe(app, "replies", accGroup(app, "replies"), func(ctx context.Context, m *core.Message[accReply]) error {
		out.add(got{m.Data, m.Schema, string(m.Record.Key), m.Record.Headers})
		return nil
	}, &core.SubscribeOptions{DiscoveryInterval: 300 * time.Millisecond})
	require.NoError(t, err)
	run := startRun(t, app)

	ctx := testContext(t)
	in := []core.Header{{Key: "trace-id", Value: []byte("abc123")}, {Key: "tenant", Value: []byte("t1")}}
	require.NoError(t, app.Publish(ctx, "in", Foo{Bar: "hello"}, core.Key([]byte("k1")), core.Headers(in...)))

	assert.Equal(t, []got{{
		data:   accReply{Reply: "re: hello"},
		schema: "Reply:3",
		key:    "reply-key",
		headers: []core.Header{
			{Key: "trace-id", Value: []byte("abc123")}, {Key: "tenant", Value: []byte("t1")}, {Key: "replied", Value: []byte("yes")},
		},
	}}, out.waitFor(t, 1, 15*time.Second))
	require.NoError(t, run.stop(t))
	assert.Len(t, out.items(), 1)
}

// test_health_check_should_succeed and
// test_health_check_should_fail_with_unhandled: HealthCheck fails before
// Run, passes while every subscription runs, and fails after a stop and
// after a subscription failed.
func TestHealthCheck(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		app, _ := newTestApp(t, accOnePartition())
		group := accGroup(app, "healthy")
		got := newCollector[string]()
		_, err := core.Subscribe(app, "ok", group, func(ctx context.Context, m *core.Message[Foo]) error {
			got.add(m.Data.Bar)
			return nil
		}, nil)
		require.NoError(t, err)
		notRunning := fmt.Sprintf(`kafkaesk: subscription "ok" (group %s) is not running`, group)
		assert.EqualError(t, app.HealthCheck(), notRunning, "before Run")

		run := startRun(t, app)
		require.Eventually(t, func() bool { return app.HealthCheck() == nil }, 5*time.Second, 10*time.Millisecond)
		accPublish(t, app, "ok", "1", "2")
		got.waitFor(t, 2, 15*time.Second)
		assert.NoError(t, app.HealthCheck(), "while consuming")
		require.NoError(t, run.stop(t))
		assert.EqualError(t, app.HealthCheck(), notRunning, "after a stop")
	})

	t.Run("failure", func(t *testing.T) {
		app, _ := newTestApp(t, accOnePartition())
		failGroup, okGroup := accGroup(app, "unhealthy"), accGroup(app, "healthy")
		_, err := core.Subscribe(app, "fail", failGroup, func(ctx context.Context, m *core.Message[Foo]) error {
			if m.Data.Bar == "poison" {
				return errors.New("always fails")
			}
			return nil
		}, nil)
		require.NoError(t, err)
		okSub, err := core.Subscribe(app, "ok", okGroup, func(ctx context.Context, m *core.Message[Foo]) error { return nil }, nil)
		require.NoError(t, err)
		accPublish(t, app, "ok", "1")
		accPublish(t, app, "fail", "fine")

		run := startRun(t, app)
		require.Eventually(t, func() bool { return app.HealthCheck() == nil }, 5*time.Second, 10*time.Millisecond)
		require.Eventually(t, func() bool { return okSub.Stats().Handled == 1 }, 15*time.Second, 10*time.Millisecond)
		assert.NoError(t, app.HealthCheck())

		accPublish(t, app, "fail", "poison")
		select {
		case err := <-run.done:
			close(run.done)
			var he *core.HandlerError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, failGroup, he.Group)
			assert.Equal(t, app.Topic("fail"), he.Topic)
			assert.Equal(t, int64(1), he.Offset)
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return after the handler failed")
		}
		assert.EqualError(t, app.HealthCheck(), fmt.Sprintf(`kafkaesk: subscription "fail" (group %s) is not running`, failGroup))
		assert.False(t, okSub.Running(), "the other subscriptions stop too")
	})
}

// One router may be mounted into several applications (see
// TestMountRouterIntoTwoApplications). Each application's HealthCheck
// reports on its own Run: stopping one does not make the other unhealthy.
func TestHealthCheckOfARouterMountedIntoTwoApplications(t *testing.T) {
	r := core.NewRouter()
	group := kafkaesktest.TopicPrefix(t) + "shared" // random: the router exists before the applications
	got := newCollector[string]()
	_, err := core.Subscribe(r, "shared", group, func(ctx context.Context, m *core.Message[Foo]) error {
		got.add(m.Data.Bar)
		return nil
	}, nil)
	require.NoError(t, err)
	app1, _ := newTestApp(t, accOnePartition())
	app2, _ := newTestApp(t, accOnePartition())
	require.NoError(t, app1.Mount(r))
	require.NoError(t, app2.Mount(r))

	run1, run2 := startRun(t, app1), startRun(t, app2)
	require.Eventually(t, func() bool { return app1.HealthCheck() == nil && app2.HealthCheck() == nil }, 5*time.Second, 10*time.Millisecond)
	accPublish(t, app1, "shared", "app1-1")
	accPublish(t, app2, "shared", "app2-1")
	assert.ElementsMatch(t, []string{"app1-1", "app2-1"}, got.waitFor(t, 2, 15*time.Second))

	require.NoError(t, run1.stop(t))
	assert.EqualError(t, app1.HealthCheck(), fmt.Sprintf(`kafkaesk: subscription "shared" (group %s) is not running`, group))
	assert.NoError(t, app2.HealthCheck(), "app2 still runs the subscription")
	accPublish(t, app2, "shared", "app2-2")
	assert.ElementsMatch(t, []string{"app1-1", "app2-1", "app2-2"}, got.waitFor(t, 3, 15*time.Second), "app2 still consumes")
	assert.NoError(t, app2.HealthCheck(), "app2 still runs the subscription")
	require.NoError(t, run2.stop(t))
	assert.Error(t, app2.HealthCheck())
}

// Run without a subscription is an error, returned at once.
func TestRunWithoutSubscriptionsIsAnError(t *testing.T) {
	app, _ := newTestApp(t, core.Config{})
	core.MustRegister[Foo](app, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	assert.EqualError(t, app.Run(ctx), "kafkaesk: Run: no subscriptions registered")
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.NoError(t, app.HealthCheck(), "no subscription is not running")
	// A second try is the same error, not "already running".
	assert.EqualError(t, app.Run(ctx), "kafkaesk: Run: no subscriptions registered")
}

// Run runs the start hooks before consuming; Close runs the stop hooks.
func TestRunRunsStartHooksAndCloseRunsStopHooks(t *testing.T) {
	app, _ := newTestApp(t, accOnePartition())
	var calls accCalls
	r := core.NewRouter()
	r.OnStart(func(context.Context) error { calls.add("router start"); return nil })
	r.OnStop(func(context.Context) error { calls.add("router stop"); return nil })
	_, err := core.Subscribe(r, "hooks", accGroup(app, "hooks"), func(ctx context.Context, m *core.Message[Foo]) error {
		calls.add("handle " + m.Data.Bar)
		return nil
	}, nil)
	require.NoError(t, err)
	app.OnStart(func(context.Context) error { calls.add("app start"); return nil })
	app.OnStop(func(context.Context) error { calls.add("app stop"); return nil })
	require.NoError(t, app.Mount(r))

	run := startRun(t, app)
	require.Eventually(t, func() bool { return app.HealthCheck() == nil }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"app start", "router start"}, calls.get(), "Run started the application")
	accPublish(t, app, "hooks", "1")
	require.Eventually(t, func() bool { return len(calls.get()) == 3 }, 15*time.Second, 10*time.Millisecond)
	require.NoError(t, run.stop(t))
	assert.Equal(t, []string{"app start", "router start", "handle 1"}, calls.get(), "stopping Run runs no stop hook")

	ctx := testContext(t)
	require.NoError(t, app.Close(ctx))
	assert.Equal(t, []string{"app start", "router start", "handle 1", "app stop", "router stop"}, calls.get())
}

// A failing start hook fails Run before any subscription runs.
func TestRunFailsWhenAStartHookFails(t *testing.T) {
	app, _ := newTestApp(t, accOnePartition())
	var handled accCalls
	sub, err := core.Subscribe(app, "hooks", accGroup(app, "hooks"), func(ctx context.Context, m *core.Message[Foo]) error {
		handled.add(m.Data.Bar)
		return nil
	}, nil)
	require.NoError(t, err)
	app.OnStart(func(context.Context) error { return errors.New("not ready") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assert.EqualError(t, app.Run(ctx), "kafkaesk: start hook: not ready")
	assert.False(t, sub.Running())
	assert.Error(t, app.HealthCheck())
	assert.Empty(t, handled.get())
}

// Run is one at a time per application.
func TestRunTwiceAtOnceIsAnError(t *testing.T) {
	app, _ := newTestApp(t, accOnePartition())
	_, err := core.Subscribe(app, "twice", accGroup(app, "twice"), func(ctx context.Context, m *core.Message[Foo]) error { return nil }, nil)
	require.NoError(t, err)
	run := startRun(t, app)
	require.Eventually(t, func() bool { return app.HealthCheck() == nil }, 5*time.Second, 10*time.Millisecond)
	assert.EqualError(t, app.Run(testContext(t)), "kafkaesk: Run is already running")
	assert.NoError(t, app.HealthCheck(), "the first Run goes on")
	require.NoError(t, run.stop(t))
}
