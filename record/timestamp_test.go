package record

import (
	"testing"
	"time"
)

func TestAppendTimestampMatchesTimeFormat(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 21, 15, 4, 5, 123456789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 5*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1800000000, 500).In(time.Local),
	} {
		want := `"` + tm.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + `"`
		if got := string(appendTimestamp(nil, tm)); got != want {
			t.Errorf("appendTimestamp(%v) = %s, want %s", tm, got, want)
		}
	}
}

// The text of the last second is shared: goroutines writing times of
// different seconds at once must each get their own.
func TestAppendTimestampConcurrentSeconds(t *testing.T) {
	base := time.Date(2026, 12, 6, 23, 59, 58, 0, time.UTC)
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			var buf []byte
			for i := range 2000 {
				tm := base.Add(time.Duration(i%5+g)*time.Second + time.Duration(i)*time.Microsecond)
				want := `"` + tm.Format("2006-01-02T15:04:05.000000Z07:00") + `"`
				if buf = appendTimestamp(buf[:0], tm); string(buf) != want {
					done <- &mismatch{got: string(buf), want: want}
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

type mismatch struct{ got, want string }

func (m *mismatch) Error() string { return "got " + m.got + ", want " + m.want }
