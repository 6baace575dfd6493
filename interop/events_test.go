package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
)

// Address is the nested object of Event: models.Address in Python.
type Address struct {
	Street string `json:"street"`
	City   string `json:"city"`
}

// Event has every kind of JSON value, in the field order of Python's
// models.Event, so that both sides write its members in one order.
type Event struct {
	Text    string         `json:"text"`
	Count   int64          `json:"count"`
	Ratio   float64        `json:"ratio"`
	OK      bool           `json:"ok"`
	Nothing *string        `json:"nothing"`
	Tags    []string       `json:"tags"`
	Address Address        `json:"address"`
	Attrs   map[string]int `json:"attrs"`
	Unicode string         `json:"unicode"`
}

// sampleEvents are the events exchanged both ways. Where the envelope
// contract says both sides write the same bytes, the values stay inside
// it: no whole floats (Go writes 2, Python 2.0), and map keys in sorted
// order (Go sorts them; Python keeps insertion order, and the specs the
// Python programs read are encoded by Go, sorted).
func sampleEvents() []Event {
	present := "present"
	return []Event{
		{
			Text:    "first",
			Count:   9007199254740993, // 2^53+1: exact only as an integer, never through a float64
			Ratio:   2.5,
			OK:      true,
			Nothing: nil,
			Tags:    []string{"a", "b c", ""},
			Address: Address{Street: "1 Main St", City: "Springfield"},
			Attrs:   map[string]int{"a": 1, "b": -2, "z": 0},
			Unicode: "héllo wörld ✓ 日本語 😀 <a href=\"x\">&amp;</a> tab\t quote\" backslash\\ ctrl\x01 del\x7f",
		},
		{
			Text:    "second",
			Count:   -7,
			Ratio:   -0.125,
			OK:      false,
			Nothing: &present,
			Tags:    []string{},
			Address: Address{Street: "Bahnhofstraße 5", City: "Zürich"},
			Attrs:   map[string]int{},
			Unicode: "Ελληνικά русский עברית العربية",
		},
	}
}

// eventByText returns the sample event whose Text is text.
func eventByText(t *testing.T, text string) Event {
	t.Helper()
	for _, e := range sampleEvents() {
		if e.Text == text {
			return e
		}
	}
	t.Fatalf("no sample event has text %q", text)
	return Event{}
}

// pyPublished is a line of publish.py: where a message landed.
type pyPublished struct {
	Stream    string  `json:"stream"`
	Key       *string `json:"key"`
	Partition int     `json:"partition"`
	Offset    int64   `json:"offset"`
	Schema    string  `json:"schema"`
}

// pyMessage is one message of publish.py's spec.
type pyMessage struct {
	Stream string  `json:"stream"`
	Model  string  `json:"model"`
	Data   any     `json:"data"`
	Key    *string `json:"key"`
}

// pySubscribed is a line of subscribe.py: a message as @app.subscribe
// handed it to a handler with a pydantic model.
type pySubscribed struct {
	Schema    string          `json:"schema"`
	Data      json.RawMessage `json:"data"` // model.dict()
	Partition int             `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       *string         `json:"key"`
	Value     []byte          `json:"value"`    // the record value
	Kafkaesk  []byte          `json:"kafkaesk"` // what kafkaesk's publish writes for the model value
	Orjson    []byte          `json:"orjson"`   // the value's JSON, written by orjson
	Headers   [][2]string     `json:"headers"`  // as Python decoded them, UTF-8
}

// subscribeSpec is subscribe.py's spec.
func subscribeSpec(stream, group, model string, count int) map[string]any {
	return map[string]any{"stream": stream, "group": group, "model": model, "count": count, "timeout": 40}
}

func strPtr(s string) *string { return &s }

// goMessage is what a Go handler received, copied out of the Message.
type goMessage[T any] struct {
	data   T
	schema string
	key    []byte
	value  []byte
}

// collect subscribes a handler to stream in group that gathers what it
// receives into got.
func collect[T any](t *testing.T, app *core.Application, stream, group string) (*received[goMessage[T]], *core.Subscription) {
	t.Helper()
	got := newReceived[goMessage[T]]()
	sub, err := core.Subscribe(app, stream, group, func(_ context.Context, m *core.Message[T]) error {
		got.add(goMessage[T]{data: m.Data, schema: m.Schema, key: bytes.Clone(m.Record.Key), value: bytes.Clone(m.Record.Value)})
		return nil
	}, nil)
	require.NoError(t, err)
	return got, sub
}

// Python publishes pydantic models with app.publish; a Go subscription on
// the registered struct decodes every field of them. And Go, publishing
// the values it decoded, writes the very bytes Python wrote.
func TestEventsFromPython(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := e.app(t, e.config())
	core.MustRegister[Event](app, nil)
	got, sub := collect[Event](t, app, "events", e.group("go"))
	startRun(t, app)

	var msgs []pyMessage
	for i, ev := range sampleEvents() {
		msgs = append(msgs, pyMessage{Stream: "events", Model: "Event", Data: ev, Key: strPtr(fmt.Sprint("key-", i))})
	}
	published := python[pyPublished](t, e, "publish.py", map[string]any{"messages": msgs})
	require.Len(t, published, len(msgs))

	received := got.waitFor(t, len(msgs), 30*time.Second, sub)
	require.Len(t, received, len(msgs), "each message once")
	ctx := testContext(t)
	pythonBytes := map[string][]byte{}
	for _, m := range received {
		want := eventByText(t, m.data.Text)
		assert.Equal(t, want, m.data, "Go's decoding of Python's %q", m.data.Text)
		assert.Equal(t, "Event:1", m.schema)
		pythonBytes[string(m.key)] = m.value
		require.NoError(t, app.Publish(ctx, "events.go", m.data, core.Key(m.key)))
	}

	// What Go publishes for the same values is byte for byte what Python
	// published: member order, strings (non-ASCII raw, <>& unescaped),
	// integers past 2^53, floats, null, nested objects, lists.
	for _, m := range testutil.ReadTopic(t, e.brokers, app.Topic("events.go"), len(msgs), 30*time.Second) {
		py, ok := pythonBytes[string(m.Key)]
		require.True(t, ok, "Go published key %q, which Python did not", m.Key)
		assert.Equal(t, string(py), string(m.Value), "Go's envelope for key %q against Python's", m.Key)
	}
}

// Go publishes structs; a Python @app.subscribe handler with the pydantic
// model gets every field, and kafkaesk would write for the model value it
// decoded the very bytes Go wrote.
func TestEventsToPython(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := e.app(t, e.config())
	core.MustRegister[Event](app, nil)
	ctx := testContext(t)
	for i, ev := range sampleEvents() {
		require.NoError(t, app.Publish(ctx, "events", ev, core.Key(fmt.Append(nil, "key-", i))))
	}
	goBytes := map[string][]byte{}
	for _, m := range testutil.ReadTopic(t, e.brokers, app.Topic("events"), len(sampleEvents()), 30*time.Second) {
		goBytes[string(m.Key)] = m.Value
	}

	got := python[pySubscribed](t, e, "subscribe.py", subscribeSpec("events", e.group("py"), "Event", len(sampleEvents())))
	require.Len(t, got, len(sampleEvents()), "each message once")
	for _, s := range got {
		var ev Event
		require.NoError(t, json.Unmarshal(s.Data, &ev), "Python's model.dict() %s", s.Data)
		want := eventByText(t, ev.Text)
		assert.Equal(t, asJSON(t, want), jsonValue(t, s.Data), "Python's model of Go's %q, every field", want.Text)
		assert.Equal(t, "Event:1", s.Schema)
		require.NotNil(t, s.Key, "the key of %q", want.Text)
		assert.Equal(t, string(goBytes[*s.Key]), string(s.Value), "the record value Python read")
		assert.Equal(t, string(s.Kafkaesk), string(s.Value), "Go's envelope of %q against kafkaesk's for the same model value", want.Text)
	}
}
