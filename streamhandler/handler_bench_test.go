package streamhandler_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lmittmann/tint"

	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

// BenchmarkHandle compares the handler with the tint handler it wraps,
// over io.Discard and without colours: compare with
// benchstat -col /h.
func BenchmarkHandle(b *testing.B) {
	handlers := []struct {
		name string
		h    slog.Handler
	}{
		{"streamhandler", streamhandler.New(io.Discard, &streamhandler.Options{Color: streamhandler.ColorNever})},
		{"tint", tint.NewTextHandler(io.Discard, &tint.Options{NoColor: true})},
	}
	scenarios := []struct {
		name string
		f    func(*slog.Logger)
	}{
		{"attrs=5", func(l *slog.Logger) {
			l.Info("request", "method", "GET", "path", "/login", "status", 200, "took", 1500*time.Millisecond, "ok", true)
		}},
		{"model", func(l *slog.Logger) {
			l.Info("signed in", "event", UserLog{User: "ana", Attempts: 2}, "ip", "10.0.0.1")
		}},
		{"group", func(l *slog.Logger) {
			l.Info("request", "method", "GET", "path", "/login", "status", 200)
		}},
	}
	for _, s := range scenarios {
		for _, h := range handlers {
			b.Run("s="+s.name+"/h="+h.name, func(b *testing.B) {
				l := slog.New(h.h)
				if s.name == "group" {
					l = l.With("id", 7).WithGroup("req")
				}
				b.ReportAllocs()
				for b.Loop() {
					s.f(l)
				}
			})
		}
	}
}
