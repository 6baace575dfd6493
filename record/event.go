package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonscan"
	"github.com/kafkaesk-go/kafkaesk/internal/pytime"
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
// or as Python's naive isoformat, taken as UTC. It is ScanEvent, then
// EventView.Event.
func DecodeEvent(value []byte) (*Event, error) {
	var v EventView
	if err := ScanEvent(value, &v); err != nil {
		return nil, err
	}
	return v.Event()
}

// DecodeMessage decodes a message value into e, as DecodeEvent does, and
// returns its envelope's schema. It makes Event a handler type of
// core.Subscribe, so that log streams are read as events, with no []byte
// handler and decode of one's own:
//
//	core.Subscribe(app, "logs.*", "alerts", func(ctx context.Context, m *core.Message[record.Event]) error {
//		if m.Data.Level >= record.LevelError { ... }
//	}, nil)
//
// A message that is not a log event is skipped by the subscription.
func (e *Event) DecodeMessage(value []byte) (schema string, err error) {
	d, err := DecodeEvent(value)
	if err != nil {
		return "", err
	}
	*e = *d
	return e.Schema, nil
}

// Event decodes the event v holds. The base fields must be of the types
// EventSchemaJSON gives them, each time a key is repeated; the last value
// of a key counts, and Order keeps a repeated key's first place. The
// event shares no memory with the message. Event reads only v.Schema
// and v.Data, walking Data once more without validating it again.
func (v *EventView) Event() (*Event, error) {
	e := &Event{Schema: jsonscan.Text(v.Schema, false)}
	var data []byte // one copy of v.Data, that Fields point into
	var err error
	werr := v.eachMember(func(key []byte, off int, value []byte) {
		if err != nil {
			return
		}
		k := string(key)
		if serr := e.set(k, value); serr != errNotBase {
			if serr != nil {
				err = fmt.Errorf("%w: field %q: %v", ErrNotLogEvent, k, serr)
			}
			return
		}
		if data == nil {
			data = bytes.Clone(v.Data)
		}
		k = jsonscan.Text(key, false) // invalid UTF-8 replaced, as encoding/json does
		if e.Fields == nil {
			e.Fields = map[string]json.RawMessage{}
		}
		if _, dup := e.Fields[k]; !dup {
			e.Order = append(e.Order, k)
		}
		end := off + len(value)
		e.Fields[k] = data[off:end:end]
	})
	if werr != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotLogEvent, werr)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// errNotBase is set's answer for a key that is not a base field.
var errNotBase = errors.New("not a base field")

// set sets base field k from its raw JSON value.
func (e *Event) set(k string, raw []byte) error {
	str := func(dst *string) error {
		switch raw[0] {
		case 'n':
			return nil
		case '"':
			content := raw[1 : len(raw)-1]
			*dst = jsonscan.Text(content, bytes.IndexByte(content, '\\') >= 0)
			return nil
		}
		return fmt.Errorf("%s is not a string", kind(raw))
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
		if raw[0] == 'n' {
			return nil
		}
		n, ok := parseInt(raw)
		if !ok {
			return fmt.Errorf("%s is not an integer of %d bits", raw, strconv.IntSize)
		}
		e.Level = n
		return nil
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
	return errNotBase
}

// kind names the JSON type of a valid value, for errors.
func kind(raw []byte) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case 'n':
		return "null"
	}
	return "a number"
}

// parseInt reads a JSON number that is an integer literal and fits an
// int, as encoding/json decodes into an int; it allocates nothing.
func parseInt(raw []byte) (int, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	if len(raw) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	limit := uint64(math.MaxInt)
	if neg {
		limit++
	}
	if n > limit {
		return 0, false
	}
	if neg {
		return int(-n), true // -MaxInt-1 wraps to itself
	}
	return int(n), true
}

// unescaped decodes the content of a JSON string that holds escapes.
func unescaped(content []byte) []byte { return jsonscan.Unescaped(content, true) }

func parseTimestamp(s string) (time.Time, error) {
	t, err := pytime.Parse(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp: %w", err)
	}
	return t, nil
}

// SlogLevel returns the event's level on slog's scale.
func (e *Event) SlogLevel() slog.Level { return SlogLevel(e.Level) }
