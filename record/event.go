package record

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"encoding/json"
)

// Event is a decoded log event: kafkaesk's PydanticLogModel, as written by
// this package or by Python's PydanticKafkaeskHandler. The base fields have
// their own fields here; everything else (attributes, groups, log model
// fields) is in Fields, as raw JSON by key.
type Event struct {
	Schema    string
	Timestamp time.Time
	Logger    string
	Severity  string
	Level     int // Python's number: 10 DEBUG ... 50 CRITICAL
	Message   string
	Exception string
	Trace     string
	Stack     string
	Hostname  string
	Service   string
	Namespace string
	Cluster   string
	Fields    map[string]json.RawMessage
	// Order lists the keys of Fields as they appeared.
	Order []string
}

// ErrNotLogEvent is wrapped by DecodeEvent's errors for messages that are
// not log events.
var ErrNotLogEvent = errors.New("not a log event")

// DecodeEvent decodes a message value as a log event. The envelope's
// schema id must be SchemaID (any version); timestamps are read as RFC 3339
// or as Python's naive isoformat, taken as UTC.
func DecodeEvent(value []byte) (*Event, error) {
	var env struct {
		Schema string          `json:"schema"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(value, &env); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrNotLogEvent, err)
	}
	id, _, _ := strings.Cut(env.Schema, ":")
	if id != SchemaID {
		return nil, fmt.Errorf("%w: schema %q is not %s", ErrNotLogEvent, env.Schema, SchemaID)
	}
	if len(env.Data) == 0 || env.Data[0] != '{' {
		return nil, fmt.Errorf("%w: data is not an object", ErrNotLogEvent)
	}
	e := &Event{Schema: env.Schema}
	dec := json.NewDecoder(bytes.NewReader(env.Data))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotLogEvent, err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotLogEvent, err)
		}
		k, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: field %q: %v", ErrNotLogEvent, k, err)
		}
		if err := e.set(k, raw); err != nil {
			return nil, fmt.Errorf("%w: field %q: %v", ErrNotLogEvent, k, err)
		}
	}
	return e, nil
}

func (e *Event) set(k string, raw json.RawMessage) error {
	str := func(dst *string) error {
		if string(raw) == "null" {
			return nil
		}
		return json.Unmarshal(raw, dst)
	}
	switch k {
	case "timestamp":
		var s string
		if err := str(&s); err != nil || s == "" {
			return err
		}
		t, err := parseTimestamp(s)
		e.Timestamp = t
		return err
	case "logger":
		return str(&e.Logger)
	case "severity":
		return str(&e.Severity)
	case "level":
		if string(raw) == "null" {
			return nil
		}
		return json.Unmarshal(raw, &e.Level)
	case "message":
		return str(&e.Message)
	case "exception":
		return str(&e.Exception)
	case "trace":
		return str(&e.Trace)
	case "stack":
		return str(&e.Stack)
	case "hostname":
		return str(&e.Hostname)
	case "service":
		return str(&e.Service)
	case "namespace":
		return str(&e.Namespace)
	case "cluster":
		return str(&e.Cluster)
	}
	if e.Fields == nil {
		e.Fields = map[string]json.RawMessage{}
	}
	if _, dup := e.Fields[k]; !dup {
		e.Order = append(e.Order, k)
	}
	e.Fields[k] = raw
	return nil
}

func parseTimestamp(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// Python's datetime.utcnow().isoformat(): naive, UTC.
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is neither RFC 3339 nor Python isoformat", s)
	}
	return t, nil
}

// SlogLevel returns the event's level on slog's scale.
func (e *Event) SlogLevel() slog.Level { return SlogLevel(e.Level) }
