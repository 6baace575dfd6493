package sloghandler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

func newApp(t *testing.T, brokers []string) *core.Application {
	t.Helper()
	app, err := core.New(core.Config{Brokers: brokers, TopicPrefix: kafkaesktest.TopicPrefix(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return app
}

func newHandler(t *testing.T, app *core.Application, opts *sloghandler.Options) *sloghandler.Handler {
	t.Helper()
	h, err := sloghandler.New(app, "logs", opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Tests that need their events delivered Flush first: this is
		// for the ones whose broker is unreachable.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return h
}

type seqLog struct {
	record.Model
	Goroutine int `json:"goroutine"`
	Seq       int `json:"seq"`
}

// 100,000 events from 8 goroutines all arrive, in order per goroutine, and
// Stats accounts for every one.
func TestHundredThousandEventsFromEightGoroutinesArriveInOrder(t *testing.T) {
	brokers := kafkaesktest.Brokers(t)
	app := newApp(t, brokers)
	h := newHandler(t, app, &sloghandler.Options{WhenFull: sloghandler.Block, BlockTimeout: time.Minute})
	logger := slog.New(h)
	const goroutines, each = 8, 12_500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				logger.Info("event", "n", i, "model", seqLog{Goroutine: g, Seq: i})
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, h.Flush(ctx))
	assert.Equal(t, sloghandler.Stats{Enqueued: goroutines * each, Published: goroutines * each}, h.Stats())

	msgs := testutil.ReadTopic(t, brokers, app.Topic("logs"), goroutines*each, 2*time.Minute)
	next := make([]int, goroutines)
	for _, m := range msgs {
		e, err := record.DecodeEvent(m.Value)
		require.NoError(t, err)
		var g, seq int
		require.NoError(t, json.Unmarshal(e.Fields["goroutine"], &g))
		require.NoError(t, json.Unmarshal(e.Fields["seq"], &seq))
		require.Equal(t, next[g], seq, "goroutine %d's events in order (partition %d offset %d)", g, m.Partition, m.Offset)
		next[g]++
	}
	for g, n := range next {
		assert.Equal(t, each, n, "goroutine %d", g)
	}
}

// With the broker stopped, logging goes on and each call returns at once;
// the queued events (up to the queue size) are delivered when the broker
// is back, the rest are counted as dropped, and nothing else is lost.
func TestBrokerDownKeepsCallersFastAndDeliversTheQueueAfterwards(t *testing.T) {
	broker := kafkaesktest.New(t, &kafkaesktest.Options{DataDir: t.TempDir()})

	app := newApp(t, broker.Brokers())
	var warnings syncBuffer
	const queue = 1000
	h := newHandler(t, app, &sloghandler.Options{QueueSize: queue, Warnings: &warnings})
	logger := slog.New(h)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 10 {
		logger.Info("before", "i", i)
	}
	require.NoError(t, h.Flush(ctx))

	start := broker.Stop()
	const down = 5000
	var slowest time.Duration
	durations := make([]time.Duration, 0, down)
	for i := range down {
		start := time.Now()
		logger.Info("while down", "i", i)
		d := time.Since(start)
		durations = append(durations, d)
		slowest = max(slowest, d)
	}
	s := h.Stats()
	assert.Equal(t, int64(10+down), s.Enqueued)
	assert.LessOrEqual(t, s.Queued, int64(queue), "at most QueueSize events held, in flight included")
	assert.Equal(t, s.Enqueued, s.Published+s.Dropped+s.Failed+s.Unknown+s.Queued)
	assert.Greater(t, s.Dropped, int64(0))
	assert.Less(t, percentile(durations, 0.99), 200*time.Microsecond, "p99 of a call while Kafka is down")
	assert.Less(t, slowest, 50*time.Millisecond, "no call waits for Kafka")
	assert.Equal(t, 1, strings.Count(warnings.String(), "Queue hit max log queue size"), "one drop warning per 30 s:\n%s", warnings.String())

	require.NoError(t, start())
	require.NoError(t, h.Flush(ctx))
	s = h.Stats()
	assert.Zero(t, s.Failed)
	assert.Zero(t, s.Queued)
	assert.Equal(t, s.Enqueued, s.Published+s.Dropped)

	msgs := testutil.ReadTopic(t, broker.Brokers(), app.Topic("logs"), int(s.Published), time.Minute)
	assert.Len(t, msgs, int(s.Published), "every event counted as published is in the topic")
	t.Logf("while down: p99 %v, slowest %v; published %d, dropped %d", percentile(durations, 0.99), slowest, s.Published, s.Dropped)
}

func TestBlockPolicyWaitsThenDrops(t *testing.T) {
	app := newApp(t, []string{deadAddr(t)})
	h := newHandler(t, app, &sloghandler.Options{QueueSize: 1, WhenFull: sloghandler.Block, BlockTimeout: 50 * time.Millisecond, Warnings: new(syncBuffer)})
	ctx := context.Background()
	// The worker takes the event and retries it: it holds the one place
	// until Kafka acknowledges it, which it never does.
	require.NoError(t, h.Handle(ctx, slog.NewRecord(time.Now(), slog.LevelInfo, "1", 0)))
	start := time.Now()
	err := h.Handle(ctx, slog.NewRecord(time.Now(), slog.LevelInfo, "2", 0))
	assert.ErrorIs(t, err, sloghandler.ErrDropped)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// Close with the broker unreachable: a handler on a shared application
// leaves its events there, and says so; the application's Close then
// reports them failed (no request ever carried them).
func TestCloseReportsWhatItCouldNotDeliver(t *testing.T) {
	app := newApp(t, []string{deadAddr(t)})
	h, err := sloghandler.New(app, "logs", &sloghandler.Options{Warnings: new(syncBuffer)})
	require.NoError(t, err)
	logger := slog.New(h)
	for i := range 100 {
		logger.Info("x", "i", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = h.Close(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "100 events not delivered to "+app.Topic("logs")+" yet, left with the application")
	assert.Equal(t, sloghandler.Stats{Enqueued: 100, Queued: 100}, h.Stats())
	assert.ErrorIs(t, h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "late", 0)), sloghandler.ErrClosed)
	assert.Equal(t, int64(1), h.Stats().Dropped)
	assert.NoError(t, h.Close(context.Background()), "a second Close returns nil")

	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.Error(t, app.Close(ctx))
	assert.Equal(t, sloghandler.Stats{Enqueued: 101, Dropped: 1, Failed: 100}, h.Stats())
}

// A handler that opened its application gives up on what is left at
// Close's deadline, and counts it.
func TestOpenedHandlerCloseGivesUp(t *testing.T) {
	h, err := sloghandler.Open(core.Config{Brokers: []string{deadAddr(t)}}, "logs", &sloghandler.Options{Warnings: new(syncBuffer)})
	require.NoError(t, err)
	logger := slog.New(h)
	for i := range 50 {
		logger.Info("x", "i", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = h.Close(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "50 events could not be delivered")
	assert.Equal(t, sloghandler.Stats{Enqueued: 50, Failed: 50}, h.Stats(), "nothing was sent: failed, not unknown")
}

func TestStatsIdentityHoldsWhileLogging(t *testing.T) {
	app := newApp(t, kafkaesktest.Brokers(t))
	h := newHandler(t, app, &sloghandler.Options{QueueSize: 100, Warnings: new(syncBuffer)})
	logger := slog.New(h)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					logger.Info("tick")
				}
			}
		})
	}
	for range 2000 {
		s := h.Stats()
		require.Equal(t, s.Enqueued, s.Published+s.Dropped+s.Failed+s.Unknown+s.Queued, "%+v", s)
		require.GreaterOrEqual(t, s.Queued, int64(0))
	}
	close(stop)
	wg.Wait()
}

// A handler derived with WithAttrs/WithGroup shares the queue and writes
// its attributes; siblings do not see each other's groups.
func TestDerivedHandlersShareTheQueue(t *testing.T) {
	brokers := kafkaesktest.Brokers(t)
	app := newApp(t, brokers)
	h := newHandler(t, app, nil)
	base := slog.New(h).With("app", "shop").WithGroup("req")
	base.With("a", 1).Info("one", "x", 1)
	base.With("b", 2).Info("two", "y", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, h.Flush(ctx))
	assert.Equal(t, int64(2), h.Stats().Published)
	msgs := testutil.ReadTopic(t, brokers, app.Topic("logs"), 2, 30*time.Second)
	var got []string
	for _, m := range msgs {
		e, err := record.DecodeEvent(m.Value)
		require.NoError(t, err)
		got = append(got, e.Message+" "+string(e.Fields["app"])+" "+string(e.Fields["req"]))
	}
	assert.ElementsMatch(t, []string{`one "shop" {"a":1,"x":1}`, `two "shop" {"b":2,"y":2}`}, got)
}

// The handler never logs through slog itself: with it as the default
// logger and Kafka unreachable, logging neither deadlocks nor loops.
func TestNoRecursionThroughTheDefaultLogger(t *testing.T) {
	app, err := core.New(core.Config{Brokers: []string{deadAddr(t)}}) // its Logger is slog.Default()
	require.NoError(t, err)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		app.Close(ctx)
	}()
	var warnings syncBuffer
	h, err := sloghandler.New(app, "logs", &sloghandler.Options{Warnings: &warnings})
	require.NoError(t, err)
	old := slog.Default()
	slog.SetDefault(slog.New(h))
	defer slog.SetDefault(old)
	for i := range 100 {
		slog.Info("x", "i", i)
	}
	time.Sleep(300 * time.Millisecond) // let the worker fail and retry
	s := h.Stats()
	assert.Equal(t, int64(100), s.Enqueued, "only our own 100 events: nothing logged itself back")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h.Close(ctx)
}

func TestDisabledLevelIsNotEnqueued(t *testing.T) {
	app := newApp(t, []string{deadAddr(t)})
	h := newHandler(t, app, &sloghandler.Options{Level: slog.LevelWarn, Warnings: new(syncBuffer)})
	logger := slog.New(h)
	logger.Info("no")
	logger.Debug("no")
	assert.Zero(t, h.Stats().Enqueued)
	assert.False(t, h.Enabled(context.Background(), slog.LevelInfo))
	assert.True(t, h.Enabled(context.Background(), slog.LevelError))
}

func TestBadOptionsAreErrors(t *testing.T) {
	app := newApp(t, []string{deadAddr(t)})
	_, err := sloghandler.New(app, "", nil)
	assert.ErrorContains(t, err, "stream is empty")
	_, err = sloghandler.New(app, "logs", &sloghandler.Options{QueueSize: -1, WhenFull: 7})
	assert.ErrorContains(t, err, "QueueSize -1")
	assert.ErrorContains(t, err, "WhenFull 7")
}

func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := 1; i < len(s); i++ { // insertion sort is fine for a few thousand
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[int(float64(len(s)-1)*p)]
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Once the queue is full, a dropped call costs no encoding and no
// allocation: under overload, callers must not take the worker's CPU.
func TestDropWhenFullDoesNotEncode(t *testing.T) {
	app := newApp(t, []string{"127.0.0.1:1"}) // never reachable: the queue only fills
	h := newHandler(t, app, &sloghandler.Options{QueueSize: 1, Warnings: new(syncBuffer)})
	logger := slog.New(h)
	require.Eventually(t, func() bool {
		logger.Info("fill")
		return h.Stats().Dropped > 0
	}, 10*time.Second, time.Millisecond)
	before := h.Stats()
	allocs := testing.AllocsPerRun(100, func() { logger.Info("dropped", "a", 1, "b", "two") })
	assert.Zero(t, allocs, "allocations per dropped call")
	s := h.Stats()
	assert.Equal(t, int64(101), s.Dropped-before.Dropped)
	assert.Equal(t, s.Enqueued, s.Published+s.Dropped+s.Failed+s.Unknown+s.Queued)
}

// An event no batch can hold, or that the broker refuses as too large,
// fails at once and is counted; it neither blocks the events after it nor
// is retried for ever.
func TestOversizedEventsFailWithoutBlockingTheQueue(t *testing.T) {
	for _, tc := range []struct {
		name       string
		batchBytes int64
		size       int
		warning    string
	}{
		{"larger than a batch", 4096, 8192, "larger than the batch limit"},
		// The broker's max.message.bytes defaults to 1 MiB on Kafka and kfake.
		{"refused by the broker", 8 << 20, 2 << 20, "the broker refused it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, err := core.New(core.Config{
				Brokers:     kafkaesktest.Brokers(t),
				TopicPrefix: kafkaesktest.TopicPrefix(t),
				BatchBytes:  tc.batchBytes,
				Logger:      slog.New(slog.DiscardHandler),
			})
			require.NoError(t, err)
			t.Cleanup(func() { app.Close(context.Background()) })
			var warnings syncBuffer
			h := newHandler(t, app, &sloghandler.Options{Warnings: &warnings})
			logger := slog.New(h)
			logger.Info("before")
			logger.Info("huge", "blob", strings.Repeat("x", tc.size))
			logger.Info("after")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, h.Flush(ctx))
			assert.Equal(t, sloghandler.Stats{Enqueued: 3, Published: 2, Failed: 1}, h.Stats())
			assert.Contains(t, warnings.String(), tc.warning)
			msgs := testutil.ReadTopic(t, app.Config().Brokers, app.Topic("logs"), 2, 20*time.Second)
			assert.Contains(t, string(msgs[1].Value), `"after"`)
		})
	}
}

// The broker stopped and started again while four goroutines log: every
// event is published (the producer retries) and in the topic, and Stats
// accounts for all of them.
func TestBrokerRestartUnderLoadDeliversEveryEvent(t *testing.T) {
	broker := kafkaesktest.New(t, &kafkaesktest.Options{DataDir: t.TempDir()})

	app, err := core.New(core.Config{Brokers: broker.Brokers(), TopicPrefix: kafkaesktest.TopicPrefix(t), Partitions: 1,
		RetryBackoffMax: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer app.Close(context.Background())
	h := newHandler(t, app, &sloghandler.Options{QueueSize: 100_000, WhenFull: sloghandler.Block, BlockTimeout: time.Minute, Warnings: new(syncBuffer)})
	logger := slog.New(h)

	const goroutines, each = 4, 2500
	var logged sync.WaitGroup
	var count atomic.Int64
	for g := range goroutines {
		logged.Go(func() {
			for i := range each {
				logger.Info("event", "model", seqLog{Goroutine: g, Seq: i})
				count.Add(1)
				if i%20 == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	require.Eventually(t, func() bool { return count.Load() > goroutines*each/4 }, 30*time.Second, time.Millisecond)
	start := broker.Stop()
	time.Sleep(time.Second)
	require.NoError(t, start())
	logged.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, h.Flush(ctx))
	assert.Equal(t, sloghandler.Stats{Enqueued: goroutines * each, Published: goroutines * each}, h.Stats())
	if app.Config().Client == core.ClientKafkaGo {
		// franz-go retries inside its client, out of the producer's sight.
		assert.Greater(t, app.ProducerStats().Retried, int64(0), "the restart made the producer retry")
	}

	n := testutil.MessageCount(t, broker.Brokers(), app.Topic("logs"))
	seen := map[[2]int]bool{}
	next := make([]int, goroutines)
	outOfOrder := 0
	for _, m := range testutil.ReadTopic(t, broker.Brokers(), app.Topic("logs"), int(n), time.Minute) {
		e, err := record.DecodeEvent(m.Value)
		require.NoError(t, err)
		var g, seq int
		require.NoError(t, json.Unmarshal(e.Fields["goroutine"], &g))
		require.NoError(t, json.Unmarshal(e.Fields["seq"], &seq))
		if seen[[2]int{g, seq}] {
			continue // a retry of a write whose answer was lost
		}
		seen[[2]int{g, seq}] = true
		if seq < next[g] {
			outOfOrder++
		}
		next[g] = max(next[g], seq+1)
	}
	t.Logf("%d records, %d distinct events, %d first copies out of order; %+v", n, len(seen), outOfOrder, app.ProducerStats())
	assert.Len(t, seen, goroutines*each, "every event in the topic")
	// Order is not asserted: as the package doc says, the batches the
	// client queued behind a failed one may be written before its retry.
	// TestHundredThousandEventsFromEightGoroutinesArriveInOrder holds it
	// to order where nothing fails.
}
