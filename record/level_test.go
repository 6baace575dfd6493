package record_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/record"
)

func TestPythonLevel(t *testing.T) {
	for _, tt := range []struct {
		slog     slog.Level
		python   int
		severity string
	}{
		{slog.LevelDebug, 10, "DEBUG"},
		{slog.LevelInfo, 20, "INFO"},
		{slog.LevelWarn, 30, "WARNING"},
		{slog.LevelError, 40, "ERROR"},
		{record.LevelCriticalSlog, 50, "CRITICAL"},
		{slog.LevelInfo + 2, 25, "Level 25"},
		{slog.LevelInfo + 1, 22, "Level 22"},
		{slog.LevelInfo - 1, 18, "Level 18"},
		{slog.LevelDebug - 2, 5, "Level 5"},
		{slog.LevelError + 2, 45, "Level 45"},
		{record.LevelCriticalSlog + 4, 60, "Level 60"},
		{slog.LevelDebug - 4, 0, "NOTSET"},
		{slog.LevelDebug - 8, 0, "NOTSET"}, // never below NOTSET
	} {
		if got := record.PythonLevel(tt.slog); got != tt.python {
			t.Errorf("PythonLevel(%v) = %d, want %d", tt.slog, got, tt.python)
		}
		if got := record.Severity(tt.python); got != tt.severity {
			t.Errorf("Severity(%d) = %q, want %q", tt.python, got, tt.severity)
		}
	}
	if record.LevelCriticalSlog != slog.LevelError+4 {
		t.Errorf("LevelCriticalSlog = %v, want ERROR+4", record.LevelCriticalSlog)
	}
}

func TestSlogLevel(t *testing.T) {
	for _, tt := range []struct {
		python int
		slog   slog.Level
	}{
		{record.LevelDebug, slog.LevelDebug},
		{record.LevelInfo, slog.LevelInfo},
		{record.LevelWarning, slog.LevelWarn},
		{record.LevelError, slog.LevelError},
		{record.LevelCritical, record.LevelCriticalSlog},
		{25, slog.LevelInfo + 2},
		{0, slog.LevelDebug - 4},
		{15, slog.LevelDebug + 2}, // halves round away from zero
		{5, slog.LevelDebug - 2},
		{21, slog.LevelInfo},
		{24, slog.LevelInfo + 2},
	} {
		if got := record.SlogLevel(tt.python); got != tt.slog {
			t.Errorf("SlogLevel(%d) = %v, want %v", tt.python, got, tt.slog)
		}
	}
}

// SlogLevel inverts PythonLevel over slog's usual range and beyond.
func TestSlogLevelRoundTrip(t *testing.T) {
	for l := slog.Level(-8); l <= 16; l++ {
		if got := record.SlogLevel(record.PythonLevel(l)); got != l {
			t.Errorf("SlogLevel(PythonLevel(%v)) = %v (via %d)", l, got, record.PythonLevel(l))
		}
	}
}

// The event carries Python's name and number for every slog level.
func TestEventLevels(t *testing.T) {
	var last string
	h := record.NewHandler(func(b []byte) error { last = string(b); return nil }, slog.Level(-100),
		&record.Options{Host: &record.Host{Hostname: "web-1", Service: "web"}, Logger: "x"})
	for _, tt := range []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug, `"severity":"DEBUG","level":10,`},
		{slog.LevelInfo, `"severity":"INFO","level":20,`},
		{slog.LevelWarn, `"severity":"WARNING","level":30,`},
		{slog.LevelError, `"severity":"ERROR","level":40,`},
		{record.LevelCriticalSlog, `"severity":"CRITICAL","level":50,`},
		{slog.LevelInfo + 2, `"severity":"Level 25","level":25,`},
		{slog.Level(-100), `"severity":"NOTSET","level":0,`},
	} {
		if err := h.Handle(context.Background(), slog.NewRecord(time.Time{}, tt.level, "m", 0)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(last, tt.want) {
			t.Errorf("level %v: %s, want %s", tt.level, last, tt.want)
		}
	}
}

// Enabled is the cheap early-out, following a LevelVar.
func TestHandlerEnabled(t *testing.T) {
	var lv slog.LevelVar
	h := record.NewHandler(func([]byte) error { return nil }, &lv, nil)
	ctx := context.Background()
	for _, tt := range []struct {
		min, l slog.Level
		want   bool
	}{
		{slog.LevelInfo, slog.LevelDebug, false},
		{slog.LevelInfo, slog.LevelInfo, true},
		{slog.LevelWarn, slog.LevelInfo, false},
		{slog.LevelWarn, record.LevelCriticalSlog, true},
		{slog.LevelDebug, slog.LevelDebug, true},
	} {
		lv.Set(tt.min)
		if got := h.Enabled(ctx, tt.l); got != tt.want {
			t.Errorf("min %v: Enabled(%v) = %v, want %v", tt.min, tt.l, got, tt.want)
		}
		if got := h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)}).Enabled(ctx, tt.l); got != tt.want {
			t.Errorf("min %v: derived handler Enabled(%v) = %v, want %v", tt.min, tt.l, got, tt.want)
		}
	}
}
