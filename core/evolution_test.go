package core_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// ContentV1 is a consumer's model; its producer's (a newer deploy, or a
// Python service) gained a field since.
type ContentV1 struct {
	ID    string `json:"id"`
	Title string `json:"title" jsonschema:"minLength=1"`
}

// A message with a field the registered schema does not know is handled,
// the unknown field ignored, as pydantic and encoding/json do; one that
// breaks the schema (a known field of the wrong type, a constraint) is
// still skipped.
func TestConsumedMessagesWithAddedFieldsAreHandled(t *testing.T) {
	cfg := fastConsumerConfig()
	cfg.Partitions = 1 // in order
	app, _ := newTestApp(t, cfg)
	core.MustRegister[ContentV1](app, &core.SchemaOptions{ID: "Content"})
	got := newCollector[ContentV1]()
	sub, err := core.Subscribe(app, "content", "group", func(_ context.Context, m *core.Message[ContentV1]) error {
		got.add(m.Data)
		return nil
	}, nil)
	require.NoError(t, err)
	ctx := testContext(t)
	for _, v := range []string{
		`{"schema":"Content:1","data":{"id":"a","title":"first","added":{"by":"python"},"tags":["x"]}}`,
		`{"schema":"Content:1","data":{"id":"b","title":7}}`,  // skipped: title is a string
		`{"schema":"Content:1","data":{"id":"c","title":""}}`, // skipped: minLength
		`{"schema":"Content:1","data":{"id":"d","title":"last","nested":null}}`,
	} {
		require.NoError(t, app.RawPublish(ctx, "content", []byte(v)))
	}
	run := startRun(t, app)
	assert.Equal(t, []ContentV1{{ID: "a", Title: "first"}, {ID: "d", Title: "last"}}, got.waitFor(t, 2, 20*time.Second))
	require.Eventually(t, func() bool { return sub.Stats().Skipped == 2 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, run.stop(t))

	// Publishing stays strict: the document is the contract of what we write.
	s, err := core.NewSchema[ContentV1](&core.SchemaOptions{ID: "Content"})
	require.NoError(t, err)
	assert.Error(t, s.Validate([]byte(`{"id":"a","title":"t","added":1}`)))
	assert.NoError(t, s.ValidateConsumed([]byte(`{"id":"a","title":"t","added":1}`)))
	assert.Error(t, s.ValidateConsumed([]byte(`{"id":"a"}`)), "a required field still is")
}

// Pinged carries times as Python services send them.
type Pinged struct {
	At      time.Time            `json:"at"`
	Seen    *time.Time           `json:"seen"`
	History []time.Time          `json:"history"`
	ByHost  map[string]time.Time `json:"by_host"`
	Text    string               `json:"text"` // holds a naive datetime, as text
}

// PingedRegistered is Pinged, registered: its data is validated first.
type PingedRegistered Pinged

// Python's naive datetimes (datetime.utcnow(), written by isoformat and
// orjson without an offset, with or without a fraction) decode into
// time.Time fields as UTC, at any depth, registered type or not; a string
// field holding the same text keeps it as it is.
func TestPythonDatetimesDecode(t *testing.T) {
	const value = `{"schema":"%s:1","data":{"at":"2024-05-01T12:00:00.123456","seen":"2024-05-01T12:00:00",` +
		`"history":["2024-05-01T12:00:00+00:00","2024-05-01T12:00:00.5Z"],"by_host":{"a":"2024-05-01T12:00:00.000001"},` +
		`"text":"2024-05-01T12:00:00","extra":"2024-05-01T12:00:00"}}`
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	want := Pinged{
		At: at.Add(123456 * time.Microsecond), Seen: &at,
		History: []time.Time{at, at.Add(500 * time.Millisecond)},
		ByHost:  map[string]time.Time{"a": at.Add(time.Microsecond)},
		Text:    "2024-05-01T12:00:00",
	}
	same := func(t *testing.T, got Pinged) {
		t.Helper()
		assert.True(t, got.At.Equal(want.At), "at %v, want %v", got.At, want.At)
		if assert.NotNil(t, got.Seen) {
			assert.True(t, got.Seen.Equal(*want.Seen), "seen %v", got.Seen)
		}
		if assert.Len(t, got.History, 2) {
			assert.True(t, got.History[0].Equal(want.History[0]) && got.History[1].Equal(want.History[1]), "history %v", got.History)
		}
		assert.True(t, got.ByHost["a"].Equal(want.ByHost["a"]), "by_host %v", got.ByHost)
		assert.Equal(t, want.Text, got.Text)
	}

	app, _ := newTestApp(t, fastConsumerConfig())
	core.MustRegister[PingedRegistered](app, &core.SchemaOptions{ID: "PingedRegistered"})
	plain := newCollector[Pinged]()
	registered := newCollector[PingedRegistered]()
	_, err := core.Subscribe(app, "pings", "plain", func(_ context.Context, m *core.Message[Pinged]) error {
		plain.add(m.Data)
		return nil
	}, nil)
	require.NoError(t, err)
	_, err = core.Subscribe(app, "pings", "registered", func(_ context.Context, m *core.Message[PingedRegistered]) error {
		registered.add(m.Data)
		return nil
	}, nil)
	require.NoError(t, err)
	ctx := testContext(t)
	require.NoError(t, app.RawPublish(ctx, "pings", []byte(fmt.Sprintf(value, "Pinged"))))
	run := startRun(t, app)
	same(t, plain.waitFor(t, 1, 20*time.Second)[0])
	same(t, Pinged(registered.waitFor(t, 1, 20*time.Second)[0]))
	require.NoError(t, run.stop(t))

	// Decode reads them too; what is not a time at all still fails, naming
	// the type.
	var env core.Envelope
	env, err = core.DecodeEnvelope([]byte(fmt.Sprintf(value, "Pinged")))
	require.NoError(t, err)
	got, err := core.Decode[Pinged](app, env)
	require.NoError(t, err)
	same(t, got)
	_, err = core.Decode[Pinged](app, core.Envelope{Schema: "Pinged:1", Data: []byte(`{"at":"yesterday"}`)})
	require.ErrorContains(t, err, "Pinged")
}

// ContentV2 is the next version of ContentV1's schema: a field renamed,
// so a new version, published next to the old on the same stream.
type ContentV2 struct {
	ID       string `json:"id"`
	Headline string `json:"headline" jsonschema:"minLength=1"`
}

// Content:1 and Content:2 on one stream: one subscription decodes each
// version into its own type, choosing by the envelope's schema.
func TestSchemaVersionsSideBySide(t *testing.T) {
	cfg := fastConsumerConfig()
	cfg.Partitions = 1 // in order
	app, _ := newTestApp(t, cfg)
	core.MustRegister[ContentV1](app, &core.SchemaOptions{ID: "Content", Version: 1})
	core.MustRegister[ContentV2](app, &core.SchemaOptions{ID: "Content", Version: 2})
	got := newCollector[string]()
	_, err := core.Subscribe(app, "content", "indexer", func(_ context.Context, m *core.Message[core.Envelope]) error {
		switch m.Schema {
		case "Content:2":
			c, err := core.Decode[ContentV2](m.App, m.Data)
			if err != nil {
				return err
			}
			got.add("v2 " + c.ID + " " + c.Headline)
		case "Content:1":
			c, err := core.Decode[ContentV1](m.App, m.Data)
			if err != nil {
				return err
			}
			got.add("v1 " + c.ID + " " + c.Title)
		default:
			return core.ErrSkip
		}
		return nil
	}, nil)
	require.NoError(t, err)
	ctx := testContext(t)
	require.NoError(t, app.Publish(ctx, "content", ContentV1{ID: "a", Title: "old"}))
	require.NoError(t, app.Publish(ctx, "content", ContentV2{ID: "b", Headline: "new"}))
	require.NoError(t, app.RawPublish(ctx, "content", []byte(`{"schema":"Content:3","data":{}}`)))
	require.NoError(t, app.Publish(ctx, "content", ContentV1{ID: "c", Title: "old again"}))
	run := startRun(t, app)
	assert.Equal(t, []string{"v1 a old", "v2 b new", "v1 c old again"}, got.waitFor(t, 3, 20*time.Second))
	require.NoError(t, run.stop(t))

	// Each version's schema holds on publish.
	assert.Error(t, app.Publish(ctx, "content", ContentV2{ID: "d"}), "headline is required non-empty")
}
