package spool

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// small makes segments of about 64 KiB, the smallest allowed.
var small = Options{SegmentBytes: 1, Sync: SyncNever}

// Entries come back in order, exactly, over several segments and in
// chunks of every size; acking them all deletes every sealed segment.
func TestRoundTrip(t *testing.T) {
	for _, mode := range []SyncMode{SyncInterval, SyncBatch, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, dir, Options{SegmentBytes: 1, Sync: mode})
			want := testEntries(0, 3000)
			for batch := range slices.Chunk(want, 250) {
				n, err := s.Append(batch)
				require.NoError(t, err)
				require.Equal(t, len(batch), n)
			}
			require.Greater(t, len(segFiles(t, dir)), 3, "several segments")
			var got []Spooled
			for i := 0; ; i++ {
				chunk, err := s.Next(nil, 1+i%37, 0)
				require.NoError(t, err)
				require.LessOrEqual(t, len(chunk), 1+i%37)
				if len(chunk) == 0 {
					break
				}
				got = append(got, chunk...)
			}
			requireEntries(t, want, got)
			require.Zero(t, s.Stats().Unread)
			for _, sp := range got {
				s.Ack(sp.Ticket)
			}
			require.Empty(t, segFiles(t, dir), "caught up and acked: all deleted")
			require.Equal(t, Stats{}, s.Stats())
			require.Zero(t, s.Size())

			// The next Append starts a new segment after the last.
			_, err := s.Append(testEntries(0, 1))
			require.NoError(t, err)
			require.Len(t, segFiles(t, dir), 1)
			require.NoError(t, s.Close())
		})
	}
}

// maxBytes limits the keys and values of a call, but one entry always
// comes back.
func TestNextMaxBytes(t *testing.T) {
	s := openT(t, t.TempDir(), small)
	es := make([]Entry, 10)
	for i := range es {
		es[i] = Entry{Topic: "t", Key: []byte("k"), Value: make([]byte, 99)}
	}
	_, err := s.Append(es)
	require.NoError(t, err)
	got, err := s.Next(nil, 100, 350)
	require.NoError(t, err)
	require.Len(t, got, 3)
	got, err = s.Next(got, 100, 10)
	require.NoError(t, err)
	require.Len(t, got, 1, "at least one")
	got, err = s.Next(got, 0, 0)
	require.NoError(t, err)
	require.Empty(t, got, "max 0")
	got, err = s.Next(got, 100, 0)
	require.NoError(t, err)
	require.Len(t, got, 6)
}

// Acks in any order delete a segment only once all its entries are acked;
// acking twice does nothing.
func TestAckOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, small)
	want := testEntries(0, 2000)
	_, err := s.Append(want)
	require.NoError(t, err)
	got := drain(t, s, 100, 0)
	requireEntries(t, want, got)
	nseg := len(segFiles(t, dir))
	require.Greater(t, nseg, 2)

	// Ack all but the first entry of each segment, backwards.
	firsts := map[uint64]Ticket{}
	for i := len(got) - 1; i >= 0; i-- {
		tk := got[i].Ticket
		if tk.idx == 0 {
			firsts[tk.seg] = tk
			continue
		}
		s.Ack(tk)
		s.Ack(tk)
	}
	require.Len(t, segFiles(t, dir), nseg, "no segment fully acked")
	require.EqualValues(t, nseg, s.Stats().Entries)
	i := 0
	for _, name := range segFiles(t, dir) {
		id, _ := parseSegName(name)
		s.Ack(firsts[id])
		i++
		require.Len(t, segFiles(t, dir), nseg-i)
	}
	require.Zero(t, s.Stats().Entries)
}

// Close and Open keep every entry not acked; the checkpoint skips the
// acked prefix; a missing or garbage checkpoint resends (at-least-once).
func TestReopen(t *testing.T) {
	want := testEntries(0, 500)
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		s := openT(t, dir, Options{})
		_, err := s.Append(want)
		require.NoError(t, err)
		got, err := s.Next(nil, 200, 0)
		require.NoError(t, err)
		// Acks of 0..99 and of 150..199: the prefix is 100.
		for _, sp := range append(got[:100:100], got[150:]...) {
			s.Ack(sp.Ticket)
		}
		require.NoError(t, s.Close())
		require.ErrorIs(t, func() error { _, err := s.Append(want); return err }(), ErrClosed)
		require.NoError(t, s.Close(), "second Close")
		return dir
	}
	t.Run("checkpoint", func(t *testing.T) {
		s := openT(t, setup(t), Options{})
		entries, cut := s.Recovered()
		require.EqualValues(t, 400, entries)
		require.Zero(t, cut)
		require.EqualValues(t, 400, s.Stats().Entries)
		requireEntries(t, want[100:], drain(t, s, 64, 0))
	})
	t.Run("no checkpoint", func(t *testing.T) {
		dir := setup(t)
		require.NoError(t, os.Remove(filepath.Join(dir, checkpointName)))
		s := openT(t, dir, Options{})
		requireEntries(t, want, drain(t, s, 64, 0))
	})
	t.Run("garbage checkpoint", func(t *testing.T) {
		dir := setup(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointName), []byte("garbage, not a checkpoint"), 0o640))
		s := openT(t, dir, Options{})
		requireEntries(t, want, drain(t, s, 64, 0))
	})
	t.Run("stale checkpoint", func(t *testing.T) {
		// A mark whose offset does not match its segment is not applied.
		dir := setup(t)
		marks := readCheckpoint(dir)
		require.Len(t, marks, 1)
		for _, m := range marks {
			m.off++
			require.NoError(t, writeCheckpoint(dir, []ackMark{m}, false))
		}
		s := openT(t, dir, Options{})
		requireEntries(t, want, drain(t, s, 64, 0))
	})
}

// The checkpoint is written on the sync tick, not only at Close.
func TestCheckpointOnTick(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{SyncInterval: 10 * time.Millisecond})
	_, err := s.Append(testEntries(0, 10))
	require.NoError(t, err)
	got, err := s.Next(nil, 4, 0)
	require.NoError(t, err)
	for _, sp := range got {
		s.Ack(sp.Ticket)
	}
	require.Eventually(t, func() bool {
		m := readCheckpoint(dir)
		return len(m) == 1 && m[got[0].Ticket.seg].n == 4
	}, 5*time.Second, 5*time.Millisecond)
}

// A second Open of a directory fails with ErrLocked, naming it, until the
// first is closed.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, dir)
	require.NoError(t, s.Close())
	s, err = Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// A directory that cannot be made fails at Open, naming the path.
func TestOpenUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o640))
	for _, dir := range []string{file, filepath.Join(file, "spool")} {
		_, err := Open(dir, Options{})
		require.Error(t, err)
		require.ErrorContains(t, err, dir)
		require.ErrorIs(t, err, syscall.ENOTDIR)
	}
}

// Append past MaxBytes writes the prefix that fits and returns ErrFull;
// acks that delete segments make room again.
func TestFull(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{MaxBytes: 256 << 10, Sync: SyncNever}) // segments of 64 KiB
	e := Entry{Topic: "t", Value: make([]byte, 1000)}
	batch := slices.Repeat([]Entry{e}, 100)
	total := 0
	var err error
	for err == nil {
		var n int
		n, err = s.Append(batch)
		total += n
	}
	require.ErrorIs(t, err, ErrFull)
	require.EqualValues(t, (256<<10)/EncodedSize(&e), total, "filled up exactly")
	require.LessOrEqual(t, s.Size(), int64(256<<10))
	require.Greater(t, s.Size()+EncodedSize(&e), int64(256<<10))
	n, err := s.Append(batch[:1])
	require.ErrorIs(t, err, ErrFull)
	require.Zero(t, n)
	n, err = s.Prepend(batch[:1])
	require.ErrorIs(t, err, ErrFull)
	require.Zero(t, n)

	got, err := s.Next(nil, 100, 0)
	require.NoError(t, err)
	for _, sp := range got {
		s.Ack(sp.Ticket)
	}
	require.Less(t, len(segFiles(t, dir)), 5, "the first segment went")
	n, err = s.Append(batch[:50])
	require.NoError(t, err)
	require.Equal(t, 50, n)
}

// Prepended entries come back before everything not yet returned, also
// after a reopen.
func TestPrepend(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, small)
	older, newer := testEntries(0, 100), testEntries(100, 300)
	_, err := s.Append(newer)
	require.NoError(t, err)
	got, err := s.Next(nil, 50, 0)
	require.NoError(t, err)
	requireEntries(t, newer[:50], got)
	n, err := s.Prepend(older)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	requireEntries(t, append(older[:100:100], newer[50:]...), drain(t, s, 30, 0))
	require.NoError(t, s.Close())

	s = openT(t, dir, small)
	requireEntries(t, append(older[:100:100], newer...), drain(t, s, 30, 0))
	// Prepend into an empty spool, then Append after it.
	dir2 := t.TempDir()
	s2 := openT(t, dir2, small)
	_, err = s2.Prepend(older[:1])
	require.NoError(t, err)
	_, err = s2.Append(newer[:1])
	require.NoError(t, err)
	requireEntries(t, []Entry{older[0], newer[0]}, drain(t, s2, 10, 0))
}

// Rewind returns again, in order, what was returned and not acked.
func TestRewind(t *testing.T) {
	s := openT(t, t.TempDir(), small)
	want := testEntries(0, 1000)
	_, err := s.Append(want)
	require.NoError(t, err)
	got, err := s.Next(nil, 600, 0)
	require.NoError(t, err)
	acked := map[int]bool{}
	for i, sp := range got {
		if i < 100 || i%3 == 0 {
			s.Ack(sp.Ticket)
			acked[i] = true
		}
	}
	s.Rewind()
	var wantAgain []Entry
	for i := range want {
		if !acked[i] {
			wantAgain = append(wantAgain, want[i])
		}
	}
	require.EqualValues(t, len(wantAgain), s.Stats().Unread)
	again := drain(t, s, 77, 0)
	requireEntries(t, wantAgain, again)
	for _, sp := range again {
		s.Ack(sp.Ticket)
	}
	s.SealTail()
	require.Equal(t, Stats{}, s.Stats())
}

// A reader that keeps up with the writer does not make a segment file per
// Append: the tail it catches up with stays open until it holds a quarter
// of SegmentBytes, or until SealTail, after which its file goes once its
// entries are acked.
func TestReaderKeepingUpReusesTheTail(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{Sync: SyncNever}) // segments of 16 MiB
	var buf []Spooled
	for i := range 1000 {
		_, err := s.Append([]Entry{{Topic: "t", Value: make([]byte, 100)}})
		require.NoError(t, err)
		buf, err = s.Next(buf, 10, 0)
		require.NoError(t, err)
		require.Len(t, buf, 1, "append %d", i)
		s.Ack(buf[0].Ticket)
	}
	require.Len(t, segFiles(t, dir), 1, "one segment for a thousand appends read at once")
	require.Zero(t, s.Stats().Entries)
	s.SealTail()
	require.Empty(t, segFiles(t, dir), "sealed and all acked: deleted")
	n, err := s.Append([]Entry{{Topic: "t", Value: make([]byte, 100)}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Len(t, segFiles(t, dir), 1, "the next Append starts a new one")
}

// Stats and Size agree with the files on disk; Oldest is when the oldest
// unacked entry was appended.
func TestStats(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, small)
	require.Equal(t, Stats{}, s.Stats())
	t0 := time.Now()
	_, err := s.Append(testEntries(0, 10))
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond)
	t1 := time.Now()
	_, err = s.Append(testEntries(10, 1000))
	require.NoError(t, err)
	st := s.Stats()
	require.Equal(t, s.Size(), st.Bytes)
	var onDisk int64
	for _, name := range segFiles(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		onDisk += fi.Size()
	}
	require.Equal(t, onDisk, st.Bytes)
	require.Equal(t, len(segFiles(t, dir)), st.Segments)
	require.EqualValues(t, 1010, st.Entries)
	require.EqualValues(t, 1010, st.Unread)
	require.WithinRange(t, st.Oldest, t0.Add(-time.Millisecond), t1)

	got, err := s.Next(nil, 20, 0)
	require.NoError(t, err)
	st = s.Stats()
	require.EqualValues(t, 990, st.Unread)
	require.EqualValues(t, 1010, st.Entries)
	for _, sp := range got {
		s.Ack(sp.Ticket)
	}
	st = s.Stats()
	require.EqualValues(t, 990, st.Entries)
	require.WithinRange(t, st.Oldest, t1.Add(-time.Millisecond), time.Now(), "the first batch is acked")
}

// A failed write (here ENOSPC after part of a record) keeps the whole
// records written, truncates the rest, names the segment, and leaves the
// spool usable.
func TestAppendWriteError(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, small)
	want := testEntries(0, 10)
	_, err := s.Append(want[:3])
	require.NoError(t, err)
	size := EncodedSize(&want[3]) + EncodedSize(&want[4]) + 5
	s.w.writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		n, _ := f.WriteAt(b[:size], off)
		return n, syscall.ENOSPC
	}
	n, err := s.Append(want[3:])
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorContains(t, err, lastSeg(t, dir))
	require.Equal(t, 2, n)
	fi, err := os.Stat(lastSeg(t, dir))
	require.NoError(t, err)
	require.Equal(t, s.Size(), fi.Size(), "cut back to the last whole record")

	s.w.writeAt = (*os.File).WriteAt
	n, err = s.Append(want[5:])
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.NoError(t, s.Close())
	s = openT(t, dir, small)
	_, cut := s.Recovered()
	require.Zero(t, cut)
	requireEntries(t, want, drain(t, s, 100, 0))
}

// Calls after Close return ErrClosed.
func TestClosed(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Append(testEntries(0, 1))
	require.True(t, errors.Is(err, ErrClosed))
	_, err = s.Prepend(testEntries(0, 1))
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Next(nil, 1, 0)
	require.ErrorIs(t, err, ErrClosed)
	s.Ack(Ticket{})
	s.Rewind()
	require.NoError(t, s.Close())
}
