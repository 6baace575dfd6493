package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/record"
)

// events collects the log events a logger writes, encoded as the Kafka
// handler encodes them (record.Encoder), and decoded back.
type events struct {
	mu  sync.Mutex
	all []*record.Event
}

func (e *events) logger(t *testing.T, level slog.Level) *slog.Logger {
	return slog.New(record.NewHandler(func(b []byte) error {
		ev, err := record.DecodeEvent(b)
		if err != nil {
			t.Errorf("decode %s: %v", b, err)
			return err
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.all = append(e.all, ev)
		return nil
	}, level, &record.Options{Logger: "test"}))
}

func (e *events) summaries(t *testing.T) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		out = append(out, summary(t, ev))
	}
	return out
}

// summary is an event in one line: severity and message, then the request
// model's fields (all but the duration) or the other attributes.
func summary(t *testing.T, ev *record.Event) string {
	t.Helper()
	s := ev.Severity + " " + ev.Message
	if ev.Message == "request" {
		var req HTTPRequest
		require.NoError(t, json.Unmarshal(marshalFields(t, ev), &req))
		var duration float64
		require.NoError(t, json.Unmarshal(ev.Fields["duration_ms"], &duration), "duration_ms in %v", ev.Order)
		assert.GreaterOrEqual(t, duration, 0.0)
		return fmt.Sprintf("%s %s %s %d bytes=%d remote=%s", s, req.Method, req.Path, req.Status, req.Bytes, req.Remote)
	}
	for _, k := range ev.Order {
		s += " " + k + "=" + string(ev.Fields[k])
	}
	if ev.Exception != "" {
		s += " exception=" + ev.Exception + " stack=" + ev.Stack
	}
	return s
}

func marshalFields(t *testing.T, ev *record.Event) []byte {
	b, err := json.Marshal(ev.Fields)
	require.NoError(t, err)
	return b
}

// Each route answers as documented, and every request is logged once with
// the HTTPRequest model at the level its status calls for; handlers add
// their own WARN and ERROR events before it.
func TestServer(t *testing.T) {
	const remote = "192.0.2.1:1234" // httptest.NewRequest's
	for _, tt := range []struct {
		method, target string
		level          slog.Level
		wantStatus     int
		wantBody       string
		wantEvents     []string
	}{
		{"GET", "/hello?name=ana", slog.LevelInfo, 200, "hello, ana\n", []string{
			"INFO request GET /hello 200 bytes=11 remote=" + remote,
		}},
		{"GET", "/hello", slog.LevelInfo, 200, "hello, world\n", []string{
			"INFO request GET /hello 200 bytes=13 remote=" + remote,
		}},
		{"GET", "/orders/7", slog.LevelInfo, 200, `{"id":7,"status":"shipped"}` + "\n", []string{
			"INFO request GET /orders/7 200 bytes=28 remote=" + remote,
		}},
		{"GET", "/orders/101", slog.LevelInfo, 404, "404 page not found\n", []string{
			"WARNING order not found order_id=101",
			"WARNING request GET /orders/101 404 bytes=19 remote=" + remote,
		}},
		{"GET", "/orders/abc", slog.LevelInfo, 400, "the order id is a positive number\n", []string{
			"WARNING request GET /orders/abc 400 bytes=34 remote=" + remote,
		}},
		{"GET", "/checkout", slog.LevelInfo, 503, "checkout is unavailable, try again later\n", []string{
			`ERROR checkout failed err="charge card: payment provider unavailable" exception=error stack=charge card: payment provider unavailable`,
			"ERROR request GET /checkout 503 bytes=41 remote=" + remote,
		}},
		{"POST", "/hello", slog.LevelInfo, 405, "Method Not Allowed\n", []string{
			"WARNING request POST /hello 405 bytes=19 remote=" + remote,
		}},
		{"GET", "/healthz", slog.LevelInfo, 200, "ok\n", nil},
		{"GET", "/healthz", slog.LevelDebug, 200, "ok\n", []string{
			"DEBUG request GET /healthz 200 bytes=3 remote=" + remote,
		}},
	} {
		t.Run(fmt.Sprintf("%s %s at %s", tt.method, tt.target, tt.level), func(t *testing.T) {
			var got events
			rec := httptest.NewRecorder()
			newServer(got.logger(t, tt.level), nil, nil).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			resp := rec.Result()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantBody, string(body))
			assert.Equal(t, tt.wantEvents, got.summaries(t))
		})
	}
}

// The model's fields are merged into the event at the top level under
// their JSON names, as a Python kafkaesk consumer expects them.
func TestRequestEventFields(t *testing.T) {
	var got events
	rec := httptest.NewRecorder()
	newServer(got.logger(t, slog.LevelInfo), nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/orders/3", nil))
	require.Len(t, got.all, 1)
	ev := got.all[0]
	assert.Equal(t, "PydanticLogModel:1", ev.Schema)
	assert.Equal(t, []string{"method", "path", "status", "duration_ms", "bytes", "remote"}, ev.Order)
	assert.Equal(t, `"GET"`, string(ev.Fields["method"]))
	assert.Equal(t, `"/orders/3"`, string(ev.Fields["path"]))
	assert.Equal(t, `200`, string(ev.Fields["status"]))
	assert.NotContains(t, strings.Join(ev.Order, ","), "http", "the attribute's key is not a field")
}
