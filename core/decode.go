package core

import (
	"fmt"
	"reflect"

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
	if err := checkObjectType(t); err != nil {
		return nil, fmt.Errorf("handler data: %w; or use []byte, core.Record or core.Envelope", err)
	}
	return func(app *Application, rec *Record, msg *Message[T]) error {
		// The registration is looked up per message, so that a schema
		// registered after Subscribe applies too.
		if s := app.reg.schemaFor(t); s != nil {
			e, err := DecodeEnvelope(rec.Value)
			if err != nil {
				return err
			}
			msg.Schema = e.Schema
			if err := s.ValidateConsumed(e.Data); err != nil {
				return err
			}
			if err := json.Unmarshal(e.Data, &msg.Data); err != nil {
				return fmt.Errorf("data does not decode into %s: %w", typeName(t), err)
			}
			return nil
		}
		// Unvalidated: one pass over the value, envelope and data at once.
		var e struct {
			Schema string `json:"schema"`
			Data   *T     `json:"data"`
		}
		if err := json.Unmarshal(rec.Value, &e); err != nil {
			return fmt.Errorf("not a kafkaesk envelope of %s: %w", typeName(t), err)
		}
		if e.Schema == "" || e.Data == nil {
			return fmt.Errorf(`not a kafkaesk envelope: no "schema" or no "data"`)
		}
		msg.Schema, msg.Data = e.Schema, *e.Data
		return nil
	}, nil
}
