package record_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/kafkaesk-go/kafkaesk/record"
)

// slogResult maps one event back onto slog's keys, as testing/slogtest
// wants: timestamp is slog.TimeKey (a time.Time), severity and level are
// slog.LevelKey (a slog.Level), message is slog.MessageKey; the other base
// fields are dropped; a top-level "fields.<key>" (an attribute named like
// a base field) is <key> again; attributes and groups stay as they are,
// groups as nested maps.
func slogResult(event []byte) (map[string]any, error) {
	var env struct {
		Schema string
		Data   map[string]any
	}
	if err := json.Unmarshal(event, &env); err != nil {
		return nil, fmt.Errorf("%w: %s", err, event)
	}
	if env.Schema != "PydanticLogModel:1" || env.Data == nil {
		return nil, fmt.Errorf("not a log event: %s", event)
	}
	m := map[string]any{}
	for k, v := range env.Data {
		switch k {
		case "timestamp":
			s, _ := v.(string)
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("timestamp: %w", err)
			}
			m[slog.TimeKey] = t
		case "level":
			n, ok := v.(float64)
			if !ok {
				return nil, fmt.Errorf("level %v is not a number", v)
			}
			l := record.SlogLevel(int(n))
			if sev := env.Data["severity"]; sev != record.Severity(int(n)) {
				return nil, fmt.Errorf("severity %v does not name level %v", sev, n)
			}
			m[slog.LevelKey] = l
		case "message":
			m[slog.MessageKey] = v
		case "severity", "logger", "exception", "trace", "stack", "hostname", "service", "namespace", "cluster":
		default:
			m[strings.TrimPrefix(k, "fields.")] = v
		}
	}
	return m, nil
}

// The Handler, and so the Encoder, passes every testing/slogtest case,
// with and without AddSource (for the empty-PC case).
func TestSlogtest(t *testing.T) {
	for _, opts := range []*record.Options{
		{Host: &record.Host{Hostname: "web-1", Service: "web"}},
		{Host: &record.Host{Hostname: "web-1", Service: "web"}, AddSource: true},
	} {
		t.Run(fmt.Sprintf("AddSource=%v", opts.AddSource), func(t *testing.T) {
			var events [][]byte
			slogtest.Run(t, func(*testing.T) slog.Handler {
				events = nil
				return record.NewHandler(func(b []byte) error {
					events = append(events, append([]byte(nil), b...))
					return nil
				}, slog.LevelInfo, opts)
			}, func(t *testing.T) map[string]any {
				if len(events) != 1 {
					t.Fatalf("%d events, want 1", len(events))
				}
				m, err := slogResult(events[0])
				if err != nil {
					t.Fatal(err)
				}
				return m
			})
		})
	}
}

// All cases through one Handler, as slogtest.TestHandler runs them.
func TestSlogtestHandler(t *testing.T) {
	var events [][]byte
	h := record.NewHandler(func(b []byte) error {
		events = append(events, append([]byte(nil), b...))
		return nil
	}, nil, &record.Options{Host: &record.Host{Hostname: "web-1", Service: "web"}, AddSource: true})
	err := slogtest.TestHandler(h, func() []map[string]any {
		var ms []map[string]any
		for _, e := range events {
			m, err := slogResult(e)
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		return ms
	})
	if err != nil {
		t.Error(err)
	}
}

// The results function maps the renamed keys back.
func TestSlogResult(t *testing.T) {
	m, err := slogResult([]byte(`{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T15:04:05.123456Z","logger":"x",` +
		`"severity":"Level 25","level":25,"message":"m","exception":null,"trace":null,"stack":null,"hostname":"h","service":"s",` +
		`"namespace":null,"cluster":null,"fields.message":"attr","g":{"a":1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		slog.TimeKey:    time.Date(2026, 11, 21, 15, 4, 5, 123456000, time.UTC),
		slog.LevelKey:   slog.LevelInfo + 2,
		slog.MessageKey: "m",
		"message":       "attr",
		"g":             map[string]any{"a": float64(1)},
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", m, want)
	}
}
