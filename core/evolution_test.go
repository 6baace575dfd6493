package core_test

import (
	"context"
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
