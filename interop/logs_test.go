package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// UserLog is a Go log model, as Python's models.UserLog: its fields join
// the log event.
type UserLog struct {
	record.Model
	User     string `json:"user"`
	Attempts int    `json:"attempts"`
}

// goLogged is what one Go logging call should produce, for Python to see.
type goLogged struct {
	log      func(l *slog.Logger)
	message  string
	severity string
	level    int
	fields   map[string]any // the fields beyond the base ones
}

// nullable is s as a JSON value: null when empty.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sloghandler's events, read by a Python @app.subscribe handler with
// kafkaesk's PydanticLogModel: every base field (timestamp, logger,
// severity, level, message, exception, trace, stack, hostname, service,
// namespace, cluster) and every extra field (log model, attribute, group)
// as Python sees it, and the event's bytes as orjson writes them.
func TestLogsToPython(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := e.app(t, e.config())
	h, err := sloghandler.New(app, "logs", &sloghandler.Options{Level: slog.LevelDebug, Logger: "interop-go", Warnings: &bytes.Buffer{}})
	require.NoError(t, err)
	calls := []goLogged{
		{
			log: func(l *slog.Logger) {
				l.Info("signed in", "who", UserLog{User: "ana", Attempts: 3}, "request_id", "r-1",
					slog.Group("http", "method", "GET", "status", 200))
			},
			message: "signed in", severity: "INFO", level: 20,
			fields: map[string]any{"user": "ana", "attempts": 3, "request_id": "r-1", "http": map[string]any{"method": "GET", "status": 200}},
		},
		{
			log:     func(l *slog.Logger) { l.Warn("slow", "elapsed_ms", 1500.5, "ok", false, "tags", []string{"x", "y"}) },
			message: "slow", severity: "WARNING", level: 30,
			fields: map[string]any{"elapsed_ms": 1500.5, "ok": false, "tags": []string{"x", "y"}},
		},
		{
			log:     func(l *slog.Logger) { l.Debug("débogage ✓") },
			message: "débogage ✓", severity: "DEBUG", level: 10, fields: map[string]any{},
		},
	}
	logger := slog.New(h)
	before := time.Now()
	for _, c := range calls {
		c.log(logger)
	}
	after := time.Now()
	require.NoError(t, h.Close(testContext(t)))

	got := python[pySubscribed](t, e, "subscribe.py", subscribeSpec("logs", e.group("py"), "PydanticLogModel", len(calls)))
	require.Len(t, got, len(calls))
	host := record.LocalHost()
	for i, s := range got { // the handler's key (the hostname) keeps them on one partition, in order
		c := calls[i]
		data := jsonValue(t, s.Data).(map[string]any)
		stamp, _ := data["timestamp"].(string)
		ts, err := time.Parse(time.RFC3339Nano, stamp)
		if assert.NoError(t, err, "timestamp %q", stamp) {
			assert.False(t, ts.Before(before.Truncate(time.Microsecond)) || ts.After(after), "timestamp %v is not between %v and %v", ts, before, after)
		}
		want := map[string]any{
			"timestamp": stamp, "logger": "interop-go", "severity": c.severity, "level": c.level, "message": c.message,
			"exception": nil, "trace": nil, "stack": nil, "hostname": host.Hostname, "service": host.Service,
			"namespace": nullable(host.Namespace), "cluster": clusterName,
		}
		for k, v := range c.fields {
			want[k] = v
		}
		assert.Equal(t, asJSON(t, want), data, "event %d (%q) as Python's PydanticLogModel holds it", i, c.message)
		assert.Equal(t, "PydanticLogModel:1", s.Schema)
		assert.Equal(t, string(s.Orjson), string(s.Value), "event %d's bytes against orjson's encoding of the same JSON", i)
	}
}

// Python's PydanticKafkaeskHandler logs (a log model and a %-argument, a
// warning with logging's extra=, an exception, stack_info, a debug line);
// Go reads every field back with record.DecodeEvent on consumed values,
// with a core.Subscribe handler of record.Event, and the kafkaesk collect
// command writes the same events.
func TestLogsFromPython(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := python[pyLogged](t, e, "log.py", map[string]any{"stream": "logs", "logger": "interop.python"})
	require.Len(t, want, 5)

	t.Run("record.DecodeEvent", func(t *testing.T) {
		t.Parallel()
		app := e.app(t, e.config())
		got, sub := collect[[]byte](t, app, "logs", e.group("go"))
		startRun(t, app)
		msgs := got.waitFor(t, len(want), 30*time.Second, sub)
		require.Len(t, msgs, len(want), "each event once")
		for _, m := range msgs {
			ev, err := record.DecodeEvent(m.data)
			require.NoError(t, err, "record.DecodeEvent(%s)", m.data)
			checkPythonEvent(t, ev, want)
		}
	})

	t.Run("core.Subscribe[record.Event]", func(t *testing.T) {
		t.Parallel()
		app := e.app(t, e.config())
		got, sub := collect[record.Event](t, app, "logs", e.group("typed"))
		startRun(t, app)
		msgs := got.waitFor(t, len(want), 30*time.Second, sub)
		require.Len(t, msgs, len(want), "each event once")
		for _, m := range msgs {
			checkPythonEvent(t, &m.data, want)
		}
	})

	t.Run("kafkaesk collect", func(t *testing.T) {
		t.Parallel()
		lines, pretty := runCollect(t, e, "logs", len(want))
		for _, line := range lines {
			// The command writes each event's data as published: record it
			// as an envelope again to decode it as Go does.
			ev, err := record.DecodeEvent(core.AppendEnvelope(nil, "PydanticLogModel:1", line))
			require.NoError(t, err, "event %s", line)
			checkPythonEvent(t, ev, want)
		}
		for _, w := range want {
			assert.Contains(t, pretty, w.Message, "the pretty output")
		}
		assert.Contains(t, pretty, "ValueError: bad value 42", "the pretty output shows the traceback")
	})
}

// checkPythonEvent checks ev, decoded by Go, against what log.py said
// the logging call with its message produces: every base field, and the
// extra fields exactly.
func checkPythonEvent(t *testing.T, ev *record.Event, logged []pyLogged) {
	t.Helper()
	var w *pyLogged
	for i := range logged {
		if logged[i].Message == ev.Message {
			w = &logged[i]
		}
	}
	require.NotNil(t, w, "Python logged no message %q", ev.Message)
	orEmpty := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	assert.Equal(t, "PydanticLogModel:1", ev.Schema)
	from, to := time.UnixMicro(w.Before), time.UnixMicro(w.After)
	assert.False(t, ev.Timestamp.Before(from) || ev.Timestamp.After(to),
		"%q: timestamp %v (Python's naive utcnow read as UTC) is not between %v and %v", w.Message, ev.Timestamp, from.UTC(), to.UTC())
	assert.Equal(t, w.Logger, ev.Logger, "logger")
	assert.Equal(t, w.Severity, ev.Severity, "severity")
	assert.Equal(t, w.Level, ev.Level, "level")
	assert.Equal(t, orEmpty(w.Exception), ev.Exception, "%q: exception", w.Message)
	assert.Equal(t, orEmpty(w.Stack), ev.Stack, "%q: stack", w.Message)
	if w.TracePrefix != nil {
		assert.True(t, strings.HasPrefix(ev.Trace, *w.TracePrefix), "%q: trace %q starts with %q", w.Message, ev.Trace, *w.TracePrefix)
		assert.Contains(t, ev.Trace, "log.py", "%q: trace names the logging call's file", w.Message)
	} else {
		assert.Empty(t, ev.Trace, "%q: trace", w.Message)
	}
	assert.Equal(t, w.Hostname, ev.Hostname, "hostname")
	assert.Equal(t, record.ServiceOf(w.Hostname), ev.Service, "service: kafkaesk's derivation from the hostname, the same in Go")
	assert.Empty(t, ev.Namespace, "namespace (no Kubernetes here)")
	assert.Equal(t, clusterName, ev.Cluster, "cluster")
	fields := map[string]any{}
	for k, raw := range ev.Fields {
		fields[k] = jsonValue(t, raw)
	}
	assert.Equal(t, jsonValue(t, w.Fields), any(fields), "%q: the extra fields (logging's extra= is not carried by kafkaesk)", w.Message)
}

// runCollect runs `kafkaesk collect` on stream until it has written n
// events, then stops it with SIGINT, and returns the events of its jsonl
// output and all its pretty output.
func runCollect(t *testing.T, e *env, stream string, n int) (lines [][]byte, pretty string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkaeskBin, "collect",
		"--kafka-servers", strings.Join(e.brokers, ","), "--topic-prefix", e.prefix,
		"--pattern", stream, "--group", e.group("collect"), "--http", "",
		"--kafka-settings", `{"auto_commit_interval_ms":100}`,
		"--output", "jsonl:"+path, "--output", "pretty")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(path) // jsonl output is flushed at each commit
		if lines = completeLines(data); len(lines) >= n {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-waited
			t.Fatalf("kafkaesk collect wrote %d of %d events in 30 s; its stderr:\n%s", len(lines), n, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-waited:
		require.NoError(t, err, "kafkaesk collect exits 0 after SIGINT; its stderr:\n%s", stderr.String())
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-waited
		t.Fatalf("kafkaesk collect did not exit within 20 s of SIGINT; its stderr:\n%s", stderr.String())
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines = completeLines(data)
	require.Len(t, lines, n, "events in %s: each once", path)
	for _, l := range lines {
		require.True(t, json.Valid(l), "jsonl line %q", l)
	}
	return lines, stdout.String()
}

// completeLines returns the whole lines of data, without their newlines.
func completeLines(data []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data[:bytes.LastIndexByte(data, '\n')+1]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}
