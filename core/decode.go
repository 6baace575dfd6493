package core

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/segmentio/encoding/json"
)

// decoder fills msg from rec for a handler of some T; an error means the
// message is skipped.
type decoder[T any] func(app *Application, rec *Record, msg *Message[T]) error

var (
	bytesType    = reflect.TypeFor[[]byte]()
	recordType   = reflect.TypeFor[Record]()
	envelopeType = reflect.TypeFor[Envelope]()
	anyMapType   = reflect.TypeFor[map[string]any]()
)

// MessageDecoder is implemented by the pointer of a handler data type that
// decodes whole message values itself, as record.Event does for log
// events: Subscribe[T] then calls DecodeMessage on each message's value,
// which returns the envelope's schema ("PydanticLogModel:1"); an error
// skips the message, as any undecodable one.
type MessageDecoder interface {
	DecodeMessage(value []byte) (schema string, err error)
}

var messageDecoderType = reflect.TypeFor[MessageDecoder]()

// newDecoder picks, once per subscription, how records become T.
func newDecoder[T any](reg *Router) (decoder[T], error) {
	t := reflect.TypeFor[T]()
	switch t {
	case bytesType:
		return func(_ *Application, rec *Record, msg *Message[T]) error {
			*any(&msg.Data).(*[]byte) = rec.Value
			return nil
		}, nil
	case recordType:
		return func(_ *Application, rec *Record, msg *Message[T]) error {
			*any(&msg.Data).(*Record) = *rec
			return nil
		}, nil
	case envelopeType:
		return func(_ *Application, rec *Record, msg *Message[T]) error {
			e, err := DecodeEnvelope(rec.Value)
			if err != nil {
				return err
			}
			msg.Schema = e.Schema
			*any(&msg.Data).(*Envelope) = e
			return nil
		}, nil
	case anyMapType:
		// kafkaesk's unannotated handler: the whole envelope as a mapping.
		return func(_ *Application, rec *Record, msg *Message[T]) error {
			e, err := DecodeEnvelope(rec.Value)
			if err != nil {
				return err
			}
			msg.Schema = e.Schema
			var m map[string]any
			if err := json.Unmarshal(rec.Value, &m); err != nil {
				return err
			}
			*any(&msg.Data).(*map[string]any) = m
			return nil
		}, nil
	}
	if reflect.PointerTo(t).Implements(messageDecoderType) {
		return func(_ *Application, rec *Record, msg *Message[T]) error {
			schema, err := any(&msg.Data).(MessageDecoder).DecodeMessage(rec.Value)
			msg.Schema = schema
			return err
		}, nil
	}
	if err := checkObjectType(t); err != nil {
		return nil, fmt.Errorf("handler data: %w; or use []byte, core.Record or core.Envelope", err)
	}
	// A type that holds a time.Time gets a second, lenient decode for
	// Python's naive datetimes (decode_python.go); others never do.
	lenient := holdsTime(t)
	fast := newFastDecoder(t) // nil for types it does not know
	return func(app *Application, rec *Record, msg *Message[T]) error {
		// The registration is looked up per message, so that a schema
		// registered after Subscribe applies too.
		if s := app.reg.schemaFor(t); s != nil {
			e, err := DecodeEnvelope(rec.Value)
			if err != nil {
				return err
			}
			msg.Schema = e.Schema
			return decodeData(s, fast, lenient, e.Data, &msg.Data)
		}
		// Unvalidated: one pass over the value, envelope and data at once,
		// by the fast decoder when it is sure, else by the JSON library.
		if fast != nil {
			schema, ok := fast.decodeEnvelope(rec.Value, unsafe.Pointer(&msg.Data))
			if ok {
				msg.Schema = schema
				return nil
			}
			var zero T
			msg.Data = zero
		}
		var e struct {
			Schema string `json:"schema"`
			Data   *T     `json:"data"`
		}
		if err := json.Unmarshal(rec.Value, &e); err != nil {
			if e.Schema, e.Data = "", nil; !lenient || lenientUnmarshal(rec.Value, &e) != nil {
				return fmt.Errorf("not a kafkaesk envelope of %s: %w", typeName(t), err)
			}
		}
		if e.Schema == "" || e.Data == nil {
			return fmt.Errorf(`not a kafkaesk envelope: no "schema" or no "data"`)
		}
		msg.Schema, msg.Data = e.Schema, *e.Data
		return nil
	}, nil
}

// decodeData validates data against s, as consumed data (unknown fields
// accepted), and decodes it into v, with fast when it is not nil and sure;
// lenient tries Python's datetimes when the JSON library fails.
func decodeData[T any](s *Schema, fast *fastDecoder, lenient bool, data []byte, v *T) error {
	if err := s.ValidateConsumed(data); err != nil {
		return err
	}
	if fast != nil {
		if fast.decodeData(data, unsafe.Pointer(v)) {
			return nil
		}
		var zero T
		*v = zero
	}
	if err := json.Unmarshal(data, v); err != nil {
		var zero T
		if *v = zero; !lenient || lenientUnmarshal(data, v) != nil {
			return fmt.Errorf("data does not decode into %s: %w", typeName(reflect.TypeFor[T]()), err)
		}
	}
	return nil
}

// Decode decodes an envelope's data into T as Subscribe[T] does: validated
// against T's schema when T is registered in app (fields the schema does
// not know are accepted), with Python's naive datetimes read as UTC. It
// does not look at env.Schema: that is the caller's to choose, which is
// how one subscription hands each version of a schema to its own type:
//
//	core.Subscribe(app, "content", "indexer", func(ctx context.Context, m *core.Message[core.Envelope]) error {
//		switch m.Schema {
//		case "Content:2":
//			c, err := core.Decode[ContentV2](m.App, m.Data)
//			...
//		case "Content:1":
//			c, err := core.Decode[ContentV1](m.App, m.Data)
//			...
//		}
//		return core.ErrSkip
//	}, nil)
func Decode[T any](app *Application, env Envelope) (T, error) {
	var v T
	t := reflect.TypeFor[T]()
	if err := checkObjectType(t); err != nil {
		return v, err
	}
	if len(env.Data) == 0 {
		return v, errors.New(`kafkaesk: the envelope has no "data"`)
	}
	s := app.reg.schemaFor(t)
	if s == nil {
		s = acceptAll
	}
	return v, decodeData(s, nil, holdsTime(t), env.Data, &v)
}

// acceptAll validates nothing: the data of unregistered types is decoded
// as it is.
var acceptAll = &Schema{}
