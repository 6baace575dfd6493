package core_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// A log stream is read with record.Event as the handler's type: the events
// of this package's encoder and of Python's handler (naive timestamp,
// traceback) alike; what is not a log event is skipped.
func TestSubscribeLogEvents(t *testing.T) {
	cfg := fastConsumerConfig()
	cfg.Partitions = 1 // in order
	app, _ := newTestApp(t, cfg)
	got := newCollector[record.Event]()
	schemas := newCollector[string]()
	sub, err := core.Subscribe(app, "logs.api", "alerts", func(_ context.Context, m *core.Message[record.Event]) error {
		got.add(m.Data)
		schemas.add(m.Schema)
		return nil
	}, nil)
	require.NoError(t, err)

	ctx := testContext(t)
	enc := record.NewEncoder(&record.Options{Logger: "api", Host: &record.Host{Hostname: "api-1", Service: "api"}})
	r := slog.NewRecord(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), slog.LevelError, "charge failed", 0)
	r.AddAttrs(slog.Any("err", errors.New("card declined")), slog.Int("order", 7))
	require.NoError(t, app.RawPublish(ctx, "logs.api", enc.Append(nil, ctx, r)))
	require.NoError(t, app.RawPublish(ctx, "logs.api", []byte(`{"schema":"Order:1","data":{"id":1}}`)))
	python := `{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-12-05T12:00:01.5","logger":"worker","severity":"ERROR",` +
		`"level":40,"message":"boom","exception":"ValueError","trace":null,"stack":"Traceback (most recent call last):\n  File \"w.py\", line 3, in <module>\nValueError: bad",` +
		`"hostname":"worker-5f7c9-abcde","service":"worker","namespace":null,"cluster":null,"job":"sync"}}`
	require.NoError(t, app.RawPublish(ctx, "logs.api", []byte(python)))

	run := startRun(t, app)
	events := got.waitFor(t, 2, 20*time.Second)
	require.NoError(t, run.stop(t))
	assert.Equal(t, []string{"PydanticLogModel:1", "PydanticLogModel:1"}, schemas.waitFor(t, 2, time.Second))

	goEvent, pyEvent := events[0], events[1]
	assert.Equal(t, "charge failed", goEvent.Message)
	assert.Equal(t, record.LevelError, goEvent.Level)
	assert.Equal(t, "error", goEvent.Exception)
	assert.Equal(t, "card declined", goEvent.Stack)
	assert.Equal(t, "api", goEvent.Service)
	assert.JSONEq(t, `7`, string(goEvent.Fields["order"]))

	assert.True(t, pyEvent.Timestamp.Equal(time.Date(2026, 12, 5, 12, 0, 1, 5e8, time.UTC)), "timestamp %v", pyEvent.Timestamp)
	assert.Equal(t, "ValueError", pyEvent.Exception)
	assert.Contains(t, pyEvent.Stack, "ValueError: bad")
	assert.Equal(t, "worker", pyEvent.Service)
	assert.JSONEq(t, `"sync"`, string(pyEvent.Fields["job"]))
	assert.EqualValues(t, 1, sub.Stats().Skipped, "the Order event is not a log event")
}
