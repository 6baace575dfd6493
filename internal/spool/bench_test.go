package spool

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchBatch is 100 entries with ~300-byte values, as the core appends.
func benchBatch() ([]Entry, int64) {
	es := make([]Entry, 100)
	var n int64
	for i := range es {
		es[i] = Entry{
			Topic:   "logs.service",
			Key:     fmt.Appendf(nil, "key-%d", i),
			Value:   make([]byte, 300),
			Headers: []Header{{Key: "trace_id", Value: []byte("4bf92f3577b34da6a3ce929d0e0e4736")}},
			Time:    time.Unix(1_700_000_000, int64(i)),
		}
		n += EncodedSize(&es[i])
	}
	return es, n
}

func BenchmarkAppend(b *testing.B) {
	for _, mode := range []SyncMode{SyncNever, SyncInterval} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			es, n := benchBatch()
			s := openT(b, b.TempDir(), Options{MaxBytes: 1 << 40, Sync: mode})
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Append(es); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNext(b *testing.B) {
	es, n := benchBatch()
	s := openT(b, b.TempDir(), Options{MaxBytes: 1 << 40, Sync: SyncNever})
	var buf []Spooled
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if _, err := s.Append(es); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var err error
		buf, err = s.Next(buf, len(es), 1<<20)
		if err != nil || len(buf) != len(es) {
			b.Fatal(len(buf), err)
		}
		for _, sp := range buf {
			s.Ack(sp.Ticket)
		}
	}
}

// One appender, one reader and one acker at once keep every entry, in
// order, exactly once (the race detector watches the locking).
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{SegmentBytes: 1, Sync: SyncInterval, SyncInterval: time.Millisecond})
	const n = 20000
	want := testEntries(0, n)
	acks := make(chan Ticket, 64)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < n; i += 50 {
			if _, err := s.Append(want[i : i+50]); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for tk := range acks {
			s.Ack(tk)
			_ = s.Stats()
		}
	})
	var got []Spooled
	var buf []Spooled
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		var err error
		buf, err = s.Next(buf, 64, 4096)
		require.NoError(t, err)
		for _, sp := range buf {
			got = append(got, sp)
			acks <- sp.Ticket
		}
	}
	close(acks)
	wg.Wait()
	requireEntries(t, want, got)
	require.Eventually(t, func() bool { return s.Stats().Entries == 0 }, 5*time.Second, time.Millisecond)
	s.SealTail() // the reader kept up: the tail may be a small open segment
	require.Empty(t, segFiles(t, dir))
}
