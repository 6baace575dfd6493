package kafkaesktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// writer returns a kafka-go writer to the broker that tries each write
// attempts times, and closes it when the test ends.
func writer(t *testing.T, b *kafkaesktest.Broker, topic string, attempts int) *kafka.Writer {
	tr := &kafka.Transport{}
	w := &kafka.Writer{
		Addr: kafka.TCP(b.Addr()), Topic: topic, AllowAutoTopicCreation: true,
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: tr,
		MaxAttempts: attempts, WriteBackoffMin: 10 * time.Millisecond, WriteBackoffMax: 50 * time.Millisecond,
	}
	t.Cleanup(func() {
		w.Close()
		tr.CloseIdleConnections() // Writer.Close leaves its transport's connections open
	})
	return w
}

func write(w *kafka.Writer, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return w.WriteMessages(ctx, kafka.Message{Value: []byte(value)})
}

// Pause refuses produce requests with a retriable error and writes
// nothing; resume lets the same writer, on the same connection, through.
func TestControlPauseRefusesProduceUntilResume(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	w := writer(t, b, "paused", 1)
	require.NoError(t, write(w, "before")) // the topic exists, the connection is up

	resume := b.Pause()
	var werrs kafka.WriteErrors
	require.ErrorAs(t, write(w, "during"), &werrs)
	require.Len(t, werrs, 1)
	require.ErrorIs(t, werrs[0], kafka.NotEnoughReplicas, "a paused broker refuses produce requests")
	assert.True(t, kafka.NotEnoughReplicas.Temporary(), "clients retry the error of a paused broker")
	assert.Equal(t, kafkaesktest.PausedErrorCode, int(kafka.NotEnoughReplicas))
	assert.Equal(t, int64(1), b.Cluster().PartitionInfo("paused", 0).HighWatermark, "nothing written while paused")

	resume()
	resume() // twice is safe
	require.NoError(t, write(w, "after"))
	assert.Equal(t, int64(2), b.Cluster().PartitionInfo("paused", 0).HighWatermark)
}

// A writer that retries rides out a pause: its write completes once the
// broker is resumed, which is what the bench's outage scenario relies on.
func TestControlPausedWriteGoesThroughAfterResume(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	w := writer(t, b, "outage", 1000)
	require.NoError(t, write(w, "before"))

	// The writer sends one message: a second produce request means the
	// first was refused.
	requests := make(chan struct{}, 2)
	b.Cluster().ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case requests <- struct{}{}:
		default:
		}
		return nil, nil, false // observe only
	})
	resume := b.Pause()
	done := make(chan error, 1)
	go func() { done <- write(w, "during") }()
	for range 2 {
		select {
		case <-requests:
		case <-time.After(20 * time.Second):
			t.Fatal("the writer did not retry against the paused broker")
		}
	}
	resume()
	require.NoError(t, <-done)
	assert.Equal(t, int64(2), b.Cluster().PartitionInfo("outage", 0).HighWatermark)
}

// SlowProduce delays each produce answer; restore ends the delay, and
// wakes a request that is sleeping at once.
func TestControlSlowProduceDelaysUntilRestore(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	w := writer(t, b, "slow", 1)
	require.NoError(t, write(w, "warm up"))

	const delay = 300 * time.Millisecond
	restore := b.SlowProduce(delay)
	start := time.Now()
	require.NoError(t, write(w, "slow"))
	assert.GreaterOrEqual(t, time.Since(start), delay)
	restore()
	restore() // twice is safe

	// A request sleeping for an hour is answered as soon as restore runs.
	sleeping := make(chan struct{}, 1)
	b.Cluster().ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case sleeping <- struct{}{}:
		default:
		}
		return nil, nil, false // observe only; runs before the sleep below
	})
	restore = b.SlowProduce(time.Hour)
	done := make(chan error, 1)
	go func() { done <- write(w, "woken") }()
	select {
	case <-sleeping:
	case <-time.After(20 * time.Second):
		t.Fatal("the write never reached the broker")
	}
	restore()
	require.NoError(t, <-done)
	assert.Equal(t, int64(3), b.Cluster().PartitionInfo("slow", 0).HighWatermark)

	assert.NotPanics(t, func() { b.SlowProduce(0)() }, "a zero delay is a no-op")
}

func TestControlTruncateDropsRecordsKeepsOffsets(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	w := writer(t, b, "trimmed", 1)
	require.NoError(t, write(w, "one"))
	require.NoError(t, write(w, "two"))

	require.NoError(t, b.Truncate("trimmed"))
	p := b.Cluster().PartitionInfo("trimmed", 0)
	assert.Equal(t, int64(2), p.LogStartOffset)
	assert.Equal(t, int64(2), p.HighWatermark)
	assert.Zero(t, p.NumBytes)

	require.NoError(t, write(w, "three"))
	assert.Equal(t, "three", consumeOne(t, b.Addr(), "trimmed"))

	err := b.Truncate("missing")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}
