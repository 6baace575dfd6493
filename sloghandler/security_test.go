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

// With a refused password the handler's events fail (they were never
// sent: not unknown) within seconds, and its warning says why.
func TestHandlerOnARefusedPasswordFailsAndSaysWhy(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	wrong := s.Users[1]
	wrong.Password += "-wrong"
	cfg := core.Config{Brokers: s.SASLBrokers, TopicPrefix: kafkaesktest.TopicPrefix(t), Logger: slog.New(slog.DiscardHandler)}
	require.NoError(t, cfg.ApplySettings([]byte(s.Settings(wrong))))
	var warnings syncBuffer
	h, err := sloghandler.Open(cfg, "logs.refused", &sloghandler.Options{Warnings: &warnings})
	require.NoError(t, err)
	logger := slog.New(h)
	for i := range 10 {
		logger.Info("event", "seq", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_ = h.Flush(ctx)
	assert.Less(t, time.Since(start), 5*time.Second, "settled within seconds")
	st := h.Stats()
	assert.Equal(t, int64(10), st.Failed, "%+v", st)
	assert.Zero(t, st.Unknown)
	assert.Contains(t, warnings.String(), `authentication refused for user "`+wrong.Username+`"`)
	assert.NotContains(t, warnings.String(), wrong.Password)
	require.NoError(t, h.Close(ctx))
}
