package sloghandler

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
)

type steadyModel struct {
	record.Model
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

// BenchmarkHandleSteady times a call in the steady state, where Kafka
// keeps up: a goroutine stands in for the worker and the producer and
// acknowledges each event as soon as it is queued, so that calls encode
// into the buffers of acknowledged events. Nothing else allocates, so
// allocs/op is the call's own: slog's, and none of the handler's.
// BenchmarkHandle (h=sloghandler-cold) is the other end: nothing
// acknowledged, a new buffer per call.
func BenchmarkHandleSteady(b *testing.B) {
	app, err := core.New(core.Config{Brokers: []string{"127.0.0.1:1"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close(context.Background())
	h, err := assemble(app, false, "logs", &Options{Warnings: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	p := h.p
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // the acknowledging stand-in
		defer close(stopped)
		for {
			select {
			case ev := <-p.queue:
				p.mu.Lock()
				p.inFlight++
				p.mu.Unlock()
				p.delivered(ev, nil)
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); <-stopped }()

	l := slog.New(h).With("service", "checkout", "version", "1.4.2")
	for range 2 * p.opts.BatchSize { // fill the free list, as a running handler has
		l.Info("warm up")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.LogAttrs(context.Background(), slog.LevelInfo, "request served",
			slog.String("user", "ana"),
			slog.Int("items", 3),
			slog.Duration("took", 1500*time.Microsecond),
			slog.Bool("cached", true),
			slog.Float64("ratio", 0.75),
			slog.Any("request", steadyModel{Method: "POST", Path: "/api/v1/orders", Status: 201}),
		)
	}
	b.StopTimer()
	if s := h.Stats(); s.Dropped > 0 {
		b.Fatalf("%d calls dropped: the numbers are not a call's cost", s.Dropped)
	}
}
