package streamhandler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonenc"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// modelBudget is kafkaesk's per-model limit: pairs are added until their
// cumulative length first exceeds it, and that last pair is still written.
// PR #47 raised it from 50 to 256 because fields past the second one were
// silently dropped.
const modelBudget = 256

// appendModel appends ": " and m's fields as kafkaesk's
// PydanticStreamHandler.format renders them: "name=value" pairs joined by
// ", ", by JSON name in field order, strings unquoted and every other value
// as its compact JSON, stopping after the pair with which the summed
// lengths of the pairs (in characters, as Python's len counts them) first
// exceed 256.
//
// A nil pointer, or a model with no fields, appends nothing. A model whose
// JSON is not an object appends that JSON. A model that fails to marshal
// appends "!ERROR:" and the error, and one that panics "!PANIC: " and the
// panic value; appendModel itself never panics.
func appendModel(b []byte, m record.LogModel) (out []byte) {
	start := len(b)
	defer func() {
		if p := recover(); p != nil {
			out = fmt.Appendf(b[:start], ": !PANIC: %v", p)
		}
	}()

	data, err := marshal(m)
	if err != nil {
		return append(append(b, ": !ERROR:"...), err.Error()...)
	}
	if len(data) == 0 || data[0] != '{' {
		if string(data) == "null" {
			return b
		}
		return append(append(b, ": "...), data...)
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return append(append(b, ": !ERROR:"...), err.Error()...)
	}
	size := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return append(append(b[:start], ": !ERROR:"...), err.Error()...)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return append(append(b[:start], ": !ERROR:"...), err.Error()...)
		}
		if size == 0 {
			b = append(b, ": "...)
		} else {
			b = append(b, ", "...)
		}
		pair := len(b)
		b = append(b, name...)
		b = append(b, '=')
		b = appendValue(b, raw)
		size += utf8.RuneCount(b[pair:])
		if size > modelBudget {
			break
		}
	}
	return b
}

// appendValue appends a JSON value as kafkaesk's str(value) would show it:
// a string without its quotes and escapes, anything else as it is.
func appendValue(b []byte, raw json.RawMessage) []byte {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return append(b, s...)
		}
	}
	return append(b, raw...)
}

// marshal returns v's compact JSON, in a new slice; <, > and & are left
// alone (this is console text, not HTML).
func marshal(v any) ([]byte, error) {
	return jsonenc.Append(nil, v)
}
