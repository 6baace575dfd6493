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

type requestLog struct {
	record.Model
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

// BenchCall is the call every per-call benchmark makes: five attributes
// and a log model. Exported for the package's external tests.
func BenchCall(l *slog.Logger) {
	l.LogAttrs(context.Background(), slog.LevelInfo, "request served",
		slog.String("user", "ana"),
		slog.Int("items", 3),
		slog.Duration("took", 1500*time.Microsecond),
		slog.Bool("cached", true),
		slog.Float64("ratio", 0.75),
		slog.Any("request", requestLog{Method: "POST", Path: "/api/v1/orders", Status: 201}),
	)
}

// BenchmarkHandleSteady times a call in the steady state, where Kafka
// keeps up: the benchmark stands in for the producer and settles each
// event as it is handed over, so that every call encodes into the buffer
// of a settled event. The settling (the promise, the slot, the free list)
// is timed with the call: if anything the numbers are high. Nothing else
// runs, so allocs/op is the call's own: slog's, and none of the
// handler's. BenchmarkHandle (h=sloghandler-cold) is the other end:
// nothing acknowledged.
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
	p.produce = func(rec *core.Record, promise core.Promise) error {
		promise(rec, nil)
		return nil
	}
	l := slog.New(h).With("service", "checkout", "version", "1.4.2")
	const warm = 1000
	for range warm { // fill the free list, as a running handler has
		l.Info("warm up")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		BenchCall(l)
	}
	b.StopTimer()
	if s := h.Stats(); s.Published != int64(b.N+warm) {
		b.Fatalf("%d of %d calls acknowledged: the numbers are not a call's cost", s.Published, b.N+warm)
	}
}
