package pytime

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	utc := func(ns int) time.Time { return time.Date(2024, 5, 1, 12, 0, 0, ns, time.UTC) }
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"2024-05-01T12:00:00.123456", utc(123456000)}, // datetime.utcnow().isoformat(), orjson
		{"2024-05-01T12:00:00", utc(0)},                // microsecond == 0: no fraction
		{"2024-05-01T12:00:00+00:00", utc(0)},          // aware UTC, as Python writes it
		{"2024-05-01T12:00:00.5+00:00", utc(500000000)},
		{"2024-05-01T12:00:00Z", utc(0)},
		{"2024-05-01T12:00:00.123456789Z", utc(123456789)},
		{"2024-05-01T14:30:00+02:30", utc(0)}, // compared as instants
	} {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2024-13-01T00:00:00", "2024-05-01T12:00:00+0000", "12:00:00", "2024-05-01T25:00:00", "2024-05-01 12:00:00", "2024-05-01"} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, got)
		}
	}
}
