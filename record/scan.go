package record

import (
	"bytes"
	"fmt"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// EventView is a log event as ScanEvent reads it: in one pass over the
// message, validated as JSON, and without copying, so its slices point
// into the message value and are valid only as long as it is. Reusing a
// view for the next message reuses the memory of its Members.
//
// Its fields hold what filters need without decoding the event; Event
// decodes the rest from Members, without reading the JSON again.
type EventView struct {
	// Schema is the envelope's schema, decoded: "PydanticLogModel:1".
	Schema []byte
	// Data is the event, the envelope's data object, exactly as in the
	// message.
	Data []byte
	// Members are Data's members in order, repeated keys included: each
	// key decoded, each value as in the message.
	Members []Member
	// Level is data.level when it is a whole number, else 0 (Python's
	// NOTSET).
	Level int
	// Logger and Service are data.logger and data.service, decoded,
	// when they are strings; nil otherwise.
	Logger, Service []byte
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
// once v.Members has grown to the event's size, unless keys or the
// logger or service are spelled with escapes.
func ScanEvent(value []byte, v *EventView) error {
	members := v.Members[:0]
	*v = EventView{Members: members}
	var env core.RawEnvelope
	if err := core.ScanEnvelope(value, &env, v.add); err != nil {
		v.Members = v.Members[:0]
		return fmt.Errorf("%w: %w", ErrNotLogEvent, err)
	}
	if string(env.Name()) != SchemaID {
		v.Members = v.Members[:0]
		return fmt.Errorf("%w: schema %q is not %s", ErrNotLogEvent, env.Schema, SchemaID)
	}
	if env.Data[0] != '{' {
		v.Members = v.Members[:0]
		return fmt.Errorf("%w: data is not an object", ErrNotLogEvent)
	}
	v.Schema, v.Data = env.Schema, env.Data
	// When "data" was given twice, the members of the last come last:
	// drop those before it, found by where they are in value.
	if n := len(v.Members); n > 0 && cap(v.Members[0].Value) > cap(env.Data) {
		i := 0
		for i < n && cap(v.Members[i].Value) > cap(env.Data) {
			i++
		}
		v.Members = v.Members[:copy(v.Members, v.Members[i:])]
	}
	for _, m := range v.Members {
		switch string(m.Key) {
		case "level":
			v.Level = 0
			if c := m.Value[0]; c == '-' || c >= '0' && c <= '9' {
				v.Level, _ = parseInt(m.Value)
			}
		case "logger":
			v.Logger = stringValue(m.Value)
		case "service":
			v.Service = stringValue(m.Value)
		}
	}
	return nil
}

func (v *EventView) add(key, value []byte) {
	v.Members = append(v.Members, Member{Key: key, Value: value})
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
