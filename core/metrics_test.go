package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	prom "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
)

type metered struct {
	N int `json:"n"`
}

// Every one of kafkaesk's 14 metrics, with its names and labels, after
// publishing, consuming (a handler error among), a rebalance and a stop;
// and the metrics beyond kafkaesk's. They pass client_golang's lint.
func TestKafkaeskMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := fastConsumerConfig()
	cfg.Partitions = 1
	cfg.Metrics = reg
	app, _ := newTestApp(t, cfg)
	topic := app.Topic("metered")
	ctx := testContext(t)

	require.NoError(t, app.Publish(ctx, "metered", metered{N: 1}))
	stream := map[string]string{"stream_id": topic}
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_publish_messages_total", map[string]string{"stream_id": topic, "error": "none"}))
	assert.EqualValues(t, 1, testutil.HistogramCount(t, reg, "kafkaesk_publish_messages_time", stream))
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_published_messages_total", map[string]string{"stream_id": topic, "partition": "0", "error": "none"}))
	assert.EqualValues(t, 1, testutil.HistogramCount(t, reg, "kafkaesk_published_messages_time", stream))
	assert.Equal(t, 0.0, testutil.GaugeValue(t, reg, "kafkaesk_produced_topic_offset", map[string]string{"stream_id": topic, "partition": "0"}))
	for _, typ := range []string{"producer_start", "sync_create_topics", "sync_admin_connect"} {
		assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_kafka_action_total", map[string]string{"type": typ, "error": "none"}), typ)
		assert.EqualValues(t, 1, testutil.HistogramCount(t, reg, "kafkaesk_kafka_action_time", map[string]string{"type": typ}), typ)
	}
	require.NoError(t, app.Publish(ctx, "metered", metered{N: 2}))
	require.NoError(t, app.Publish(ctx, "metered", metered{N: 3}))
	assert.Equal(t, 3.0, testutil.CounterValue(t, reg, "kafkaesk_publish_messages_total", map[string]string{"stream_id": topic, "error": "none"}), "one per publish")
	assert.Equal(t, 2.0, testutil.GaugeValue(t, reg, "kafkaesk_produced_topic_offset", map[string]string{"stream_id": topic, "partition": "0"}))
	require.NoError(t, app.Flush(ctx))
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_kafka_action_total", map[string]string{"type": "producer_flush", "error": "none"}))

	// Consuming: the second message fails its handler and is skipped by
	// the policy; the others are handled.
	boom := errors.New("boom")
	got := newCollector[int]()
	_, err := core.Subscribe(app, "metered", "metered-group", func(_ context.Context, m *core.Message[metered]) error {
		got.add(m.Data.N)
		if m.Data.N == 2 {
			return fmt.Errorf("handling: %w", &fsError{boom})
		}
		return nil
	}, &core.SubscribeOptions{OnError: core.ErrorPolicy{Then: core.ActionSkip}})
	require.NoError(t, err)
	run := startRun(t, app)
	got.waitFor(t, 3, 20*time.Second)
	group := map[string]string{"group_id": "metered-group"}
	part := map[string]string{"stream_id": topic, "group_id": "metered-group", "partition": "0"}
	require.Eventually(t, func() bool {
		m, ok := testutil.FindSeries(t, reg, "kafkaesk_consumed_messages_total", map[string]string{"stream_id": topic, "partition": "0", "error": "none", "group_id": "metered-group"})
		return ok && m.GetCounter().GetValue() == 2
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_consumed_messages_total",
		map[string]string{"stream_id": topic, "partition": "0", "error": "core_test.fsError", "group_id": "metered-group"}),
		"a handler error is labelled with its meaningful type")
	assert.Equal(t, 2.0, testutil.GaugeValue(t, reg, "kafkaesk_consumed_topic_offset", map[string]string{"group_id": "metered-group", "partition": "0", "stream_id": topic}))
	assert.EqualValues(t, 3, testutil.HistogramCount(t, reg, "kafkaesk_message_lead_time", part))
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_consumer_rebalanced_total", map[string]string{"group_id": "metered-group", "partition": "0", "event": "assigned"}))
	assert.Equal(t, 1.0, testutil.GaugeValue(t, reg, "kafkaesk_consumer_health", group))
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_kafka_action_total", map[string]string{"type": "sync_consumer_connect", "error": "none"}))
	assert.GreaterOrEqual(t, testutil.CounterValue(t, reg, "kafkaesk_kafka_action_total", map[string]string{"type": "sync_topics", "error": "none"}), 1.0)
	// Beyond kafkaesk: read at scrape time.
	assert.Equal(t, 2.0, testutil.CounterValue(t, reg, "kafkaesk_subscription_messages_total", map[string]string{"group_id": "metered-group", "outcome": "handled"}))
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_subscription_messages_total", map[string]string{"group_id": "metered-group", "outcome": "failed"}))
	assert.Equal(t, 0.0, testutil.GaugeValue(t, reg, "kafkaesk_consumer_lag", part))
	assert.Equal(t, 0.0, testutil.GaugeValue(t, reg, "kafkaesk_producer_buffered_messages", nil))
	assert.Equal(t, 0.0, testutil.GaugeValue(t, reg, "kafkaesk_producer_buffered_bytes", nil))
	assert.EqualValues(t, 3, testutil.Series(t, reg, "kafkaesk_producer_batch_size", stream).GetHistogram().GetSampleCount())

	require.NoError(t, run.stop(t))
	// The stop revokes the partition: the batch in progress is observed.
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_consumer_rebalanced_total", map[string]string{"group_id": "metered-group", "partition": "0", "event": "revoked"}))
	sizes := testutil.Series(t, reg, "kafkaesk_consumed_messages_batch_size", part).GetHistogram()
	assert.GreaterOrEqual(t, sizes.GetSampleCount(), uint64(1))
	assert.EqualValues(t, 3, sizes.GetSampleSum(), "every message in some batch")
	// kafkaesk's quirk, copied: the group as stream_id, Python's repr of
	// the TopicPartition as partition.
	assert.Equal(t, sizes.GetSampleCount(), testutil.HistogramCount(t, reg, "kafkaesk_consumed_message_elapsed_time", map[string]string{
		"stream_id": "metered-group", "group_id": "metered-group", "partition": "TopicPartition(topic='" + topic + "', partition=0)"}))

	problems, err := prom.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems, "client_golang's lint")
}

// fsError is a handler's typed error.
type fsError struct{ err error }

func (e *fsError) Error() string { return "fs: " + e.err.Error() }
func (e *fsError) Unwrap() error { return e.err }

// A failed publish is labelled with its class and partition -1; a
// subscription that fails sets its health to 0; applications sharing a
// registerer share the collectors and are summed at scrape time.
func TestMetricsOfFailures(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := fastConsumerConfig()
	cfg.Partitions = 1
	cfg.Metrics = reg
	cfg.BatchBytes = 1024
	app, brokers := newTestApp(t, cfg)
	topic := app.Topic("failing")
	ctx := testContext(t)
	err := app.RawPublish(ctx, "failing", make([]byte, 4096))
	require.ErrorIs(t, err, core.ErrMessageTooLarge)
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_published_messages_total", map[string]string{"stream_id": topic, "partition": "-1", "error": "MessageTooLarge"}))
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_publish_messages_total", map[string]string{"stream_id": topic, "error": "none"}), "it was enqueued")

	require.NoError(t, app.RawPublish(ctx, "failing", []byte(`{"schema":"metered:1","data":{"n":1}}`)))
	_, err = core.Subscribe(app, "failing", "failing-group", func(context.Context, *core.Message[metered]) error {
		return errors.New("always")
	}, nil) // the default policy: the subscription fails
	require.NoError(t, err)
	run := startRun(t, app)
	select {
	case err := <-run.done:
		require.Error(t, err)
		close(run.done)
	case <-time.After(20 * time.Second):
		t.Fatal("the subscription did not fail")
	}
	assert.Equal(t, 0.0, testutil.GaugeValue(t, reg, "kafkaesk_consumer_health", map[string]string{"group_id": "failing-group"}))
	assert.Equal(t, 1.0, testutil.CounterValue(t, reg, "kafkaesk_consumed_messages_total", map[string]string{"stream_id": topic, "partition": "0", "error": "error", "group_id": "failing-group"}))

	// A second application on the same registerer.
	cfg2 := cfg
	cfg2.Brokers = brokers
	cfg2.TopicPrefix = app.Config().TopicPrefix
	other, err := core.New(cfg2)
	require.NoError(t, err)
	require.NoError(t, other.RawPublish(ctx, "failing", []byte(`{}`)))
	assert.Equal(t, 3.0, testutil.CounterValue(t, reg, "kafkaesk_publish_messages_total", map[string]string{"stream_id": topic, "error": "none"})) // two by app, one by other
	assert.Equal(t, 2*float64(app.Config().MaxBufferedMessages), testutil.GaugeValue(t, reg, "kafkaesk_producer_buffer_capacity_messages", nil))
	require.NoError(t, other.Close(ctx))
	_, err = reg.Gather()
	require.NoError(t, err)
}

// Without Config.Metrics nothing is registered anywhere.
func TestNoMetrics(t *testing.T) {
	app, _ := newTestApp(t, core.Config{})
	require.NoError(t, app.Publish(testContext(t), "quiet", metered{N: 1}))
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, f := range families {
		assert.False(t, strings.HasPrefix(f.GetName(), "kafkaesk_"), "%s in the default registry", f.GetName())
	}
}
