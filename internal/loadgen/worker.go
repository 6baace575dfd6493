package loadgen

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaesk-go/kafkaesk/record"
)

// eventLogger is the events' "logger" field.
const eventLogger = "kafkaesk-bench"

// requestLog is the log model of the measured call, as a service logging
// each request served would have.
type requestLog struct {
	record.Model
	Method string `json:"method"`
	Route  string `json:"route"`
	Status int    `json:"status"`
}

// logCall is the call the generator measures: five attributes and one
// log model, the shape of sloghandler's BenchmarkHandle. Its event is
// about 400 bytes (EventSize): kafkaesk's base fields (timestamp, logger,
// severity, level, message, hostname, service and their nulls) and the
// envelope take 290 of them.
func logCall(l *slog.Logger, seq int64) {
	l.Info("request served",
		"request_id", seq,
		"user", "ana",
		"items", 3,
		"took", 1500*time.Microsecond,
		"cached", false,
		"request", requestLog{Method: "POST", Route: "/api/v1/orders/{id}", Status: 201},
	)
}

// EventSize returns the size in bytes of the measured call's event as
// published: the envelope and its data.
func EventSize() int {
	var n int
	h := record.NewHandler(func(b []byte) error { n = len(b); return nil }, slog.LevelInfo,
		&record.Options{Logger: eventLogger})
	logCall(slog.New(h), 1234567)
	return n
}

// Pacing. A goroutine with a rate sends whatever is due and sleeps only
// when it is more than pacingSlack ahead: sleeping for each event would
// cost more than the event at high rates, so events go out in bursts of at
// most a millisecond's worth. A goroutine more than maxLag behind (starved
// of CPU, or its calls slower than its rate) does not try to catch up:
// the summary shows the rate it reached.
const (
	pacingSlack = time.Millisecond
	maxLag      = 100 * time.Millisecond
	maxSleep    = 50 * time.Millisecond // so that a slow goroutine sees the stop soon
)

// loadWorker logs until stop, at perSecond events per second (0: flat
// out), and records each call's latency. It returns within maxSleep, or
// one call, of stop being set.
func loadWorker(l *slog.Logger, lat *latencyRecorder, perSecond float64, firstSeq int64, stop *atomic.Bool) {
	var interval time.Duration
	if perSecond > 0 {
		interval = time.Duration(float64(time.Second) / perSecond)
	}
	seq := firstSeq
	next := time.Now()
	for !stop.Load() {
		if interval > 0 {
			now := time.Now()
			if ahead := next.Sub(now); ahead > pacingSlack {
				time.Sleep(min(ahead, maxSleep))
				continue
			} else if -ahead > maxLag {
				next = now
			}
			next = next.Add(interval)
		}
		start := time.Now()
		logCall(l, seq)
		lat.record(time.Since(start))
		seq++
	}
}

// runWorkers runs a loadWorker per recorder through logger, at rate
// events per second in total (0: flat out), for d or until ctx ends. It
// blocks until every worker has returned. Each worker's sequence numbers
// start at its index << 40, so that events are told apart.
func runWorkers(ctx context.Context, logger *slog.Logger, lats []*latencyRecorder, rate float64, d time.Duration) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	perGoroutine := rate / float64(len(lats))
	for i, lat := range lats {
		wg.Go(func() { loadWorker(logger, lat, perGoroutine, int64(i)<<40, &stop) })
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	stop.Store(true)
	wg.Wait()
}
