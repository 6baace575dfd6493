package sloghandler_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// With a spool, a full queue spills to it instead of dropping: the
// callers go on, Stats and the metrics count the spilled events as
// spooled, and once the broker is back every event arrives, in order.
func TestFullQueueSpillsToTheSpool(t *testing.T) {
	broker := kafkaesktest.New(t, &kafkaesktest.Options{DataDir: t.TempDir()})
	reg := prometheus.NewRegistry()
	app, err := core.New(core.Config{
		Brokers: broker.Brokers(), TopicPrefix: kafkaesktest.TopicPrefix(t), Partitions: 1,
		RequestTimeout: time.Second, RetryBackoffMax: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Metrics: reg, Spool: core.SpoolConfig{Dir: t.TempDir()},
	})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close(context.Background()) })
	h, err := sloghandler.New(app, "logs", &sloghandler.Options{QueueSize: 10, Warnings: &bytes.Buffer{}})
	require.NoError(t, err)
	t.Cleanup(func() { h.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, app.EnsureStream(ctx, "logs", 0))
	topic := app.Topic("logs")

	start := broker.Stop()
	logger := slog.New(h)
	const n = 500
	began := time.Now()
	for i := range n {
		logger.Info(fmt.Sprintf("e%03d", i))
	}
	assert.Less(t, time.Since(began), 2*time.Second, "the callers never wait for the broker")
	require.Eventually(t, func() bool { return h.Stats().Spooled >= n-10 }, 10*time.Second, 10*time.Millisecond,
		"all but the queue's 10 are written to the spool")
	st := h.Stats()
	assert.EqualValues(t, n, st.Enqueued)
	assert.Zero(t, st.Dropped, "a full queue spills, it does not drop")
	assert.Equal(t, st.Enqueued, st.Published+st.Dropped+st.Failed+st.Unknown+st.Spooled+st.Queued)
	assert.EqualValues(t, st.Spooled, testutil.CounterValue(t, reg, "kafkaesk_log_events_total",
		map[string]string{"stream_id": topic, "outcome": "spooled"}))

	require.NoError(t, start())
	require.NoError(t, h.Close(ctx))
	st = h.Stats()
	assert.Zero(t, st.Dropped+st.Failed+st.Unknown+st.Queued)
	assert.EqualValues(t, n, st.Published+st.Spooled)
	require.NoError(t, app.Close(ctx)) // lets the spool drain
	spool := app.SpoolStats()
	assert.Equal(t, st.Spooled, spool.Delivered, "the spool delivered what it took")
	assert.Zero(t, spool.OnDisk)

	// Every event arrives, once. On franz-go, whose idempotent producer
	// retries inside the client, what went through the spool (all but the
	// queue's first ten, which were in a failing request when the broker
	// came back) is in order. On kafka-go, which has none, a request that
	// fails as the broker comes back may be overtaken by the partition's
	// next one: a known limit of the core producer across a broker
	// restart, not of the spool.
	var seq []int
	for _, m := range testutil.ReadTopic(t, broker.Brokers(), topic, n, time.Minute) {
		_, rest, _ := strings.Cut(string(m.Value), `"message":"e`)
		i, err := strconv.Atoi(rest[:3])
		require.NoError(t, err, "a whole event: %s", m.Value)
		if i >= 10 {
			seq = append(seq, i)
		}
	}
	assert.Len(t, seq, n-10)
	if os.Getenv(core.EnvClient) == core.ClientFranzGo {
		assert.True(t, slices.IsSorted(seq), "the spilled events in the order they were logged")
	}
	assert.EqualValues(t, n, testutil.MessageCount(t, broker.Brokers(), topic), "each event once")
}

// SpoolDir is for Open, which makes the application; it must agree with
// the Config's spool; an unusable directory fails Open, naming it.
func TestSpoolDirOptionErrors(t *testing.T) {
	brokers := kafkaesktest.Brokers(t)
	app := newApp(t, brokers)
	_, err := sloghandler.New(app, "logs", &sloghandler.Options{SpoolDir: t.TempDir()})
	assert.ErrorContains(t, err, "is for Open: with New, the application's Config.Spool applies")

	a, b := t.TempDir(), t.TempDir()
	_, err = sloghandler.Open(core.Config{Brokers: brokers, Spool: core.SpoolConfig{Dir: a}}, "logs", &sloghandler.Options{SpoolDir: b})
	assert.ErrorContains(t, err, fmt.Sprintf("Options.SpoolDir %q and Config.Spool.Dir %q differ", b, a))

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = sloghandler.Open(core.Config{Brokers: brokers}, "logs", &sloghandler.Options{SpoolDir: file})
	assert.ErrorContains(t, err, file)
}

// A spool at its size limit drops the newest events and counts them, as
// a full queue without a spool does; what it took is delivered.
func TestFullSpoolDropsNewestAndCounts(t *testing.T) {
	broker := kafkaesktest.New(t, &kafkaesktest.Options{DataDir: t.TempDir()})
	app, err := core.New(core.Config{
		Brokers: broker.Brokers(), TopicPrefix: kafkaesktest.TopicPrefix(t), Partitions: 1,
		RequestTimeout: time.Second, RetryBackoffMax: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Spool: core.SpoolConfig{Dir: t.TempDir(), MaxBytes: 256 << 10},
	})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close(context.Background()) })
	warnings := &syncBuffer{}
	h, err := sloghandler.New(app, "logs", &sloghandler.Options{QueueSize: 10, Warnings: warnings})
	require.NoError(t, err)
	t.Cleanup(func() { h.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, app.EnsureStream(ctx, "logs", 0))

	start := broker.Stop()
	logger := slog.New(h)
	pad := strings.Repeat("x", 1000)
	const n = 1000 // about a MiB: four times the spool's limit
	for i := range n {
		logger.Info(fmt.Sprintf("e%04d", i), "pad", pad)
	}
	require.Eventually(t, func() bool { st := h.Stats(); return st.Queued <= 10 && st.Spooled+st.Dropped >= n-10 },
		10*time.Second, 10*time.Millisecond)
	st := h.Stats()
	assert.Positive(t, st.Dropped, "past the spool's limit, events are dropped")
	assert.Greater(t, st.Spooled, int64(150), "a quarter MiB of kilobyte events is spooled")
	assert.Equal(t, st.Enqueued, st.Published+st.Dropped+st.Failed+st.Unknown+st.Spooled+st.Queued, "and every one counted")
	assert.LessOrEqual(t, app.SpoolStats().Bytes, int64(256<<10))
	assert.Contains(t, warnings.String(), "the spool is full")

	require.NoError(t, start())
	require.NoError(t, h.Close(ctx))
	require.NoError(t, app.Close(ctx))
	st = h.Stats()
	assert.Equal(t, st.Published+st.Spooled, testutil.MessageCount(t, broker.Brokers(), app.Topic("logs")), "what was taken is delivered")
}
