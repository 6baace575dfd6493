// Package pytime reads the datetimes Python services write: RFC 3339, and
// what Python's datetime.isoformat() and orjson write for naive datetimes
// (no offset, with or without a fraction), which are read as UTC, as
// datetime.utcnow() and most Python code mean them.
package pytime

import (
	"fmt"
	"time"
)

// naive is the layout of a naive datetime, tried after RFC 3339: what
// isoformat and orjson write (".999999999" takes any fraction, or none).
// record's log event schema pins the same set with a pattern.
const naive = "2006-01-02T15:04:05.999999999"

// Parse reads s as RFC 3339 (Go's "Z", Python's "+00:00", any offset,
// with or without a fraction), or as a naive Python datetime taken as UTC:
// "2024-05-01T12:00:00.123456" or "2024-05-01T12:00:00".
func Parse(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(naive, s, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a Python datetime (isoformat)", s)
}
