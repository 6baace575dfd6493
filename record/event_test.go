package record_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/record"
)

type accountLog struct {
	record.Model
	Account string  `json:"account"`
	Plan    *string `json:"plan"`
	Seats   int     `json:"seats"`
}

// An event this package writes decodes to what was logged.
func TestDecodeEventRoundTrip(t *testing.T) {
	var event []byte
	h := record.NewHandler(func(b []byte) error { event = append([]byte(nil), b...); return nil }, nil, &record.Options{
		Logger: "accounts",
		Host:   &record.Host{Hostname: "accounts-5f7c9-abcde", Service: "accounts", Namespace: "prod", Cluster: "eu-west-1"},
	})
	when := time.Date(2026, 11, 21, 16, 4, 5, 123456789, time.FixedZone("CET", 3600))
	r := slog.NewRecord(when, slog.LevelWarn+2, "quota \"low\"", 0)
	r.Add("err", &fs.PathError{Op: "stat", Path: "/q", Err: fs.ErrNotExist}, slog.Group("req", "id", "r-1", "n", 2),
		"message", "attr", "user", accountLog{Account: "acme", Seats: 3})
	if err := h.WithAttrs([]slog.Attr{slog.Bool("with", true)}).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	e, err := record.DecodeEvent(event)
	if err != nil {
		t.Fatalf("DecodeEvent: %v\n%s", err, event)
	}
	want := &record.Event{
		Schema:    "PydanticLogModel:1",
		Timestamp: time.Date(2026, 11, 21, 15, 4, 5, 123456000, time.UTC),
		Logger:    "accounts",
		Severity:  "Level 35",
		Level:     35,
		Message:   `quota "low"`,
		Exception: "fs.PathError",
		Stack:     "stat /q: file does not exist",
		Hostname:  "accounts-5f7c9-abcde",
		Service:   "accounts",
		Namespace: "prod",
		Cluster:   "eu-west-1",
		Fields: map[string]json.RawMessage{
			"with":           json.RawMessage(`true`),
			"err":            json.RawMessage(`"stat /q: file does not exist"`),
			"req":            json.RawMessage(`{"id":"r-1","n":2}`),
			"fields.message": json.RawMessage(`"attr"`),
			"account":        json.RawMessage(`"acme"`),
			"seats":          json.RawMessage(`3`),
		},
		Order: []string{"with", "err", "req", "fields.message", "account", "seats"},
	}
	if !e.Timestamp.Equal(want.Timestamp) || e.Timestamp.Location() != time.UTC {
		t.Errorf("Timestamp = %v, want %v in UTC", e.Timestamp, want.Timestamp)
	}
	e.Timestamp = want.Timestamp
	if !reflect.DeepEqual(e, want) {
		t.Errorf("DecodeEvent\n got %+v\nwant %+v", e, want)
	}
	if got := e.SlogLevel(); got != slog.LevelWarn+2 {
		t.Errorf("SlogLevel() = %v, want WARN+2", got)
	}
}

// An event exactly as Python's PydanticKafkaeskHandler publishes it
// (spec §3.4, §3.6): orjson's compact output, a naive utcnow().isoformat()
// timestamp, nulls for the empty base fields, and the log model's fields
// after them.
func TestDecodeEventFromPython(t *testing.T) {
	value := []byte(`{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T15:04:05.123456","logger":"kafkaesk.test",` +
		`"severity":"WARNING","level":30,"message":"Test Message extra","exception":null,"trace":null,"stack":null,` +
		`"hostname":"api-server-7d9f8-xk2p9","service":"api-server","namespace":null,"cluster":null,"foo":"bar","count":2,"tags":["a"]}}`)
	e, err := record.DecodeEvent(value)
	if err != nil {
		t.Fatal(err)
	}
	want := &record.Event{
		Schema:    "PydanticLogModel:1",
		Timestamp: time.Date(2026, 11, 21, 15, 4, 5, 123456000, time.UTC),
		Logger:    "kafkaesk.test",
		Severity:  "WARNING",
		Level:     30,
		Message:   "Test Message extra",
		Hostname:  "api-server-7d9f8-xk2p9",
		Service:   "api-server",
		Fields: map[string]json.RawMessage{
			"foo":   json.RawMessage(`"bar"`),
			"count": json.RawMessage(`2`),
			"tags":  json.RawMessage(`["a"]`),
		},
		Order: []string{"foo", "count", "tags"},
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("DecodeEvent\n got %+v\nwant %+v", e, want)
	}
	if e.Timestamp.Location() != time.UTC {
		t.Errorf("naive timestamp not taken as UTC: %v", e.Timestamp)
	}
	if got := e.SlogLevel(); got != slog.LevelWarn {
		t.Errorf("SlogLevel() = %v, want WARN", got)
	}

	// Python's isoformat leaves out the fraction when microseconds are 0,
	// and a traceback fills exception and stack.
	value = []byte(`{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T15:04:05","logger":"root","severity":"ERROR",` +
		`"level":40,"message":"boom","exception":"ValueError","trace":"Stack (most recent call last):\n  File \"x.py\"",` +
		`"stack":"Traceback (most recent call last):\nValueError: bad","hostname":"web-1","service":"web","namespace":"ns","cluster":"c1"}}`)
	e, err = record.DecodeEvent(value)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Timestamp.Equal(time.Date(2026, 11, 21, 15, 4, 5, 0, time.UTC)) || e.Exception != "ValueError" ||
		e.Trace != "Stack (most recent call last):\n  File \"x.py\"" || e.Stack != "Traceback (most recent call last):\nValueError: bad" ||
		e.Namespace != "ns" || e.Cluster != "c1" || e.Fields != nil || e.Order != nil {
		t.Errorf("DecodeEvent = %+v", e)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		value string
	}{
		{"not JSON", `bad string`},
		{"empty", ``},
		{"JSON array", `[1,2]`},
		{"other schema", `{"schema":"Foo:1","data":{"bar":"foo"}}`},
		{"schema with a longer id", `{"schema":"PydanticLogModelX:1","data":{}}`},
		{"no schema", `{"data":{"message":"m"}}`},
		{"no data", `{"schema":"PydanticLogModel:1"}`},
		{"data null", `{"schema":"PydanticLogModel:1","data":null}`},
		{"data an array", `{"schema":"PydanticLogModel:1","data":[{"message":"m"}]}`},
		{"data a string", `{"schema":"PydanticLogModel:1","data":"{}"}`},
		{"level not a number", `{"schema":"PydanticLogModel:1","data":{"level":"INFO"}}`},
		{"message not a string", `{"schema":"PydanticLogModel:1","data":{"message":{"a":1}}}`},
		{"bad timestamp", `{"schema":"PydanticLogModel:1","data":{"timestamp":"yesterday"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := record.DecodeEvent([]byte(tt.value))
			if !errors.Is(err, record.ErrNotLogEvent) {
				t.Errorf("DecodeEvent(%s) = %+v, %v; want an error wrapping ErrNotLogEvent", tt.value, e, err)
			}
			if e != nil {
				t.Errorf("DecodeEvent(%s) returned an event with its error", tt.value)
			}
		})
	}
}

// Any version of the schema decodes; keys the event repeats keep their
// first place in Order and their last value.
func TestDecodeEventLenient(t *testing.T) {
	e, err := record.DecodeEvent([]byte(`{"schema":"PydanticLogModel:2","data":{"a":1,"b":2,"a":3,"message":null,"level":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.Schema != "PydanticLogModel:2" || !slices.Equal(e.Order, []string{"a", "b"}) || string(e.Fields["a"]) != "3" || e.Message != "" || e.Level != 0 {
		t.Errorf("DecodeEvent = %+v", e)
	}
}
