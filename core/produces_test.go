package core_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// Produces registers the type when needed, merges the streams of a type
// declared twice, and carries over when a router is mounted.
func TestProducesDeclaresWhatIsPublished(t *testing.T) {
	r := core.NewRouter()
	s, err := core.Produces[Foo](r, "orders")
	require.NoError(t, err)
	assert.Equal(t, "Foo:1", s.Key(), "registered with the defaults")
	_, err = core.Produces[Foo](r, "audit", "orders")
	require.NoError(t, err)
	_, err = core.Produces[prodBar](r, "bars")
	require.NoError(t, err)

	_, err = core.Produces[Foo](r)
	assert.ErrorContains(t, err, "no streams")
	_, err = core.Produces[Foo](r, "orders.*")
	assert.ErrorContains(t, err, `stream "orders.*" is not a stream name`)

	app, err := core.New(core.Config{Brokers: []string{"127.0.0.1:1"}})
	require.NoError(t, err)
	defer app.Close(context.Background())
	require.NoError(t, app.Mount(r))
	got := app.Productions()
	require.Len(t, got, 2)
	assert.Equal(t, "Foo:1", got[0].Schema.Key())
	assert.Equal(t, []string{"audit", "orders"}, got[0].Streams, "merged and sorted")
	assert.Equal(t, "prodBar:1", got[1].Schema.Key())
	assert.Equal(t, []string{"bars"}, got[1].Streams)
}

// A subscription tells the type its handler takes.
func TestSubscriptionMessageType(t *testing.T) {
	r := core.NewRouter()
	sub, err := core.Subscribe(r, "orders.*", "g", func(context.Context, *core.Message[Foo]) error { return nil }, nil)
	require.NoError(t, err)
	assert.Equal(t, reflect.TypeFor[Foo](), sub.MessageType())
}

type prodBar struct {
	N int `json:"n"`
}
