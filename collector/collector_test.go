package collector_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/collector"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// env is one test's brokers, topic prefix and group.
type env struct {
	t       *testing.T
	brokers []string
	prefix  string
	group   string
}

func newEnv(t *testing.T) *env {
	prefix := kafkaesktest.TopicPrefix(t)
	return &env{t: t, brokers: kafkaesktest.Brokers(t), prefix: prefix, group: prefix + "collector"}
}

// app returns an application tuned for quick tests, closed at the end;
// opts change its configuration.
func (e *env) app(opts ...func(*core.Config)) *core.Application {
	cfg := core.Config{
		Brokers:           e.brokers,
		TopicPrefix:       e.prefix,
		Partitions:        3,
		HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		CommitInterval:    100 * time.Millisecond,
		MetadataMaxAge:    300 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	app, err := core.New(cfg)
	require.NoError(e.t, err)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(e.t, app.Close(ctx))
	})
	return app
}

// logEvent is the envelope of a log event with a sequence number.
func logEvent(service, logger string, level, seq int) []byte {
	return fmt.Appendf(nil, `{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T10:00:00.000001Z",`+
		`"logger":%q,"severity":"X","level":%d,"message":"event %d","exception":null,"hostname":"h","service":%q,"seq":%d}}`,
		logger, level, seq, service, seq)
}

// publish sends values to stream and waits for their acknowledgements.
func (e *env) publish(stream string, values ...[]byte) {
	e.t.Helper()
	app := e.app()
	ctx := context.Background()
	require.NoError(e.t, app.EnsureStream(ctx, stream, 0))
	var failed atomic.Int64
	for i, v := range values {
		// A key each, so that every partition gets a share on either
		// client (franz-go puts unkeyed records of a batch on one).
		require.NoError(e.t, app.RawPublishAsync(ctx, stream, v, func(err error) {
			if err != nil {
				failed.Add(1)
			}
		}, core.Key(strconv.AppendInt(nil, int64(i), 10))))
	}
	require.NoError(e.t, app.Flush(ctx))
	require.Zero(e.t, failed.Load())
}

// running is a Collector.Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, c *collector.Collector) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of the stop")
		return nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 30*time.Second, 5*time.Millisecond, what)
}

// seqs reads a JSON-lines file and returns how many times each seq is in it.
func seqs(t *testing.T, path string) map[int]int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	got := map[int]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev struct{ Seq int }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "line %q", sc.Text())
		got[ev.Seq]++
	}
	require.NoError(t, sc.Err())
	return got
}

func TestCollectsEveryEventOfMatchedStreamsToAFile(t *testing.T) {
	e := newEnv(t)
	const n = 500
	var a, b [][]byte
	for i := range n {
		a = append(a, logEvent("api", "http", 20, i))
		b = append(b, logEvent("worker", "jobs", 30, n+i))
	}
	e.publish("logs.api", a...)
	e.publish("logs.worker", b...)
	e.publish("metrics.cpu", logEvent("other", "x", 20, -1)) // not matched
	e.publish("logs.api", []byte(`not json`), []byte(`{"schema":"User:1","data":{"id":1}}`))

	path := filepath.Join(t.TempDir(), "events.jsonl")
	out, err := collector.CreateJSONLines(path, nil)
	require.NoError(t, err)
	c, err := collector.New(e.app(), collector.Options{Patterns: []string{"logs.*"}, Group: e.group, Outputs: []collector.Output{out}})
	require.NoError(t, err)
	r := start(t, c)
	waitFor(t, "every event written", func() bool { return c.Stats().Written == 2*n && c.Stats().Skipped == 2 })
	// Offsets are committed once the file has the lines.
	waitFor(t, "offsets committed", func() bool {
		return sum(testutil.Committed(t, e.brokers, e.group, e.prefix+"logs.worker")) == n
	})
	require.NoError(t, r.stop(t))

	got := seqs(t, path)
	assert.Len(t, got, 2*n)
	for i := range 2 * n {
		assert.Equal(t, 1, got[i], "seq %d", i)
	}
	assert.Equal(t, int64(n+2), sum(testutil.Committed(t, e.brokers, e.group, e.prefix+"logs.api")))
	s := c.Stats()
	assert.Equal(t, collector.Stats{Received: 2*n + 2, Written: 2 * n, Skipped: 2, Commits: s.Commits}, s)
	assert.NotZero(t, s.Commits)
}

func sum(xs []int64) (n int64) {
	for _, x := range xs {
		n += max(x, 0)
	}
	return n
}

func TestFiltersDropEventsAndCountThem(t *testing.T) {
	e := newEnv(t)
	e.publish("logs.a",
		logEvent("api", "http.server", 10, 1),    // debug: below min level
		logEvent("api", "http.server", 20, 2),    // kept
		logEvent("api", "db", 40, 3),             // logger not matched
		logEvent("batch", "http.server", 50, 4),  // service not matched
		logEvent("api-v2", "http.client", 30, 5), // kept
	)
	e.publish("logs.b", logEvent("api", "http.server", 20, 6)) // stream not matched
	var buf syncBuffer
	min := slog.LevelInfo
	c, err := collector.New(e.app(), collector.Options{
		Patterns: []string{"logs.*"},
		Group:    e.group,
		Outputs:  []collector.Output{collector.NewJSONLines(&buf)},
		Filter:   collector.Filter{MinLevel: min, Services: []string{"api*"}, Loggers: []string{"http.*"}, Streams: []string{"logs.a"}},
	})
	require.NoError(t, err)
	start(t, c)
	waitFor(t, "every message handled", func() bool { return c.Stats().Received == 6 })
	waitFor(t, "flushed", func() bool { return bytes.Count(buf.bytes(), []byte("\n")) == 2 })
	assert.Equal(t, int64(2), c.Stats().Written)
	assert.Equal(t, int64(4), c.Stats().Dropped)
	assert.Contains(t, buf.String(), `"seq":2}`)
	assert.Contains(t, buf.String(), `"seq":5}`)
}

func TestBadOptionsNameTheField(t *testing.T) {
	e := newEnv(t)
	_, err := collector.New(e.app(), collector.Options{})
	require.Error(t, err)
	for _, want := range []string{"Patterns is empty", "Group is empty", "Outputs is empty"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = collector.New(e.app(), collector.Options{Patterns: []string{"logs.*", ""}, Group: "g",
		Outputs: []collector.Output{collector.NewJSONLines(io.Discard), nil}, Concurrency: -1, FlushInterval: time.Microsecond})
	require.Error(t, err)
	for _, want := range []string{"Patterns[1] is empty", "Outputs[1] is nil", "Concurrency is -1", "FlushInterval is 1µs"} {
		assert.Contains(t, err.Error(), want)
	}
}

// The outputs are flushed before each commit: an application that does
// not commit would leave them unflushed and redeliver everything, so it
// is refused.
func TestApplicationWithoutAutoCommitIsRefused(t *testing.T) {
	e := newEnv(t)
	app, err := core.New(core.Config{Brokers: e.brokers, TopicPrefix: e.prefix, DisableAutoCommit: true})
	require.NoError(t, err)
	defer app.Close(context.Background())
	_, err = collector.New(app, collector.Options{Patterns: []string{"logs.*"}, Group: e.group,
		Outputs: []collector.Output{collector.NewJSONLines(io.Discard)}})
	assert.ErrorContains(t, err, "Config.DisableAutoCommit is set")
}

// flaky fails its first failWrites writes and failFlushes flushes.
type flaky struct {
	collector.Output
	failWrites, failFlushes atomic.Int64
}

func (f *flaky) Write(e *collector.Entry) error {
	if f.failWrites.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return f.Output.Write(e)
}

func (f *flaky) Flush() error {
	if f.failFlushes.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return f.Output.Flush()
}

func TestFailingOutputHoldsTheCommitAndLosesNothing(t *testing.T) {
	e := newEnv(t)
	const n = 50
	var vs [][]byte
	for i := range n {
		vs = append(vs, logEvent("api", "l", 20, i))
	}
	e.publish("logs.api", vs...)
	var buf syncBuffer
	out := &flaky{Output: collector.NewJSONLines(&buf)}
	out.failWrites.Store(3)
	out.failFlushes.Store(1 << 40) // until the test lets it
	c, err := collector.New(e.app(), collector.Options{Patterns: []string{"logs.api"}, Group: e.group, Outputs: []collector.Output{out}})
	require.NoError(t, err)
	r := start(t, c)
	waitFor(t, "every event written", func() bool { return c.Stats().Written == n })
	assert.ErrorContains(t, c.Ready(), "disk full", "a failing output makes the collector not ready")
	time.Sleep(300 * time.Millisecond) // several commit intervals
	assert.Zero(t, sum(testutil.Committed(t, e.brokers, e.group, e.prefix+"logs.api")), "nothing committed while flushes fail")

	out.failFlushes.Store(0)
	waitFor(t, "committed after the output recovered", func() bool {
		return sum(testutil.Committed(t, e.brokers, e.group, e.prefix+"logs.api")) == n
	})
	assert.NoError(t, c.Ready())
	require.NoError(t, r.stop(t))
	assert.Equal(t, n, bytes.Count(buf.bytes(), []byte("\n")), "each event once: a failed write is not written twice")
	assert.GreaterOrEqual(t, c.Stats().WriteErrors, int64(4))
}

func TestNotLogEventsAreDeadLettered(t *testing.T) {
	e := newEnv(t)
	e.publish("logs.api", []byte(`{"broken`), logEvent("api", "l", 20, 1), []byte(`{"schema":"Order:1","data":{}}`))
	c, err := collector.New(e.app(), collector.Options{Patterns: []string{"logs.api"}, Group: e.group,
		Outputs: []collector.Output{collector.NewJSONLines(io.Discard)}, DeadLetterStream: "logs-dead"})
	require.NoError(t, err)
	start(t, c)
	waitFor(t, "dead-lettered", func() bool { return c.Stats().DeadLettered == 2 })
	msgs := testutil.ReadTopic(t, e.brokers, e.prefix+"logs-dead", 2, 30*time.Second)
	require.Len(t, msgs, 2)
	var values []string
	for _, m := range msgs {
		values = append(values, string(m.Value))
		headers := map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		assert.Contains(t, headers[core.HeaderError], "not a log event")
		assert.Equal(t, e.prefix+"logs.api", headers[core.HeaderTopic])
		assert.Equal(t, e.group, headers[core.HeaderGroup])
	}
	assert.ElementsMatch(t, []string{`{"broken`, `{"schema":"Order:1","data":{}}`}, values)
	assert.Equal(t, int64(2), c.Stats().DeadLettered)
	assert.Equal(t, int64(2), c.Stats().Skipped)
}

func TestEndpoints(t *testing.T) {
	e := newEnv(t)
	e.publish("logs.api", logEvent("api", "l", 20, 1), []byte("junk"))
	// The application's metrics go in a registry of their own: /metrics
	// serves them beside the collector's and the runtime's.
	reg := prometheus.NewRegistry()
	app := e.app(func(c *core.Config) { c.Metrics = reg })
	c, err := collector.New(app, collector.Options{Patterns: []string{"logs.*"}, Group: e.group,
		Outputs: []collector.Output{collector.NewJSONLines(io.Discard)}})
	require.NoError(t, err)
	assert.Same(t, reg, c.Registry())
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/healthz")
	assert.Equal(t, 503, code, "not running yet")
	assert.Contains(t, body, "not running")

	r := start(t, c)
	waitFor(t, "handled", func() bool { return c.Stats().Received == 2 })
	waitFor(t, "ready", func() bool { code, _ := get("/readyz"); return code == 200 })
	code, _ = get("/healthz")
	assert.Equal(t, 200, code)
	waitFor(t, "committed", func() bool { return c.Stats().Commits > 0 })
	_, metrics := get("/metrics")
	for _, want := range []string{
		`kafkaesk_collector_received_total{stream="logs.api"} 2`,
		`kafkaesk_collector_written_total{output="jsonl"} 1`,
		`kafkaesk_collector_skipped_total 1`,
		`kafkaesk_collector_dropped_total{reason="min_level"} 0`,
		`kafkaesk_collector_lag{partition=`,
		`kafkaesk_collector_commit_seconds_count`,
		`kafkaesk_collector_ready 1`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
		`kafkaesk_consumed_messages_total{error="none",group_id="` + e.group + `",partition=`,
		`kafkaesk_consumer_lag{group_id="` + e.group + `",partition=`,
		`kafkaesk_consumer_health{group_id="` + e.group + `"} 1`,
	} {
		assert.Contains(t, metrics, want)
	}
	require.NoError(t, r.stop(t))
	code, _ = get("/healthz")
	assert.Equal(t, 503, code, "stopped")
}

// syncBuffer is a bytes.Buffer safe for the output and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *syncBuffer) String() string { return string(s.bytes()) }

// countingFlushes counts its output's flushes.
type countingFlushes struct {
	collector.Output
	flushes atomic.Int64
}

func (c *countingFlushes) Flush() error {
	c.flushes.Add(1)
	return c.Output.Flush()
}

// The outputs are flushed before each commit and at no other time: an
// idle collector does not flush (nor, with --fsync, sync) at all. A
// separate flush ticker used to flush every FlushInterval on top of the
// commits' flushes, busy or idle.
func TestOutputsFlushOnlyBeforeCommits(t *testing.T) {
	e := newEnv(t)
	e.publish("logs.api", logEvent("api", "l", 20, 1), logEvent("api", "l", 20, 2))
	var buf syncBuffer
	out := &countingFlushes{Output: collector.NewJSONLines(&buf)}
	const interval = 20 * time.Millisecond
	c, err := collector.New(e.app(), collector.Options{Patterns: []string{"logs.api"}, Group: e.group,
		Outputs: []collector.Output{out}, FlushInterval: interval})
	require.NoError(t, err)
	r := start(t, c)
	waitFor(t, "written and committed", func() bool {
		return sum(testutil.Committed(t, e.brokers, e.group, e.prefix+"logs.api")) == 2
	})
	assert.Equal(t, 2, bytes.Count(buf.bytes(), []byte("\n")), "flushed before the commit")
	idle := out.flushes.Load()
	time.Sleep(25 * interval)
	assert.Equal(t, idle, out.flushes.Load(), "no flush while idle")
	require.NoError(t, r.stop(t))
	s := c.Stats()
	assert.Equal(t, s.Commits+s.CommitErrors, out.flushes.Load(), "one flush per commit")
}
