package core

import (
	"encoding/json"
	"errors"
	"fmt"

	fastjson "github.com/segmentio/encoding/json"
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
// value is not a JSON object or lacks "schema" or "data".
func DecodeEnvelope(value []byte) (Envelope, error) {
	var e Envelope
	if err := fastjson.Unmarshal(value, &e); err != nil {
		return Envelope{}, fmt.Errorf("kafkaesk: message is not a kafkaesk envelope: %w", err)
	}
	if e.Schema == "" {
		return Envelope{}, errors.New(`kafkaesk: message is not a kafkaesk envelope: no "schema"`)
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return Envelope{}, errors.New(`kafkaesk: message is not a kafkaesk envelope: no "data"`)
	}
	return e, nil
}
