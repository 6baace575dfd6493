package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonscan"
)

// Envelope is the kafkaesk message value: {"schema":"Foo:1","data":{...}},
// compact, schema first. It is the wire contract shared with Python
// kafkaesk; AppendEnvelope writes it and DecodeEnvelope reads it.
type Envelope struct {
	Schema string          `json:"schema"`
	Data   json.RawMessage `json:"data"`
}

// AppendEnvelope appends the envelope of data (already JSON) under schema
// key to dst and returns the extended slice. schema must not need JSON
// escaping; keys built from schema ids and versions never do.
func AppendEnvelope(dst []byte, schema string, data []byte) []byte {
	dst = append(dst, `{"schema":"`...)
	dst = append(dst, schema...)
	dst = append(dst, `","data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}

// DecodeEnvelope parses a message value as an envelope. It fails when the
// value is not a JSON object or lacks "schema" or "data". Data is a copy.
func DecodeEnvelope(value []byte) (Envelope, error) {
	var raw RawEnvelope
	if err := ScanEnvelope(value, &raw, nil); err != nil {
		return Envelope{}, err
	}
	return Envelope{Schema: string(raw.Schema), Data: bytes.Clone(raw.Data)}, nil
}

// RawEnvelope is an envelope as ScanEnvelope reads it, without copying:
// its slices point into the message value (Schema into a copy when the
// value spells it with escapes).
type RawEnvelope struct {
	// Schema is the "schema" string, decoded: "Foo:1".
	Schema []byte
	// Data is the "data" value exactly as in the message.
	Data []byte
}

// Name returns the schema's id, what precedes the first ':' of Schema
// ("Foo" of "Foo:1"), or all of Schema when it has no ':'.
func (e *RawEnvelope) Name() []byte {
	if i := bytes.IndexByte(e.Schema, ':'); i >= 0 {
		return e.Schema[:i]
	}
	return e.Schema
}

// Version returns the schema's version, the number after the first ':'
// of Schema, and whether there is one.
func (e *RawEnvelope) Version() (int, bool) {
	i := bytes.IndexByte(e.Schema, ':')
	if i < 0 {
		return 0, false
	}
	v, err := strconv.Atoi(string(e.Schema[i+1:]))
	return v, err == nil
}

// ScanEnvelope reads value as an envelope into env, in one pass that also
// validates all of value as JSON (what encoding/json accepts), and
// allocates nothing unless the schema or a key is spelled with escapes.
// It fails, as DecodeEnvelope, when value is not a JSON object or lacks a
// "schema" string or a non-null "data"; a key given twice counts the
// last time, as in encoding/json.
//
// When member is not nil and data is an object, member is called with
// each of its members, in order, repeated keys included: the key decoded
// and the value as in the message. When "data" appears twice, member sees
// the members of both; those of env.Data come last.
func ScanEnvelope(value []byte, env *RawEnvelope, member func(key, value []byte)) error {
	*env = RawEnvelope{}
	s := jsonscan.New(value)
	s.WS()
	if s.Peek() != '{' {
		return notEnvelope(errors.New("not a JSON object"))
	}
	s.Object()
	for s.More() {
		key, esc, ok := s.Key()
		if !ok {
			return notEnvelope(s.Err())
		}
		if esc {
			key = jsonscan.Unescaped(key, true)
		}
		switch string(key) {
		case "schema":
			env.Schema = nil
			if s.Peek() != '"' {
				if !s.Skip() {
					return notEnvelope(s.Err())
				}
				break
			}
			raw, esc, ok := s.String()
			if !ok {
				return notEnvelope(s.Err())
			}
			env.Schema = raw
			if esc {
				env.Schema = jsonscan.Unescaped(raw, true)
			}
		case "data":
			start := s.Pos()
			if member != nil && s.Peek() == '{' {
				if !scanMembers(&s, member) {
					return notEnvelope(s.Err())
				}
			} else if !s.Skip() {
				return notEnvelope(s.Err())
			}
			env.Data = value[start:s.Pos()]
		default:
			if !s.Skip() {
				return notEnvelope(s.Err())
			}
		}
	}
	if err := s.Err(); err != nil {
		return notEnvelope(err)
	}
	if err := s.End(); err != nil {
		return notEnvelope(err)
	}
	switch {
	case len(env.Schema) == 0:
		*env = RawEnvelope{}
		return notEnvelope(errors.New(`no "schema"`))
	case len(env.Data) == 0 || string(env.Data) == "null":
		*env = RawEnvelope{}
		return notEnvelope(errors.New(`no "data"`))
	}
	return nil
}

// scanMembers walks the object at s, calling member with each member.
func scanMembers(s *jsonscan.Scanner, member func(key, value []byte)) bool {
	s.Object()
	for s.More() {
		key, esc, ok := s.Key()
		if !ok {
			return false
		}
		if esc {
			key = jsonscan.Unescaped(key, true)
		}
		v, ok := s.Value()
		if !ok {
			return false
		}
		member(key, v)
	}
	return s.Err() == nil
}

func notEnvelope(err error) error {
	return fmt.Errorf("kafkaesk: message is not a kafkaesk envelope: %w", err)
}
