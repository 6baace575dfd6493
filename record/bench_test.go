package record_test

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaesk-go/kafkaesk/record"
)

type benchLog struct {
	record.Model
	User  string `json:"user"`
	Plan  string `json:"plan"`
	Seats int    `json:"seats"`
}

var benchOpts = &record.Options{
	Logger: "accounts",
	Host:   &record.Host{Hostname: "accounts-5f7c9-abcde", Service: "accounts", Namespace: "prod", Cluster: "eu-west-1"},
}

// benchRecord is the call every benchmark makes: five attributes and a log
// model, built once so that only the encoding is measured.
func benchRecord() slog.Record {
	r := slog.NewRecord(time.Date(2026, 11, 21, 15, 4, 5, 123456789, time.UTC), slog.LevelInfo, "signed in", 0)
	r.AddAttrs(
		slog.String("method", "POST"),
		slog.Int("status", 200),
		slog.Duration("elapsed", 1500*time.Microsecond),
		slog.Bool("cached", false),
		slog.String("path", "/api/v1/sessions"),
		slog.Any("user", benchLog{User: "ana", Plan: "pro", Seats: 3}),
	)
	return r
}

// BenchmarkEncode compares the Encoder writing into a reused buffer with
// slog.JSONHandler writing the same record to io.Discard (which logs the
// model as an ordinary attribute, through encoding/json).
// benchstat -col /h compares them.
func BenchmarkEncode(b *testing.B) {
	ctx := context.Background()
	r := benchRecord()
	b.Run("h=record", func(b *testing.B) {
		enc := record.NewEncoder(benchOpts)
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = enc.Append(buf[:0], ctx, r)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("h=record.Handler", func(b *testing.B) {
		h := record.NewHandler(func([]byte) error { return nil }, nil, benchOpts)
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Handle(ctx, r)
		}
	})
	b.Run("h=slogJSON", func(b *testing.B) {
		h := slog.NewJSONHandler(io.Discard, nil)
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Handle(ctx, r)
		}
	})
	// With pre-encoded WithAttrs and a group.
	with := []slog.Attr{slog.String("request_id", "r-1"), slog.String("tenant", "acme")}
	b.Run("h=record/With+Group", func(b *testing.B) {
		enc := record.NewEncoder(benchOpts).WithAttrs(with).WithGroup("http")
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = enc.Append(buf[:0], ctx, r)
		}
	})
	b.Run("h=slogJSON/With+Group", func(b *testing.B) {
		h := slog.NewJSONHandler(io.Discard, nil).WithAttrs(with).WithGroup("http")
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Handle(ctx, r)
		}
	})
}

// BenchmarkDisabled is the cost of a call below the handler's level.
func BenchmarkDisabled(b *testing.B) {
	ctx := context.Background()
	h := record.NewHandler(func([]byte) error { return nil }, slog.LevelWarn, benchOpts)
	b.Run("Enabled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if h.Enabled(ctx, slog.LevelInfo) {
				b.Fatal("enabled")
			}
		}
	})
	b.Run("h=record/Logger.Info", func(b *testing.B) {
		l := slog.New(h)
		b.ReportAllocs()
		for b.Loop() {
			l.Info("signed in", "method", "POST", "status", 200)
		}
	})
	b.Run("h=slogJSON/Logger.Info", func(b *testing.B) {
		l := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
		b.ReportAllocs()
		for b.Loop() {
			l.Info("signed in", "method", "POST", "status", 200)
		}
	})
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// The allocation budget of the common case: five attributes and a log
// model, into a reused buffer, allocate nothing.
func TestEncodeAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("allocation counts differ under -race")
	}
	ctx := context.Background()
	r := benchRecord()
	for _, tt := range []struct {
		name string
		enc  *record.Encoder
	}{
		{"plain", record.NewEncoder(benchOpts)},
		{"With+Group", record.NewEncoder(benchOpts).WithAttrs([]slog.Attr{slog.String("request_id", "r-1")}).WithGroup("http")},
	} {
		buf := tt.enc.Append(nil, ctx, r)
		if n := testing.AllocsPerRun(100, func() { buf = tt.enc.Append(buf[:0], ctx, r) }); n != 0 {
			t.Errorf("%s: Append allocates %v times per call, want 0", tt.name, n)
		}
		// In a span: trace_id and span_id cost no allocation either.
		sctx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}}))
		buf = tt.enc.Append(buf[:0], sctx, r)
		if n := testing.AllocsPerRun(100, func() { buf = tt.enc.Append(buf[:0], sctx, r) }); n != 0 {
			t.Errorf("%s in a span: Append allocates %v times per call, want 0", tt.name, n)
		}
	}
	h := record.NewHandler(func([]byte) error { return nil }, slog.LevelWarn, benchOpts)
	if n := testing.AllocsPerRun(100, func() { h.Enabled(ctx, slog.LevelInfo) }); n != 0 {
		t.Errorf("Enabled allocates %v times per call, want 0", n)
	}
}

// BenchmarkDecodeEvent decodes one log event as sloghandler writes it:
// h=scan is the zero-allocation scan alone (what the collector's filters
// read), h=decode all of DecodeEvent.
func BenchmarkDecodeEvent(b *testing.B) {
	value := []byte(`{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T10:00:00.123456Z",` +
		`"logger":"http","severity":"INFO","level":20,"message":"request handled","exception":null,"trace":null,"stack":null,` +
		`"hostname":"api-7d9f8-xk2p9","service":"api","namespace":null,"cluster":null,"method":"GET","path":"/orders/123456","status":200,"duration_ms":1.25}}`)
	b.Run("h=decode", func(b *testing.B) {
		b.SetBytes(int64(len(value)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := record.DecodeEvent(value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("h=scan", func(b *testing.B) {
		var v record.EventView
		b.SetBytes(int64(len(value)))
		b.ReportAllocs()
		for b.Loop() {
			if err := record.ScanEvent(value, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
