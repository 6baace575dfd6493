package core

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// retryConsumer is a consumer of one subscription with policy, whose
// handler fails its first failures calls, recording when each call began.
func retryConsumer(ctx context.Context, policy ErrorPolicy, failures int, calls *[]time.Duration) *consumer {
	start := time.Now()
	s := &Subscription{Group: "g", Streams: []string{"s"}, opts: SubscribeOptions{OnError: policy}}
	s.handle = func(context.Context, *Subscription, *Application, *Record, func(context.Context) error, *Tx) error {
		*calls = append(*calls, time.Since(start))
		if len(*calls) <= failures {
			return errors.New("downstream is down")
		}
		return nil
	}
	// An application of the zero Config: no tracer, the global (no-op)
	// propagator, which each call asks.
	return &consumer{app: &Application{}, sub: s, handlerCtx: ctx, log: slog.New(slog.DiscardHandler)}
}

// With RetryForever a failing message is handled again, with a backoff
// that doubles from Backoff up to MaxBackoff, as often as it takes: it is
// never given to Then (here ActionSkip), however many tries fail.
// synctest makes the schedule exact.
func TestRetryForeverBacksOffAndNeverGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const failures = 50
		var calls []time.Duration
		c := retryConsumer(t.Context(), ErrorPolicy{
			Retries: RetryForever, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second, Then: ActionSkip,
		}, failures, &calls)

		finished, fatal := c.handle(t.Context(), &Record{Topic: "t", Offset: 7}, nil)
		assert.True(t, finished, "handled in the end")
		assert.NoError(t, fatal)
		assert.Equal(t, SubscriptionStats{Handled: 1, Retried: failures}, c.sub.Stats())

		want := []time.Duration{0}
		for backoff := 100 * time.Millisecond; len(want) <= failures; backoff = min(2*backoff, time.Second) {
			want = append(want, want[len(want)-1]+backoff)
		}
		assert.Equal(t, want, calls, "100ms, 200ms, 400ms, 800ms, then 1s between calls")
	})
}

// A stop ends RetryForever at once, in the middle of a backoff: the
// message is not finished (so not committed, but redelivered), and the
// subscription does not fail.
func TestRetryForeverEndsWithTheStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []time.Duration
		c := retryConsumer(t.Context(), ErrorPolicy{Retries: RetryForever, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}, 1<<30, &calls)
		fetchCtx, stop := context.WithTimeout(t.Context(), 10*time.Second)
		defer stop()

		start := time.Now()
		finished, fatal := c.handle(fetchCtx, &Record{Topic: "t", Offset: 7}, nil)
		assert.Equal(t, 10*time.Second, time.Since(start), "returns when the stop comes, not at the end of the backoff")
		assert.False(t, finished, "not finished: redelivered")
		assert.NoError(t, fatal, "the subscription does not fail")
		// Calls at 0, 0.1, 0.3, 0.7 and 1.5 s, then every second to 9.5 s.
		assert.Len(t, calls, 13)
		assert.Equal(t, SubscriptionStats{Retried: 13}, c.sub.Stats())
	})
}
