package core

import (
	"errors"
	"reflect"
	"time"

	"github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/kafkaesk-go/kafkaesk/internal/pytime"
)

// Python's datetimes. A time.Time decodes only RFC 3339, and Python code
// mostly sends naive datetimes (datetime.utcnow(), written by isoformat
// and orjson as "2024-05-01T12:00:00.123456", without an offset). A
// message that fails the fast decoder is decoded once more, only when its
// type holds a time.Time somewhere, by lenientUnmarshal: encoding/json's
// semantics (the v1 options of go-json-experiment/json, the Go team's
// encoding/json/v2) with time.Time fields read by pytime.Parse, naive
// times as UTC. Messages that decode as they are pay nothing; string
// fields holding such text are never touched.

// lenientOptions are encoding/json's semantics, with Python's datetimes.
var lenientOptions = json.JoinOptions(
	jsonv1.DefaultOptionsV1(),
	json.WithUnmarshalers(json.UnmarshalFunc(func(b []byte, t *time.Time) error {
		if len(b) == 0 || b[0] != '"' {
			return errors.ErrUnsupported // null, and non-strings: as encoding/json does
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := pytime.Parse(s)
		if err != nil {
			return err
		}
		*t = v
		return nil
	})),
)

// lenientUnmarshal decodes data into v as encoding/json would, but for
// time.Time values, which also take Python's naive datetimes.
func lenientUnmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v, lenientOptions)
}

// holdsTime reports whether a value of type t can hold a time.Time, in a
// field, an element or behind a pointer, at any depth: only then can a
// decoding error be a Python datetime, worth a second, lenient decode.
func holdsTime(t reflect.Type) bool {
	return holdsTimeSeen(t, map[reflect.Type]bool{})
}

func holdsTimeSeen(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == timeType {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return holdsTimeSeen(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsTimeSeen(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
