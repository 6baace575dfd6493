package reliability_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

type event struct {
	Seq int `json:"seq"`
}

// newApp returns an application on c with prefix, closed when the test
// ends.
func newApp(t *testing.T, c *kafkaesktest.Cluster, prefix string, edit func(*core.Config)) *core.Application {
	t.Helper()
	cfg := core.Config{Brokers: c.Brokers(), TopicPrefix: prefix, Logger: slog.New(slog.DiscardHandler), Partitions: 3}
	if edit != nil {
		edit(&cfg)
	}
	app, err := core.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	core.MustRegister[event](app, nil)
	return app
}

// With every node up a new stream's topic gets three replicas; with one
// down, a publish to a new stream does not create it with two (the
// cluster's default.replication.factor is 3): it fails, naming the
// topic, the factor and the brokers up, until the node is back, and the
// topic then has three. An explicit replication factor wins.
func TestTopicCreationNeverMakesAWeakerTopic(t *testing.T) {
	c := kafkaesktest.NewCluster(t)
	prefix := kafkaesktest.TopicPrefix(t)
	app := newApp(t, c, prefix, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	require.NoError(t, app.Publish(ctx, "whole", event{Seq: 1}))
	replicas, err := c.Replicas(ctx, prefix+"whole")
	require.NoError(t, err)
	assert.Equal(t, []int{3, 3, 3}, replicas, "three nodes up: three replicas")

	down := c.Nodes()[0]
	require.NoError(t, c.Kill(down))
	require.NoError(t, c.WaitBrokers(ctx, 2))
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	err = app.Publish(pctx, "while-down", event{Seq: 2})
	pcancel()
	if err == nil {
		r, _ := c.Replicas(ctx, prefix+"while-down")
		t.Logf("created while node %d was down, replicas %v", down, r)
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, core.ErrNotEnoughBrokers)
	assert.Contains(t, err.Error(), `topic "`+prefix+`while-down"`)
	assert.Contains(t, err.Error(), "replication factor 3 needs 3 brokers, and 2 are up")
	replicas, err = c.Replicas(ctx, prefix+"while-down")
	require.NoError(t, err)
	assert.Empty(t, replicas, "not created")

	explicit := newApp(t, c, prefix, func(cfg *core.Config) { cfg.ReplicationFactor = 2 })
	require.NoError(t, explicit.Publish(ctx, "explicit", event{Seq: 3}))
	replicas, err = c.Replicas(ctx, prefix+"explicit")
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2, 2}, replicas, "an explicit replication factor wins")

	require.NoError(t, c.Start(down))
	require.NoError(t, app.Publish(ctx, "while-down", event{Seq: 2}), "created once the node is back")
	replicas, err = c.Replicas(ctx, prefix+"while-down")
	require.NoError(t, err)
	assert.Equal(t, []int{3, 3, 3}, replicas)
}
