package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
)

const (
	traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceB = "0af7651916cd43dd8448eb211c80319c"
)

// publishTraced publishes to stream, in one partition: log events
// (written by record's encoder, as sloghandler writes them) logged in a
// span of trace A (seq 0), outside any span (seq 1), and in a span of
// trace B (seq 2), and between the last two an order published in a
// span of trace A, which carries it only in its traceparent header.
func (e *collectEnv) publishTraced(t *testing.T, stream string) {
	t.Helper()
	app, err := core.New(core.Config{Brokers: e.brokers, TopicPrefix: e.prefix, Partitions: 1,
		Propagator: propagation.TraceContext{}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer closeApp(app)
	ctx := context.Background()
	require.NoError(t, app.EnsureStream(ctx, stream, 0))
	inTrace := func(id string) context.Context {
		tid, err := trace.TraceIDFromHex(id)
		require.NoError(t, err)
		return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled}))
	}
	enc := record.NewEncoder(&record.Options{Logger: "e2e"})
	logEvent := func(lctx context.Context, seq int) {
		r := slog.NewRecord(time.Now(), slog.LevelInfo, "event", 0)
		r.AddAttrs(slog.Int("seq", seq))
		require.NoError(t, app.RawPublish(ctx, stream, enc.Append(nil, lctx, r)))
	}
	logEvent(inTrace(traceA), 0)
	logEvent(ctx, 1)
	require.NoError(t, app.RawPublish(inTrace(traceA), stream, []byte(`{"schema":"Order:1","data":{"id":7}}`)))
	logEvent(inTrace(traceB), 2) // last: once it is collected, everything was handled
}

// tail --trace-id prints the log events of that trace and the messages
// whose traceparent header names it, and nothing else.
func TestTailTraceID(t *testing.T) {
	e := newCollectEnv(t)
	e.publishTraced(t, "orders")
	stdout, stderr, code := runKafkaesk(t, "", e.tailArgs("orders", "--from-beginning", "--exit", "--format", "json",
		"--trace-id", strings.ToUpper(traceA))...)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 2, stdout)
	assert.Contains(t, lines[0], `"trace_id":"`+traceA+`"`)
	assert.Contains(t, lines[0], `"seq":0`)
	assert.Equal(t, `{"schema":"Order:1","data":{"id":7}}`, lines[1])

	stdout, stderr, code = runKafkaesk(t, "", e.tailArgs("orders", "--from-beginning", "--exit",
		"--trace-id", traceA, "--trace-id", traceB)...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 3, strings.Count(stdout, "\n"), stdout)
	assert.Contains(t, stdout, "trace_id="+traceB)
}

// collect --trace-id writes only the events of the given traces.
func TestCollectTraceID(t *testing.T) {
	e := newCollectEnv(t)
	e.publishTraced(t, "logs.api")
	path := filepath.Join(e.dir, "events.jsonl")
	p := startKafkaesk(t, e.args("--pattern", "logs.*", "--output", "jsonl:"+path, "--trace-id", traceB)...)
	waitSeqs(t, path, 1)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())
	assert.Equal(t, map[int]int{2: 1}, fileSeqs(t, path))
	assert.Contains(t, p.stderr(), "written 1, skipped 1 (not log events), dropped 2 (filtered)")
}

// A --trace-id that is not a trace id is a usage error.
func TestTraceIDFlagUsage(t *testing.T) {
	for _, args := range [][]string{
		{"tail", "logs.*", "--trace-id", "abc"},
		{"collect", "--pattern", "logs.*", "--group", "g", "--trace-id", traceA, "--trace-id", "abc"},
		{"collect", "--pattern", "logs.*", "--group", "g", "--trace-id", "00000000000000000000000000000000"},
	} {
		_, stderr, code := runMain(context.Background(), "", args...)
		assert.Equal(t, 2, code, "%v: %s", args, stderr)
		assert.Contains(t, stderr, "--trace-id", args)
		assert.Contains(t, stderr, "is not a trace id", args)
	}
}
