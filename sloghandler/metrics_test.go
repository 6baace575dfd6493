package sloghandler_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	ktestutil "github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// The handler's Stats and delivery latency are metrics of its
// application's registerer: drops when the queue is full, published
// events once delivered, queue depth and capacity.
func TestHandlerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	brokers := kafkaesktest.Brokers(t)
	app, err := core.New(core.Config{Brokers: brokers, TopicPrefix: kafkaesktest.TopicPrefix(t), Logger: slog.New(slog.DiscardHandler), Metrics: reg})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close(context.Background()) })
	h := newHandler(t, app, &sloghandler.Options{QueueSize: 1})
	logger := slog.New(h)
	// The queue holds one event: of a burst, most are dropped.
	for range 50 {
		logger.Info("burst")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, h.Flush(ctx))
	st := h.Stats()
	require.Positive(t, st.Dropped, "a queue of one drops some of a burst of 50")
	topic := app.Topic("logs")
	stream := map[string]string{"stream_id": topic}
	with := func(k, v string) map[string]string { return map[string]string{"stream_id": topic, k: v} }
	assert.EqualValues(t, 50, ktestutil.CounterValue(t, reg, "kafkaesk_log_events_enqueued_total", stream))
	assert.EqualValues(t, st.Dropped, ktestutil.CounterValue(t, reg, "kafkaesk_log_events_total", with("outcome", "dropped")))
	assert.EqualValues(t, st.Published, ktestutil.CounterValue(t, reg, "kafkaesk_log_events_total", with("outcome", "published")))
	assert.EqualValues(t, 0, ktestutil.CounterValue(t, reg, "kafkaesk_log_events_total", with("outcome", "failed")))
	assert.EqualValues(t, 0, ktestutil.GaugeValue(t, reg, "kafkaesk_log_queue_events", stream))
	assert.EqualValues(t, 1, ktestutil.GaugeValue(t, reg, "kafkaesk_log_queue_capacity_events", stream))
	assert.EqualValues(t, st.Published, ktestutil.HistogramCount(t, reg, "kafkaesk_log_delivery_seconds", stream))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)

	require.NoError(t, h.Close(ctx))
	_, ok := ktestutil.FindSeries(t, reg, "kafkaesk_log_queue_events", stream)
	assert.False(t, ok, "a closed handler leaves the registry")
}

// A reused record carries its own event's timestamp to Kafka, not the one
// the producer wrote back for the event it carried before (franz-go
// does). Regression: every reused record had its first event's time.
func TestReusedRecordsCarryTheirOwnTimestamp(t *testing.T) {
	brokers := kafkaesktest.Brokers(t)
	app := newApp(t, brokers)
	h := newHandler(t, app, nil)
	logger := slog.New(h)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logger.Info("first")
	require.NoError(t, h.Flush(ctx))
	time.Sleep(1100 * time.Millisecond)
	before := time.Now().Add(-time.Millisecond)
	logger.Info("second") // in the first one's record
	require.NoError(t, h.Flush(ctx))
	msgs := ktestutil.ReadTopic(t, brokers, app.Topic("logs"), 2, 20*time.Second)
	assert.False(t, msgs[1].Time.Before(before), "the second event's Kafka timestamp %v is before it was logged (%v)", msgs[1].Time, before)
}
