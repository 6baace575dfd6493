package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// readEnv is an application on the test brokers (KAFKA_BROKERS, or an
// embedded broker) with a topic prefix of its own.
type readEnv struct {
	brokers []string
	app     *core.Application
}

func newReadEnv(t *testing.T, partitions int) *readEnv {
	t.Helper()
	brokers := kafkaesktest.Brokers(t)
	app := newApp(t, core.Config{Brokers: brokers, TopicPrefix: kafkaesktest.TopicPrefix(t), Partitions: partitions})
	return &readEnv{brokers: brokers, app: app}
}

// produce writes values to stream in order, keyed by key (nil: spread),
// with timestamps at, at+1s, ... when at is not zero, and waits for
// every acknowledgement.
func (e *readEnv) produce(t *testing.T, stream string, at time.Time, values ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.app.EnsureStream(ctx, stream, 0))
	var mu sync.Mutex
	var errs []error
	for i, v := range values {
		rec := &core.Record{Topic: e.app.Topic(stream), Key: []byte(v), Value: []byte(v)}
		if !at.IsZero() {
			rec.Time = at.Add(time.Duration(i) * time.Second)
		}
		require.NoError(t, e.app.Produce(ctx, rec, func(_ *core.Record, err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}))
	}
	require.NoError(t, e.app.Flush(ctx))
	require.NoError(t, errors.Join(errs...))
}

// readAll reads stream with opts until Read returns, within 30 s.
func (e *readEnv) readAll(t *testing.T, stream string, opts *core.ReadOptions) ([]core.Record, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []core.Record
	err := e.app.Read(ctx, stream, opts, func(_ context.Context, rec *core.Record) error {
		got = append(got, *rec) // calls are one at a time
		return nil
	})
	require.NoError(t, ctx.Err(), "Read did not return within 30 s")
	return got, err
}

func values(recs []core.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%02d", prefix, i))
	}
	return out
}

// UntilEnd from the zero options (Earliest) reads every record once, in
// offset order within each partition, with its topic, partition, offset
// and high-water mark, then returns nil.
func TestReadUntilEndReadsEveryRecordOnceThenReturns(t *testing.T) {
	e := newReadEnv(t, 3)
	want := seq("v", 0, 40)
	e.produce(t, "orders", time.Time{}, want...)

	got, err := e.readAll(t, "orders", &core.ReadOptions{UntilEnd: true})
	require.NoError(t, err)
	assert.ElementsMatch(t, want, values(got))
	next := map[int]int64{}
	for _, r := range got {
		assert.Equal(t, e.app.Topic("orders"), r.Topic)
		assert.Equal(t, next[r.Partition], r.Offset, "partition %d in offset order from 0", r.Partition)
		next[r.Partition] = r.Offset + 1
		assert.Greater(t, r.HighWaterMark, r.Offset)
		assert.Equal(t, r.Value, r.Key)
		assert.False(t, r.Time.IsZero())
	}
	assert.Greater(t, len(next), 1, "the records were spread over partitions")

	offs, err := e.app.StreamOffsets(context.Background(), "orders")
	require.NoError(t, err)
	require.Len(t, offs, 3)
	var total int64
	for i, p := range offs {
		assert.Equal(t, i, p.Partition)
		assert.Equal(t, int64(0), p.First)
		assert.Equal(t, next[i], p.End)
		total += p.Len()
	}
	assert.Equal(t, int64(len(want)), total)
}

// An empty stream read UntilEnd returns nil at once, from any position.
func TestReadUntilEndOfAnEmptyStreamReturnsAtOnce(t *testing.T) {
	e := newReadEnv(t, 2)
	require.NoError(t, e.app.EnsureStream(context.Background(), "empty", 0))
	for _, from := range []core.Position{core.Earliest(), core.Latest(), core.AtOffset(3), core.AtTime(time.Now().Add(-time.Hour))} {
		start := time.Now()
		got, err := e.readAll(t, "empty", &core.ReadOptions{From: from, UntilEnd: true})
		require.NoError(t, err, from)
		assert.Empty(t, got, from)
		assert.Less(t, time.Since(start), 5*time.Second, from)
	}
}

// Each start position, read UntilEnd on one partition of ten records.
func TestReadStartsAtEachPosition(t *testing.T) {
	e := newReadEnv(t, 1)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	all := seq("v", 0, 10)
	e.produce(t, "s", base, all...)
	for _, tt := range []struct {
		from core.Position
		want []string
	}{
		{core.Earliest(), all},
		{core.Position{}, all},
		{core.Latest(), nil},
		{core.AtOffset(0), all},
		{core.AtOffset(4), all[4:]},
		{core.AtOffset(9), all[9:]},
		{core.AtOffset(10), nil},
		{core.AtOffset(1000), nil},
		{core.AtTime(base.Add(-time.Hour)), all},
		{core.AtTime(base.Add(5 * time.Second)), all[5:]},                  // a record's own time is included
		{core.AtTime(base.Add(5*time.Second + time.Millisecond)), all[6:]}, // the next one after it
		{core.AtTime(base.Add(time.Hour)), nil},                            // none that late: the end
	} {
		t.Run(tt.from.String(), func(t *testing.T) {
			got, err := e.readAll(t, "s", &core.ReadOptions{From: tt.from, UntilEnd: true})
			require.NoError(t, err)
			assert.Equal(t, tt.want, nilIfEmpty(values(got)))
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Latest without UntilEnd reads only what is written after Read started,
// and goes on until ctx ends; then Read returns ctx's error.
func TestReadFromLatestFollowsNewRecordsUntilCtxEnds(t *testing.T) {
	e := newReadEnv(t, 2)
	e.produce(t, "live", time.Time{}, seq("old", 0, 5)...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- e.app.Read(ctx, "live", &core.ReadOptions{From: core.Latest()}, func(_ context.Context, rec *core.Record) error {
			got <- string(rec.Value)
			return nil
		})
	}()
	// Read takes its start offsets when it starts: publish until a new
	// record comes through.
	var seen []string
	deadline := time.After(30 * time.Second)
	for i := 0; len(seen) < 3; i++ {
		if len(seen) == 0 {
			e.produce(t, "live", time.Time{}, fmt.Sprintf("new%02d", i))
		}
		select {
		case v := <-got:
			seen = append(seen, v)
			if len(seen) == 1 {
				e.produce(t, "live", time.Time{}, "after1", "after2")
			}
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("saw %v within 30 s", seen)
		}
	}
	for _, v := range seen {
		assert.False(t, strings.HasPrefix(v, "old"), "from latest: %q was written before Read", v)
	}
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(15 * time.Second):
		t.Fatal("Read did not return 15 s after ctx ended")
	}
}

// Ending ctx stops a Read that is reading forever, whether it waits for
// records or is handling them, and no call of fn starts after it; every
// goroutine has ended when Read returns (goleak, in TestMain).
func TestReadStopsWhenCtxEnds(t *testing.T) {
	e := newReadEnv(t, 3)
	e.produce(t, "s", time.Time{}, seq("v", 0, 30)...)
	for _, tt := range []struct {
		name   string
		cancel int // the call of fn that ends ctx; 0: the test does, once all 30 are read
	}{
		{"while waiting for records", 0},
		{"while handling them", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			all := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- e.app.Read(ctx, "s", nil, func(ctx context.Context, _ *core.Record) error {
					switch n++; n {
					case tt.cancel:
						cancel()
					case 30:
						close(all)
					}
					return nil
				})
			}()
			if tt.cancel == 0 {
				select {
				case <-all:
				case <-time.After(30 * time.Second):
					t.Fatal("30 records not read within 30 s")
				}
				time.Sleep(300 * time.Millisecond) // waiting for more
				cancel()
			}
			select {
			case err := <-done:
				assert.ErrorIs(t, err, context.Canceled)
				if tt.cancel > 0 {
					assert.Equal(t, tt.cancel, n, "no call after ctx ended")
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Read did not return 15 s after ctx ended")
			}
		})
	}
	// A deadline is reported as such.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := e.app.Read(ctx, "s", &core.ReadOptions{From: core.Latest()}, func(context.Context, *core.Record) error { return nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// fn's error stops Read, which returns it wrapped with where it happened.
func TestReadStopsAtFnsError(t *testing.T) {
	e := newReadEnv(t, 2)
	e.produce(t, "s", time.Time{}, seq("v", 0, 20)...)
	boom := errors.New("boom")
	n := 0
	err := e.app.Read(context.Background(), "s", nil, func(context.Context, *core.Record) error {
		if n++; n == 3 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 3, n)
	requireErrorContains(t, err, `"s"`, e.app.Topic("s"), "offset")
}

// Partitions limits the read to those partitions; one the topic lacks is
// an error naming it.
func TestReadOnlyTheGivenPartitions(t *testing.T) {
	e := newReadEnv(t, 3)
	e.produce(t, "s", time.Time{}, seq("v", 0, 30)...)
	got, err := e.readAll(t, "s", &core.ReadOptions{UntilEnd: true, Partitions: []int{2, 0}})
	require.NoError(t, err)
	offs, err := e.app.StreamOffsets(context.Background(), "s")
	require.NoError(t, err)
	assert.Len(t, got, int(offs[0].Len()+offs[2].Len()))
	for _, r := range got {
		assert.NotEqual(t, 1, r.Partition)
	}

	_, err = e.readAll(t, "s", &core.ReadOptions{UntilEnd: true, Partitions: []int{0, 3}})
	requireErrorContains(t, err, "no partition 3", "3 partitions", e.app.Topic("s"))
}

// ReadCommitted is accepted, and reads records written outside
// transactions as read_uncommitted does.
func TestReadCommittedReadsNonTransactionalRecords(t *testing.T) {
	e := newReadEnv(t, 2)
	want := seq("v", 0, 20)
	e.produce(t, "s", time.Time{}, want...)
	got, err := e.readAll(t, "s", &core.ReadOptions{UntilEnd: true, ReadCommitted: true})
	require.NoError(t, err)
	assert.ElementsMatch(t, want, values(got))
	got, err = e.readAll(t, "s", &core.ReadOptions{From: core.AtOffset(5), UntilEnd: true, ReadCommitted: true, Partitions: []int{0}})
	require.NoError(t, err)
	for _, r := range got {
		assert.GreaterOrEqual(t, r.Offset, int64(5))
	}
}

// A stream without a topic is ErrUnknownStream, naming the stream, its
// topic and the brokers; Read does not create the topic.
func TestReadUnknownStream(t *testing.T) {
	e := newReadEnv(t, 1)
	_, err := e.readAll(t, "nope", &core.ReadOptions{UntilEnd: true})
	require.ErrorIs(t, err, core.ErrUnknownStream)
	requireErrorContains(t, err, `"nope"`, e.app.Topic("nope"), e.brokers[0])

	_, err = e.readAll(t, "nope", nil) // forever: fails just the same
	require.ErrorIs(t, err, core.ErrUnknownStream)
	_, err = e.app.StreamOffsets(context.Background(), "nope")
	require.ErrorIs(t, err, core.ErrUnknownStream)

	streams, err := e.app.Streams(context.Background(), "*")
	require.NoError(t, err)
	assert.Empty(t, streams, "no topic was created")
}

// Bad options are refused before anything is read, naming the problem.
func TestReadRefusesBadOptions(t *testing.T) {
	app := newApp(t, core.Config{Brokers: validBrokers})
	noop := func(context.Context, *core.Record) error { return nil }
	for _, tt := range []struct {
		opts *core.ReadOptions
		fn   func(context.Context, *core.Record) error
		want string
	}{
		{&core.ReadOptions{From: core.AtOffset(-1)}, noop, "offset -1 is negative"},
		{&core.ReadOptions{Partitions: []int{-2}}, noop, "partition -2 is negative"},
		{&core.ReadOptions{Partitions: []int{1, 1}}, noop, "partition 1 is given twice"},
		{nil, nil, "fn is nil"},
	} {
		err := app.Read(context.Background(), "s", tt.opts, tt.fn)
		requireErrorContains(t, err, tt.want, `"s"`)
	}
}

// Streams lists the existing streams matching a pattern, as Subscribe
// matches them, without the topic prefix.
func TestStreamsMatchesPatterns(t *testing.T) {
	e := newReadEnv(t, 1)
	for _, s := range []string{"logs.api", "logs.web", "logs.api.v2", "orders"} {
		require.NoError(t, e.app.EnsureStream(context.Background(), s, 0))
	}
	for _, tt := range []struct {
		pattern string
		want    []string
	}{
		{"logs.*", []string{"logs.api", "logs.api.v2", "logs.web"}},
		{"*", []string{"logs.api", "logs.api.v2", "logs.web", "orders"}},
		{"orders", []string{"orders"}},
		{"order?", nil}, // no "*": one exact stream
		{"missing.*", nil},
	} {
		got, err := e.app.Streams(context.Background(), tt.pattern)
		require.NoError(t, err, tt.pattern)
		assert.Equal(t, tt.want, got, tt.pattern)
	}
}

// Read authenticates with the application's SASL settings, on every
// connection it makes (metadata, offsets, fetches); without them it fails
// with an error naming the broker, instead of waiting.
func TestReadUsesTheApplicationsSASL(t *testing.T) {
	user := kafkaesktest.SASL{Mechanism: "SCRAM-SHA-512", Username: "reader", Password: "pw"}
	b := kafkaesktest.New(t, &kafkaesktest.Options{SASL: user})
	prefix := kafkaesktest.TopicPrefix(t)
	e := &readEnv{brokers: b.Brokers(), app: newApp(t, core.Config{Brokers: b.Brokers(), TopicPrefix: prefix, Partitions: 2, SASL: core.SASL(user)})}
	want := seq("v", 0, 10)
	e.produce(t, "s", time.Time{}, want...)
	got, err := e.readAll(t, "s", &core.ReadOptions{UntilEnd: true})
	require.NoError(t, err)
	assert.ElementsMatch(t, want, values(got))

	anon := &readEnv{brokers: b.Brokers(), app: newApp(t, core.Config{Brokers: b.Brokers(), TopicPrefix: prefix, RequestTimeout: 3 * time.Second})}
	start := time.Now()
	_, err = anon.readAll(t, "s", &core.ReadOptions{UntilEnd: true})
	// Each client's words, both naming SASL: kafka-go's hang-up hint
	// ("does it require SASL?"), franz-go's ("is SASL missing?").
	requireErrorContains(t, err, `"s"`, b.Addr(), "SASL")
	assert.Less(t, time.Since(start), 10*time.Second)
}

// Read sees a topic another client created a moment ago, even though the
// application's own metadata (cached for MetadataMaxAge) does not know
// it yet. (tail following "logs.*" failed on each new stream.)
func TestReadSeesATopicCreatedElsewhereAtOnce(t *testing.T) {
	e := newReadEnv(t, 1)
	e.produce(t, "before", time.Time{}, "x") // the application's metadata is loaded
	other := &readEnv{brokers: e.brokers, app: newApp(t, core.Config{Brokers: e.brokers, TopicPrefix: e.app.Config().TopicPrefix, Partitions: 2})}
	other.produce(t, "after", time.Time{}, "a", "b", "c")

	got, err := e.readAll(t, "after", &core.ReadOptions{UntilEnd: true})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b", "c"}, values(got))
	offs, err := e.app.StreamOffsets(context.Background(), "after")
	require.NoError(t, err)
	assert.Len(t, offs, 2)
}
