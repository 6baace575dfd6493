package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kafkaesk-go/kafkaesk/asyncapi/asyncapitest"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// The HTTP server, the traffic generator, the Kafka handler's worker and
// the application must all be gone once run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait of these tests: generous, for a loaded machine.
const wait = 30 * time.Second

// output is a writer safe for concurrent use that keeps what is written
// and wakes those waiting for it.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced by every Write
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.buf.Write(p)
}

// snapshot returns what was written so far, and a channel closed by the
// next Write.
func (o *output) snapshot() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.changed
}

func (o *output) String() string {
	s, _ := o.snapshot()
	return s
}

// service is run on a goroutine of its own, as main runs it.
type service struct {
	url            string
	stdout, stderr *output
	cancel         context.CancelFunc // SIGINT
	done           chan struct{}      // closed once run has returned
	code           int                // run's result; read after done
}

// startService runs the service with args and waits until it listens.
// The test's cleanup stops it, if the test has not.
func startService(t *testing.T, args ...string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{stdout: newOutput(), stderr: newOutput(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.code = run(ctx, args, s.stdout, s.stderr)
	}()
	t.Cleanup(func() { s.stop(t) })
	out := s.waitFor(t, s.stdout, func(out string) bool { return strings.Contains(out, "listening on ") })
	_, after, _ := strings.Cut(out, "listening on ")
	s.url, _, _ = strings.Cut(after, "\n")
	require.True(t, strings.HasPrefix(s.url, "http://127.0.0.1:"), "stdout: %q", out)
	return s
}

// waitFor waits until cond holds for what o holds, and returns it. It
// fails the test when run returns first or the wait passes.
func (s *service) waitFor(t *testing.T, o *output, cond func(string) bool) string {
	t.Helper()
	deadline := time.After(wait)
	for {
		text, changed := o.snapshot()
		if cond(text) {
			return text
		}
		select {
		case <-changed:
		case <-s.done:
			if text := o.String(); cond(text) {
				return text
			}
			t.Fatalf("run returned %d first; stdout:\n%s\nstderr:\n%s", s.code, s.stdout, s.stderr)
		case <-deadline:
			t.Fatalf("not there after %v; stdout:\n%s\nstderr:\n%s", wait, s.stdout, s.stderr)
		}
	}
}

// stop stops the service as SIGINT does and returns its exit code.
func (s *service) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Fatalf("run did not return within %v of the stop; stderr:\n%s", wait, s.stderr)
	}
	return s.code
}

// get requests path, with the headers of keyValues (name, value, ...).
func (s *service) get(t *testing.T, path string, keyValues ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(keyValues); i += 2 {
		req.Header.Set(keyValues[i], keyValues[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// readEvents reads back every log event of topic.
func readEvents(t *testing.T, brokers []string, topic string) []*record.Event {
	t.Helper()
	n := testutil.MessageCount(t, brokers, topic)
	var events []*record.Event
	// One partition holds them all (keyed by the hostname), in order.
	for _, m := range testutil.ReadTopic(t, brokers, topic, int(n), wait) {
		ev, err := record.DecodeEvent(m.Value)
		require.NoError(t, err)
		events = append(events, ev)
	}
	return events
}

// Every request is logged to the console and, as a kafkaesk log event with
// the HTTPRequest model's fields, to the stream; a stop delivers them all.
// Each request's lines carry its span's trace id, the caller's when the
// request has a traceparent.
func TestRunLogsToKafkaAndConsole(t *testing.T) {
	brokers := kafkaesktest.Brokers(t)
	prefix := kafkaesktest.TopicPrefix(t)
	svc := startService(t,
		"--kafka-servers", strings.Join(brokers, ","),
		"--topic-prefix", prefix,
		"--addr", "127.0.0.1:0",
		"--stream", "logs.service-test",
	)

	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, r := range []struct {
		path   string
		status int
		header []string
	}{
		{"/hello?name=ana", 200, []string{"traceparent", "00-" + callerTrace + "-00f067aa0ba902b7-01"}},
		{"/orders/7", 200, nil},
		{"/orders/404", 404, nil},
		{"/checkout", 503, nil},
		{"/healthz", 200, nil},
	} {
		status, body := svc.get(t, r.path, r.header...)
		assert.Equal(t, r.status, status, "GET %s: %s", r.path, body)
	}
	// kafkaesk's metrics and the logging pipeline's, once the requests'
	// events are delivered.
	stream := `stream_id="` + prefix + `logs.service-test"`
	var metrics string
	require.Eventually(t, func() bool {
		var status int
		status, metrics = svc.get(t, "/metrics")
		return status == 200 && strings.Contains(metrics, `kafkaesk_log_events_total{outcome="published",`+stream+`} 7`)
	}, 20*time.Second, 50*time.Millisecond, "the 7 events of the requests delivered")
	for _, want := range []string{
		`kafkaesk_published_messages_total{error="none",partition=`,
		`kafkaesk_log_events_enqueued_total{` + stream + `} 7`,
		`kafkaesk_log_queue_capacity_events{` + stream + `} 10000`,
		`kafkaesk_log_delivery_seconds_count{` + stream + `} 7`,
		"go_goroutines",
	} {
		assert.True(t, strings.Contains(metrics, want), "/metrics has no %s", want)
	}
	require.Equal(t, 0, svc.stop(t), "stderr:\n%s", svc.stderr)

	topic := prefix + "logs.service-test"
	events := readEvents(t, brokers, topic)
	var got []string
	traces := map[string]string{} // the trace id of each line of got
	for _, ev := range events {
		assert.Equal(t, "example-service", ev.Logger)
		line := ev.Severity + " " + ev.Message
		if ev.Message == "request" {
			line += fmt.Sprintf(" %s %s %s", ev.Fields["method"], ev.Fields["path"], ev.Fields["status"])
			assert.Contains(t, string(ev.Fields["remote"]), `"127.0.0.1:`)
			assert.Contains(t, ev.Fields, "duration_ms")
			assert.Contains(t, ev.Fields, "bytes")
		}
		got = append(got, line)
		var traceID string
		if raw, ok := ev.Fields["trace_id"]; ok {
			require.NoError(t, json.Unmarshal(raw, &traceID))
			assert.Regexp(t, "^[0-9a-f]{32}$", traceID)
			assert.Regexp(t, `^"[0-9a-f]{16}"$`, string(ev.Fields["span_id"]))
		}
		traces[line] = traceID
	}
	assert.Equal(t, []string{
		"INFO service started",
		`INFO request "GET" "/hello" 200`,
		`INFO request "GET" "/orders/7" 200`,
		"WARNING order not found",
		`WARNING request "GET" "/orders/404" 404`,
		"ERROR checkout failed",
		`ERROR request "GET" "/checkout" 503`,
		// /healthz and /metrics are logged at DEBUG, below the handlers' level
		"INFO service stopped",
	}, got)
	assert.Contains(t, svc.stdout.String(), fmt.Sprintf("delivered %d log events to %s\n", len(events), topic))
	// Lines outside a request have no trace; a request's lines share its own.
	assert.Empty(t, traces["INFO service started"])
	assert.Equal(t, callerTrace, traces[`INFO request "GET" "/hello" 200`], "the caller's trace continues")
	assert.NotEmpty(t, traces[`INFO request "GET" "/orders/7" 200`])
	assert.NotEqual(t, callerTrace, traces[`INFO request "GET" "/orders/7" 200`], "a request without traceparent starts its own trace")
	assert.Equal(t, traces["WARNING order not found"], traces[`WARNING request "GET" "/orders/404" 404`])
	assert.Equal(t, traces["ERROR checkout failed"], traces[`ERROR request "GET" "/checkout" 503`])
	assert.NotEqual(t, traces["WARNING order not found"], traces["ERROR checkout failed"])

	console := svc.stderr.String()
	for _, want := range []string{
		" INF service started addr=127.0.0.1:",
		" INF request: method=GET, path=/hello, status=200, duration_ms=",
		" WRN order not found order_id=404 trace_id=" + traces["WARNING order not found"] + " span_id=",
		" INF request: method=GET, path=/hello, status=200, duration_ms=",
		" trace_id=" + callerTrace + " span_id=",
		" WRN request: method=GET, path=/orders/404, status=404, duration_ms=",
		` ERR checkout failed err="charge card: payment provider unavailable"`,
		" ERR request: method=GET, path=/checkout, status=503, duration_ms=",
		" INF service stopped\n", // outside a request: no trace
	} {
		assert.Contains(t, console, want)
	}
	assert.NotContains(t, console, "path=/healthz")
}

// --traffic requests the service's own endpoints until the stop.
func TestRunTraffic(t *testing.T) {
	brokers := kafkaesktest.Brokers(t)
	prefix := kafkaesktest.TopicPrefix(t)
	svc := startService(t,
		"--kafka-servers", strings.Join(brokers, ","),
		"--topic-prefix", prefix,
		"--addr", "127.0.0.1:0",
		"--traffic", "50",
	)
	const n = 5
	svc.waitFor(t, svc.stderr, func(out string) bool { return strings.Count(out, " request: method=GET, path=") >= n })
	require.Equal(t, 0, svc.stop(t), "stderr:\n%s", svc.stderr)
	assert.NotContains(t, svc.stderr.String(), "traffic: request failed")

	requests := 0
	for _, ev := range readEvents(t, brokers, prefix+"logs.example-service") {
		if ev.Message != "request" {
			continue
		}
		requests++
		path := string(ev.Fields["path"])
		assert.True(t, strings.HasPrefix(path, `"/hello`) || strings.HasPrefix(path, `"/orders/`) || path == `"/checkout"`, "path %s", path)
	}
	assert.GreaterOrEqual(t, requests, n)
}

func TestRunBadFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown flag", []string{"--nope"}, "flag provided but not defined: -nope"},
		{"negative traffic", []string{"--traffic", "-1"}, `invalid value "-1" for flag -traffic: want 0 to 1000 requests a second`},
		{"too much traffic", []string{"--traffic", "1001"}, `invalid value "1001" for flag -traffic`},
		{"traffic not a number", []string{"--traffic", "lots"}, `invalid value "lots" for flag -traffic`},
		{"address without port", []string{"--addr", "localhost"}, `invalid value "localhost" for flag -addr: address localhost: missing port in address`},
		{"empty stream", []string{"--stream", ""}, `invalid value "" for flag -stream`},
		{"no servers", []string{"--kafka-servers", ""}, `invalid value "" for flag -kafka-servers`},
		{"argument", []string{"serve"}, `unexpected argument "serve"`},
		{"bad settings", []string{"--kafka-settings", `{"sasl_plain_password":s3cret}`}, `flag --kafka-settings (value not shown: it may hold a password): settings are not a JSON object`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tt.args, &stdout, &stderr)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr.String(), tt.want)
			assert.Contains(t, stderr.String(), "Usage of service:")
			assert.Empty(t, stdout.String(), "it never listened")
			assert.NotContains(t, stderr.String(), "s3cret")
		})
	}
}

// An unreachable broker stops the service before it listens, naming the
// broker.
func TestRunUnreachableBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"--kafka-servers", addr, "--addr", "127.0.0.1:0"}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "service: kafkaesk: no Kafka broker reachable at "+addr)
	assert.Empty(t, stdout.String(), "it never listened")
}

// The service's --kafka-settings reach a secured cluster: it logs its
// traffic over SASL_SSL with SCRAM-SHA-512.
func TestRunTrafficOverSASLSSL(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	prefix := kafkaesktest.TopicPrefix(t)
	svc := startService(t,
		"--kafka-servers", strings.Join(s.SASLBrokers, ","),
		"--kafka-settings", s.Settings(s.Users[2]),
		"--topic-prefix", prefix,
		"--addr", "127.0.0.1:0",
		"--traffic", "50",
	)
	svc.waitFor(t, svc.stderr, func(out string) bool { return strings.Count(out, " request: method=GET, path=") >= 3 })
	require.Equal(t, 0, svc.stop(t), "stderr:\n%s", svc.stderr)
	assert.NotContains(t, svc.stderr.String(), "traffic: request failed")

	cfg := core.Config{Brokers: s.SASLBrokers, TopicPrefix: prefix}
	require.NoError(t, cfg.ApplySettings([]byte(s.Settings(s.Users[2]))))
	app, err := core.New(cfg)
	require.NoError(t, err)
	defer app.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	requests := 0
	err = app.Read(ctx, "logs.example-service", &core.ReadOptions{From: core.Earliest(), UntilEnd: true}, func(_ context.Context, rec *core.Record) error {
		ev, err := record.DecodeEvent(rec.Value)
		require.NoError(t, err)
		if ev.Message == "request" {
			requests++
		}
		return nil
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, requests, 3, "the requests' events are in the topic")
}

// The service serves its AsyncAPI document, valid against the official
// schema and describing its log stream, and the page to read it.
func TestRunServesItsAsyncAPIDocumentAndPage(t *testing.T) {
	brokers := kafkaesktest.Brokers(t)
	prefix := kafkaesktest.TopicPrefix(t)
	svc := startService(t, "--kafka-servers", strings.Join(brokers, ","), "--topic-prefix", prefix, "--addr", "127.0.0.1:0", "--stream", "logs.contract")
	get := func(path string) string {
		resp, err := http.Get(svc.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	doc := get("/asyncapi.json")
	require.NoError(t, asyncapitest.ValidateJSON([]byte(doc)))
	assert.Contains(t, doc, `"address": "`+prefix+`logs.contract"`)
	assert.Contains(t, doc, `"const": "PydanticLogModel:1"`)
	assert.Contains(t, get("/asyncapi.yaml"), "asyncapi: 3.0.0")
	page := get("/docs")
	assert.Contains(t, page, "<title>example-service 1.0.0: AsyncAPI</title>")
	assert.Contains(t, page, `id="components-messages-PydanticLogModel_v1"`)
	require.Equal(t, 0, svc.stop(t), "stderr:\n%s", svc.stderr)
}
