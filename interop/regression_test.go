package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// The four problems of issue 14, each seen from the other language.

// ContentV1 is a Go consumer's Content:1; Python's models.ContentV2, a
// newer deploy of the same schema, has one field more.
type ContentV1 struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// Issue 14, problem 1: a Python service adds a field to a model (pydantic
// ignores unknown fields, so Python consumers live through the deploy).
// A Go Subscribe on the registered struct must handle its messages too,
// the unknown field ignored. Bug: the generated JSON Schema said
// additionalProperties: false, and every such message was skipped, its
// offset committed: lost for that consumer.
func TestRegressionPythonAddedField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := e.app(t, e.config())
	core.MustRegister[ContentV1](app, &core.SchemaOptions{ID: "Content"})
	got, sub := collect[ContentV1](t, app, "content", e.group("go"))
	startRun(t, app)

	python[pyPublished](t, e, "publish.py", map[string]any{
		"schemas": []map[string]any{{"model": "ContentV2", "id": "Content", "version": 1}},
		"messages": []pyMessage{{Stream: "content", Model: "ContentV2", Data: map[string]any{
			"id": "c-1", "title": "evolved", "added": map[string][]int{"by": {1, 2}},
		}}},
	})
	m := got.waitFor(t, 1, 30*time.Second, sub)[0]
	assert.Equal(t, ContentV1{ID: "c-1", Title: "evolved"}, m.data)
	assert.Equal(t, "Content:1", m.schema)
	assert.Contains(t, string(m.value), `"added":{"by":[1,2]}`, "Python's message carries the added field")
	assert.Zero(t, sub.Stats().Skipped, "messages skipped")
}

// Stamped is Python's models.Stamped: the datetimes Python code sends.
type Stamped struct {
	Name       string    `json:"name"`
	UTCNow     time.Time `json:"utcnow"`
	NaiveWhole time.Time `json:"naive_whole"`
	Aware      time.Time `json:"aware"`
}

// pyStamped is publish_datetimes.py's line: for each datetime field, the
// JSON string orjson wrote and the instant it means.
type pyStamped struct {
	Schema string `json:"schema"`
	Fields map[string]struct {
		JSON       string `json:"json"`
		UnixMicros int64  `json:"unix_micros"`
	} `json:"fields"`
}

// Issue 14, problem 2: Python's datetimes must decode into time.Time
// fields of a registered struct. datetime.utcnow() and other naive
// datetimes are written by orjson with no offset ("2024-05-01T12:00:00.123456",
// or with no fraction at all when microsecond is 0), and are UTC; aware
// ones end in "+00:00". Bug: time.Time takes RFC 3339 only, so such
// messages failed to decode and were skipped.
func TestRegressionPythonDatetimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := e.app(t, e.config())
	core.MustRegister[Stamped](app, nil)
	got, sub := collect[Stamped](t, app, "stamped", e.group("go"))
	startRun(t, app)

	out := python[pyStamped](t, e, "publish_datetimes.py", map[string]any{"stream": "stamped"})
	require.Len(t, out, 1)
	sent := out[0]
	require.Equal(t, "2024-05-01T12:00:00", sent.Fields["naive_whole"].JSON, "a naive datetime without microseconds, as orjson writes it")
	require.Equal(t, "2024-05-01T12:00:00.123456+00:00", sent.Fields["aware"].JSON, "an aware UTC datetime, as orjson writes it")
	require.NotRegexp(t, `(Z|[+-]\d\d:\d\d)$`, sent.Fields["utcnow"].JSON, "datetime.utcnow() is naive")

	m := got.waitFor(t, 1, 20*time.Second, sub)[0]
	for name, f := range sent.Fields {
		assert.Contains(t, string(m.value), fmt.Sprintf("%q:%q", name, f.JSON), "the message as Python sent it")
	}
	assert.Equal(t, "python datetimes", m.data.Name)
	for _, f := range []struct {
		name string
		got  time.Time
	}{{"utcnow", m.data.UTCNow}, {"naive_whole", m.data.NaiveWhole}, {"aware", m.data.Aware}} {
		sent := sent.Fields[f.name]
		want := time.UnixMicro(sent.UnixMicros).UTC()
		assert.True(t, f.got.Equal(want), "field %s: Python's %q decoded as %v, want %v (naive read as UTC)", f.name, sent.JSON, f.got, want)
	}
}

// lineSeparators is a string with U+2028 and U+2029, which encoding/json
// escapes and orjson writes as raw UTF-8.
const lineSeparators = "line\u2028separator\u2029paragraph"

// Issue 14, problem 3: Go must write strings as orjson does, U+2028 and
// U+2029 included, in envelopes and in log events alike: raw UTF-8
// bytes, never "\u2028". Checked against orjson itself: the Python side
// re-encodes the JSON of each message with orjson and gets the message's
// own bytes. Bug: both were written escaped, as encoding/json does.
func TestRegressionLineSeparatorsAsOrjson(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := e.app(t, e.config())
	core.MustRegister[Event](app, nil)
	ctx := testContext(t)
	ev := sampleEvents()[0]
	ev.Text, ev.Unicode = lineSeparators, "u2028 \u2028 u2029 \u2029"
	require.NoError(t, app.Publish(ctx, "sep.events", ev))

	h, err := sloghandler.New(app, "sep.logs", &sloghandler.Options{Logger: "interop-go", Warnings: &bytes.Buffer{}})
	require.NoError(t, err)
	slog.New(h).Info(lineSeparators, "note", "c\u2029d")
	require.NoError(t, h.Close(ctx))

	// PydanticLogModel takes any object: both streams read with one model.
	got := python[pySubscribed](t, e, "subscribe.py", subscribeSpec("sep.*", e.group("py"), "PydanticLogModel", 2))
	require.Len(t, got, 2)
	for _, s := range got {
		var data struct {
			Text    string `json:"text"`
			Message string `json:"message"`
		}
		require.NoError(t, json.Unmarshal(s.Data, &data))
		assert.Equal(t, lineSeparators, data.Text+data.Message, "the string Python decoded")
		assert.True(t, bytes.Contains(s.Value, []byte("\u2028")) && bytes.Contains(s.Value, []byte("\u2029")),
			"the message holds U+2028 and U+2029 as raw UTF-8: %q", s.Value)
		assert.Equal(t, string(s.Orjson), string(s.Value), "Go's message against orjson's encoding of the same JSON")
	}
}

// pyLogged is a line of log.py: what a Python logging call should produce.
type pyLogged struct {
	Message     string          `json:"message"`
	Logger      string          `json:"logger"`
	Severity    string          `json:"severity"`
	Level       int             `json:"level"`
	Exception   *string         `json:"exception"`
	Stack       *string         `json:"stack"`
	TracePrefix *string         `json:"trace_prefix"`
	Fields      json.RawMessage `json:"fields"`
	Hostname    string          `json:"hostname"`
	Before      int64           `json:"before"` // unix micros
	After       int64           `json:"after"`
}

// Issue 14, problem 4: an error in a log event means the same on both
// sides. Python puts the exception's class name in "exception" and the
// formatted traceback in "stack". Go must put a meaningful type name
// there (the error's own, not a wrapper's such as *fmt.wrapError), and
// the error chain's text first in "stack". Bug: Go wrote the outermost
// error's Go type and only its text.
func TestRegressionLoggedExceptions(t *testing.T) {
	t.Parallel()
	t.Run("python to go", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		want := python[pyLogged](t, e, "log.py", map[string]any{"stream": "logs", "logger": "interop.python", "calls": []string{"exception"}})
		require.Len(t, want, 1)
		require.NotNil(t, want[0].Stack)
		msgs := testutil.ReadTopic(t, e.brokers, e.prefix+"logs", 1, 30*time.Second)
		ev, err := record.DecodeEvent(msgs[0].Value)
		require.NoError(t, err, "record.DecodeEvent(%s)", msgs[0].Value)
		assert.Equal(t, "ValueError", ev.Exception)
		assert.Equal(t, *want[0].Stack, ev.Stack, "the traceback logging formats")
		assert.True(t, strings.HasPrefix(ev.Stack, "Traceback (most recent call last):\n"), "stack %q", ev.Stack)
		assert.True(t, strings.HasSuffix(ev.Stack, "\nValueError: bad value 42"), "stack %q ends with the exception", ev.Stack)
		assert.Equal(t, "it failed: load", ev.Message)
	})
	t.Run("go to python", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		app := e.app(t, e.config())
		h, err := sloghandler.New(app, "logs", &sloghandler.Options{Logger: "interop-go", Warnings: &bytes.Buffer{}})
		require.NoError(t, err)
		cause := fmt.Errorf("load config: %w", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT})
		slog.New(h).Error("startup failed", "err", cause)
		require.NoError(t, h.Close(context.Background()))

		got := python[pySubscribed](t, e, "subscribe.py", subscribeSpec("logs", e.group("py"), "PydanticLogModel", 1))
		require.Len(t, got, 1)
		var data struct {
			Message   string  `json:"message"`
			Exception *string `json:"exception"`
			Stack     *string `json:"stack"`
		}
		require.NoError(t, json.Unmarshal(got[0].Data, &data), "%s", got[0].Data)
		assert.Equal(t, "startup failed", data.Message)
		if assert.NotNil(t, data.Exception, "exception is null") {
			assert.Equal(t, "fs.PathError", *data.Exception, "the meaningful type, not the wrapper's")
		}
		if assert.NotNil(t, data.Stack, "stack is null") {
			first, _, _ := strings.Cut(*data.Stack, "\n")
			assert.Equal(t, "load config: open /x: no such file or directory", first, "stack's first line is the error's text")
		}
	})
}
