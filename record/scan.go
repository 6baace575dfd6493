package record

import (
	"bytes"
	"fmt"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/jsonscan"
)

// EventView is a log event as ScanEvent reads it: in one pass over the
// message, validated as JSON, and without copying, so its slices point
// into the message value and are valid only as long as it is.
//
// Its fields hold what filters need without decoding the event. It holds
// no list of the event's members: a filter that drops the event never
// pays for one. Event and AppendMembers walk Data when asked, a walk of
// JSON already validated.
type EventView struct {
	// Schema is the envelope's schema, decoded: "PydanticLogModel:1".
	Schema []byte
	// Data is the event, the envelope's data object, exactly as in the
	// message.
	Data []byte
	// Level is data.level when it is a whole number, else 0 (Python's
	// NOTSET).
	Level int
	// Logger and Service are data.logger and data.service, decoded,
	// when they are strings; nil otherwise.
	Logger, Service []byte
	// TraceID is data.trace_id (TraceIDKey), decoded, when it is a
	// string; nil otherwise.
	TraceID []byte
}

// Member is one member of a JSON object: its key, decoded, and its
// value as in the message.
type Member struct {
	Key, Value []byte
}

// ScanEvent reads value as a log event into v, replacing what v held.
// It fails, with an error wrapping ErrNotLogEvent, when value is not
// JSON, not a kafkaesk envelope, not of schema SchemaID (any version), or
// when its data is not an object. Base fields of unexpected types do
// not fail the scan: Event reports them. ScanEvent allocates nothing
// unless keys, the schema, the logger or the service are spelled with
// escapes.
func ScanEvent(value []byte, v *EventView) error {
	*v = EventView{}
	if scanPlain(value, v) {
		return nil
	}
	*v = EventView{}
	var env core.RawEnvelope
	var f filterFields
	if err := core.ScanEnvelope(value, &env, f.member); err != nil {
		return fmt.Errorf("%w: %w", ErrNotLogEvent, err)
	}
	if string(env.Name()) != SchemaID {
		return fmt.Errorf("%w: schema %q is not %s", ErrNotLogEvent, env.Schema, SchemaID)
	}
	if env.Data[0] != '{' {
		return fmt.Errorf("%w: data is not an object", ErrNotLogEvent)
	}
	v.Schema, v.Data = env.Schema, env.Data
	// When "data" was given twice, the last counts: a field seen only in
	// an earlier one lies before env.Data in value, as told by its
	// capacity, and is not the event's.
	in := func(raw []byte) []byte {
		if raw == nil || cap(raw) > cap(env.Data) {
			return nil
		}
		return raw
	}
	if raw := in(f.level); raw != nil {
		if c := raw[0]; c == '-' || c >= '0' && c <= '9' {
			v.Level, _ = parseInt(raw)
		}
	}
	if raw := in(f.logger); raw != nil {
		v.Logger = stringValue(raw)
	}
	if raw := in(f.service); raw != nil {
		v.Service = stringValue(raw)
	}
	if raw := in(f.traceID); raw != nil {
		v.TraceID = stringValue(raw)
	}
	return nil
}

// scanPlain is ScanEvent's fast path, for an event as the handlers
// write it: {"schema":"PydanticLogModel:N","data":{...}}, schema first,
// each key once and without escapes, whitespace anywhere. It validates
// value as JSON in one pass, as ScanEnvelope does, and fills v as the
// scan below does. It reports false for anything else, valid or not,
// leaving v to be overwritten: the general scan then reads the value
// and says what is wrong with it.
func scanPlain(b []byte, v *EventView) bool {
	i := jsonscan.SkipWS(b, 0)
	if i+len(`{"schema":`) > len(b) || b[i] != '{' {
		return false
	}
	i = jsonscan.SkipWS(b, i+1)
	if string(b[i:min(i+8, len(b))]) != `"schema"` {
		return false
	}
	i = jsonscan.SkipWS(b, i+8)
	if i >= len(b) || b[i] != ':' {
		return false
	}
	start := jsonscan.SkipWS(b, i+1)
	end, esc := jsonscan.SkipString(b, start)
	if end < 0 || esc {
		return false
	}
	v.Schema = b[start+1 : end-1]
	if name, _, _ := bytes.Cut(v.Schema, []byte{':'}); string(name) != SchemaID {
		return false
	}
	i = jsonscan.SkipWS(b, end)
	if i >= len(b) || b[i] != ',' {
		return false
	}
	i = jsonscan.SkipWS(b, i+1)
	if string(b[i:min(i+6, len(b))]) != `"data"` {
		return false
	}
	i = jsonscan.SkipWS(b, i+6)
	if i >= len(b) || b[i] != ':' {
		return false
	}
	start = jsonscan.SkipWS(b, i+1)
	end = scanData(b, start, v)
	if end < 0 {
		return false
	}
	v.Data = b[start:end]
	i = jsonscan.SkipWS(b, end)
	if i >= len(b) || b[i] != '}' {
		return false
	}
	return jsonscan.SkipWS(b, i+1) == len(b)
}

// scanData walks the data object at b[i], filling v's filter fields, and
// returns the offset past it, or -1 when it is not an object of keys
// without escapes, valid JSON. A key given twice counts the last time.
// Keys are told apart by length first: most members cost no comparison.
func scanData(b []byte, i int, v *EventView) int {
	if i >= len(b) || b[i] != '{' {
		return -1
	}
	i = jsonscan.SkipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		end, esc := jsonscan.SkipString(b, i)
		if end < 0 || esc {
			return -1
		}
		key := b[i+1 : end-1]
		i = jsonscan.SkipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		start := jsonscan.SkipWS(b, i+1)
		// Members are inside the envelope and the data: depth 2.
		i = jsonscan.SkipValue(b, start, 2)
		if i < 0 {
			return -1
		}
		switch len(key) {
		case len("level"):
			if string(key) == "level" {
				v.Level = 0
				if c := b[start]; c == '-' || c >= '0' && c <= '9' {
					v.Level, _ = parseInt(b[start:i])
				}
			}
		case len("logger"):
			if string(key) == "logger" {
				v.Logger = stringValue(b[start:i])
			}
		case len("service"):
			if string(key) == "service" {
				v.Service = stringValue(b[start:i])
			}
		case len(TraceIDKey):
			if string(key) == TraceIDKey {
				v.TraceID = stringValue(b[start:i])
			}
		}
		i = jsonscan.SkipWS(b, i)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipWS(b, i+1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
}

// filterFields keeps the raw values of the fields EventView decodes, the
// last of each, as ScanEnvelope passes the data's members.
type filterFields struct {
	level, logger, service, traceID []byte
}

func (f *filterFields) member(key, value []byte) {
	switch string(key) {
	case "level":
		f.level = value
	case "logger":
		f.logger = value
	case "service":
		f.service = value
	case TraceIDKey:
		f.traceID = value
	}
}

// AppendMembers appends the members of v.Data to dst, in order, repeated
// keys included, and returns the extended slice: each key decoded, each
// value as in the message. It allocates only to grow dst, and to decode
// keys spelled with escapes.
func (v *EventView) AppendMembers(dst []Member) []Member {
	v.eachMember(func(key []byte, _ int, value []byte) {
		dst = append(dst, Member{Key: key, Value: value})
	})
	return dst
}

// eachMember walks v.Data, validated by ScanEvent, calling f with each
// member: its key decoded, the offset of its value in v.Data, and the
// value as there. It returns the walk's error, which only a view not
// filled by ScanEvent can have.
func (v *EventView) eachMember(f func(key []byte, off int, value []byte)) error {
	if len(v.Data) == 0 {
		return nil
	}
	s := jsonscan.New(v.Data)
	if !s.Object() {
		return s.Err()
	}
	for s.More() {
		key, esc, ok := s.Key()
		if !ok {
			break
		}
		if esc {
			key = jsonscan.Unescaped(key, true)
		}
		off := s.Pos()
		value, ok := s.Value()
		if !ok {
			break
		}
		f(key, off, value)
	}
	return s.Err()
}

// stringValue decodes raw when it is a JSON string, else returns nil.
func stringValue(raw []byte) []byte {
	if raw[0] != '"' {
		return nil
	}
	content := raw[1 : len(raw)-1]
	if bytes.IndexByte(content, '\\') < 0 {
		return content
	}
	return unescaped(content)
}
