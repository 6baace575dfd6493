// Package jsonenc is the project's one way to encode a value as JSON:
// encoding/json, compact, with HTML escaping off and U+2028 and U+2029
// written as raw UTF-8 (as Python's orjson writes strings, so that
// envelopes match it byte for byte), through pooled encoders.
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
	return RawLineSeparators(bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'})), nil
}

// RawLineSeparators rewrites, in place, the escapes \u2028 and \u2029
// that encoding/json writes in strings (whatever its HTML setting) as the
// characters' raw UTF-8 bytes, which is what orjson writes; it returns b
// shortened. JSON without them is returned as is, after one search.
func RawLineSeparators(b []byte) []byte {
	i := bytes.Index(b, []byte(`\u202`))
	if i < 0 {
		return b
	}
	// Walk escapes from the first backslash, so that an escaped backslash
	// followed by the letters u2028 is left alone.
	i = bytes.IndexByte(b, '\\')
	w := i
	for r := i; r < len(b); {
		c := b[r]
		if c != '\\' || r+1 >= len(b) {
			b[w] = c
			w, r = w+1, r+1
			continue
		}
		if r+5 < len(b) && b[r+1] == 'u' && b[r+2] == '2' && b[r+3] == '0' && b[r+4] == '2' && (b[r+5] == '8' || b[r+5] == '9') {
			w += copy(b[w:], "\u2028") // U+2028: E2 80 A8
			if b[r+5] == '9' {
				b[w-1] = 0xA9 // U+2029: E2 80 A9
			}
			r += 6
			continue
		}
		b[w], b[w+1] = c, b[r+1]
		w, r = w+2, r+2
	}
	return b[:w]
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
