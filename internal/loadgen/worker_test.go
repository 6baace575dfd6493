package loadgen

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// The measured call is a realistic one: 5 attributes and a log model,
// a few hundred bytes published.
func TestEventIsAFewHundredBytes(t *testing.T) {
	n := EventSize()
	assert.InDelta(t, 400, n, 100, "the measured call's event is %d bytes", n)
}

// countingHandler counts the log calls; each takes the time callTime
// says (in a synctest bubble, time passes only then).
type countingHandler struct {
	calls    atomic.Int64
	callTime func(n int64) time.Duration // nil: calls take no time
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }

func (h *countingHandler) Handle(context.Context, slog.Record) error {
	n := h.calls.Add(1)
	if h.callTime != nil {
		time.Sleep(h.callTime(n))
	}
	return nil
}

// A paced load makes exactly its rate's calls: 1,000 events/s for one
// second is 1,000 calls, give or take the calls due at the very instant
// the load stops, and the workers stop within one interval of the end.
func TestWorkersKeepTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &countingHandler{}
		lats := newLatencyRecorders(2)
		start := time.Now()
		runWorkers(t.Context(), slog.New(h), lats, 1000, time.Second)
		elapsed := time.Since(start)

		calls := h.calls.Load()
		assert.GreaterOrEqual(t, calls, int64(1000))
		assert.LessOrEqual(t, calls, int64(1002), "one call at most per goroutine at the stop")
		assert.Equal(t, calls, summarize(lats).calls, "every call is timed")
		assert.GreaterOrEqual(t, elapsed, time.Second)
		assert.LessOrEqual(t, elapsed, time.Second+2*time.Millisecond, "each goroutine's interval is 2ms")
	})
}

// Pacing sends what is due in bursts and sleeps only when more than
// pacingSlack ahead: a goroutine at 10,000 events/s (an interval of
// 100µs) calls 11 times at once, then sleeps 1.1ms: over 10ms, 10 bursts
// and no sleep per call.
func TestWorkersSendInBurstsOfAMillisecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		h := &countingHandler{callTime: func(int64) time.Duration {
			at = append(at, time.Since(start)) // one worker: no race
			return 0
		}}
		runWorkers(t.Context(), slog.New(h), newLatencyRecorders(1), 10_000, 10*time.Millisecond)

		var instants []time.Duration
		burst := map[time.Duration]int{}
		for _, d := range at {
			if burst[d] == 0 {
				instants = append(instants, d)
			}
			burst[d]++
		}
		for i, d := range instants {
			assert.Equal(t, 11, burst[d], "calls at %v: pacingSlack's worth, and the one due now", d)
			assert.Equal(t, time.Duration(i)*1100*time.Microsecond, d, "burst %d", i)
		}
		assert.Len(t, at, 10*11, "the 100 calls due in 10ms, the last burst a millisecond ahead")
	})
}

// A goroutine more than maxLag behind does not try to catch up: after a
// call that took half the run, the rest of the run is paced as before,
// not flooded with the calls missed.
func TestSlowCallIsNotCaughtUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &countingHandler{callTime: func(n int64) time.Duration {
			if n == 1 {
				return 500 * time.Millisecond
			}
			return 0
		}}
		lats := newLatencyRecorders(1)
		runWorkers(t.Context(), slog.New(h), lats, 1000, time.Second)

		calls := h.calls.Load()
		assert.GreaterOrEqual(t, calls, int64(501), "the slow call, then 500ms at 1,000/s")
		assert.LessOrEqual(t, calls, int64(503), "not the 1,000 of a catch-up")
		assert.InEpsilon(t, int64(500*time.Millisecond), summarize(lats).maxLat, 0.001, "the slow call is timed")
	})
}

// The end of ctx stops the load early; runWorkers returns once every
// worker has.
func TestWorkersStopWhenTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		h := &countingHandler{}
		start := time.Now()
		runWorkers(ctx, slog.New(h), newLatencyRecorders(4), 4000, time.Hour)
		elapsed := time.Since(start)

		assert.GreaterOrEqual(t, elapsed, 300*time.Millisecond)
		assert.LessOrEqual(t, elapsed, 302*time.Millisecond, "a goroutine at 1,000/s sleeps 2ms at most")
		assert.GreaterOrEqual(t, h.calls.Load(), int64(1200))
		assert.LessOrEqual(t, h.calls.Load(), int64(1208), "two calls at most per goroutine at the stop")
	})
}
