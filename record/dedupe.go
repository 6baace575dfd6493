package record

import (
	"bytes"
	"encoding/json"
)

// dedupeEvent rewrites the event that starts at buf[start:], whose data
// object begins at offset dataAt within it, so that no object holds a key
// twice: the last value wins, at the first key's place, as a dict update
// (kafkaesk's merge) does. It is the slow path, taken only when a
// duplicate is possible.
func dedupeEvent(buf []byte, start, dataAt int) []byte {
	event := buf[start:]
	data := event[dataAt : len(event)-1]
	clean, err := dedupeObject(data)
	if err != nil {
		return buf // not expected: the encoder wrote valid JSON
	}
	out := append([]byte(nil), event[:dataAt]...)
	out = append(out, clean...)
	out = append(out, '}')
	return append(buf[:start], out...)
}

func dedupeObject(obj []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if len(v) > 0 && v[0] == '{' {
			if v, err = dedupeObject(v); err != nil {
				return nil, err
			}
		}
		if i := indexOf(keys, k); i >= 0 {
			vals[i] = v
			continue
		}
		keys = append(keys, k)
		vals = append(vals, v)
	}
	out := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, k)
		out = append(out, ':')
		out = append(out, vals[i]...)
	}
	return append(out, '}'), nil
}

func indexOf(keys []string, k string) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return -1
}
