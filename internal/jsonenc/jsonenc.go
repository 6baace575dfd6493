// Package jsonenc is the project's one way to encode a value as JSON:
// encoding/json, compact, with HTML escaping off (as Python's orjson writes,
// so that envelopes match it byte for byte), through pooled encoders.
package jsonenc

import (
	"bytes"
	"encoding/json"
	"sync"
)

// Encoder is a pooled encoder; Get one, Encode, and Put it back once the
// bytes Encode returned are no longer used.
type Encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var pool = sync.Pool{New: func() any {
	e := &Encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// Get returns an Encoder from the pool.
func Get() *Encoder { return pool.Get().(*Encoder) }

// Put returns e to the pool; its last result must not be used afterwards.
func Put(e *Encoder) {
	if e.buf.Cap() <= 64<<10 { // a huge value does not pin its buffer
		pool.Put(e)
	}
}

// Encode encodes v and returns its JSON, valid until the next Encode or Put.
func (e *Encoder) Encode(v any) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'}), nil
}

// Append appends v's JSON to dst.
func Append(dst []byte, v any) ([]byte, error) {
	e := Get()
	defer Put(e)
	b, err := e.Encode(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}
