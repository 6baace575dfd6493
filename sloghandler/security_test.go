package sloghandler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// The handler, opened on the SASL_SSL listener with settings as a
// service gives them, delivers every event, and a reader on the same
// listener reads them back in order.
func TestHandlerOverSASLSSL(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	cfg := core.Config{Brokers: s.SASLBrokers, TopicPrefix: kafkaesktest.TopicPrefix(t), Logger: slog.New(slog.DiscardHandler), Partitions: 1}
	require.NoError(t, cfg.ApplySettings([]byte(s.Settings(s.Users[2]))))
	h, err := sloghandler.Open(cfg, "logs.secured", &sloghandler.Options{WhenFull: sloghandler.Block, BlockTimeout: time.Minute})
	require.NoError(t, err)
	logger := slog.New(h)
	const n = 500
	for i := range n {
		logger.Info("event", "seq", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, h.Close(ctx))
	assert.Equal(t, sloghandler.Stats{Enqueued: n, Published: n}, h.Stats())

	app, err := core.New(cfg)
	require.NoError(t, err)
	defer app.Close(context.Background())
	next := 0
	err = app.Read(ctx, "logs.secured", &core.ReadOptions{From: core.Earliest(), UntilEnd: true}, func(_ context.Context, rec *core.Record) error {
		e, err := record.DecodeEvent(rec.Value)
		require.NoError(t, err)
		var seq int
		require.NoError(t, json.Unmarshal(e.Fields["seq"], &seq))
		assert.Equal(t, next, seq)
		next++
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, n, next, "every event read back")
}
