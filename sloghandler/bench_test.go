package sloghandler_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// The per-call benchmarks time what a log call (sloghandler.BenchCall)
// costs the caller: Handle encodes and queues, and never touches Kafka.
// Compare h=sloghandler with h=slog.JSONHandler (io.Discard) on the same
// call:
//
//	go test -run '^$' -bench 'Handle' -benchmem ./sloghandler/

// benchHandler is a Handler on brokers with room in its queue for n
// events, so that every call takes the whole encode and enqueue path (a
// full queue drops a call before encoding it, which is cheaper and not
// what a call costs). On the embedded broker the worker delivers as the
// calls come, and calls encode into the buffers of acknowledged events:
// the steady state. On an unreachable broker nothing is acknowledged and
// every call encodes into a scratch buffer and copies the event out: the cold path.
func benchHandler(b *testing.B, brokers []string, n int) *sloghandler.Handler {
	return benchHandlerWith(b, brokers, n, nil)
}

// benchHandlerWith is benchHandler with its application's metrics in
// metrics (nil: none).
func benchHandlerWith(b *testing.B, brokers []string, n int, metrics prometheus.Registerer) *sloghandler.Handler {
	app, err := core.New(core.Config{Brokers: brokers, TopicPrefix: kafkaesktest.TopicPrefix(b), MaxBufferedMessages: max(n, 1),
		Logger: slog.New(slog.DiscardHandler), Metrics: metrics})
	if err != nil {
		b.Fatal(err)
	}
	h, err := sloghandler.New(app, "logs", &sloghandler.Options{QueueSize: max(n, 1), Warnings: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if s := h.Stats(); s.Dropped > 0 {
			b.Errorf("%d of %d calls dropped: the numbers are not a call's cost", s.Dropped, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.Close(ctx)
		app.Close(ctx)
	})
	return h
}

// BenchmarkHandle runs b.N calls on a handler made for b.N (not b.Loop,
// which does not tell b.N ahead), so that the queue never fills.
func BenchmarkHandle(b *testing.B) {
	handlers := []struct {
		name string
		h    func(b *testing.B) slog.Handler
	}{
		{"sloghandler", func(b *testing.B) slog.Handler { return benchHandler(b, kafkaesktest.Brokers(b), b.N) }},
		{"sloghandler+metrics", func(b *testing.B) slog.Handler {
			return benchHandlerWith(b, kafkaesktest.Brokers(b), b.N, prometheus.NewRegistry())
		}},
		{"sloghandler-cold", func(b *testing.B) slog.Handler { return benchHandler(b, []string{"127.0.0.1:1"}, b.N) }},
		{"slog.JSONHandler", func(*testing.B) slog.Handler { return slog.NewJSONHandler(io.Discard, nil) }},
	}
	for _, h := range handlers {
		b.Run("h="+h.name, func(b *testing.B) {
			l := slog.New(h.h(b)).With("service", "checkout", "version", "1.4.2")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sloghandler.BenchCall(l)
			}
		})
	}
}

func BenchmarkHandleDisabled(b *testing.B) {
	l := slog.New(benchHandler(b, []string{"127.0.0.1:1"}, 1))
	b.ReportAllocs()
	for b.Loop() {
		l.Debug("not logged", "n", 1)
	}
}
