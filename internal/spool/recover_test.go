package spool

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeClosed writes entries to a new spool in dir and closes it.
func writeClosed(t *testing.T, dir string, opts Options, entries []Entry) {
	t.Helper()
	s, err := Open(dir, opts)
	require.NoError(t, err)
	for _, e := range entries {
		_, err := s.Append([]Entry{e}) // one Append each: a new appended-at each
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
}

// A torn or corrupt last record is cut off its segment at Open, which
// reports the bytes cut; everything before it comes back.
func TestTornTail(t *testing.T) {
	want := testEntries(0, 50)
	last := EncodedSize(&want[49])
	for name, damage := range map[string]func(path string, size int64){
		"truncated mid-record": func(path string, size int64) {
			require.NoError(t, os.Truncate(path, size-last/2))
		},
		"truncated mid-header": func(path string, size int64) {
			require.NoError(t, os.Truncate(path, size-last+3))
		},
		"payload byte flipped": func(path string, size int64) {
			flipByte(t, path, size-2)
		},
		"zeros appended": func(path string, size int64) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			_, err = f.Write(make([]byte, 4096))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeClosed(t, dir, Options{}, want)
			path := lastSeg(t, dir)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			damage(path, fi.Size())
			damaged, err := os.Stat(path)
			require.NoError(t, err)

			s := openT(t, dir, Options{})
			keep := want[:49]
			if name == "zeros appended" {
				keep = want
			}
			var good int64
			for i := range keep {
				good += EncodedSize(&keep[i])
			}
			after, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, good, after.Size(), "cut at the last good record")
			entries, cut := s.Recovered()
			require.EqualValues(t, len(keep), entries)
			require.Equal(t, damaged.Size()-good, cut)
			requireEntries(t, keep, drain(t, s, 100, 0))
		})
	}
}

// Corruption in the middle of the first of two segments cuts that
// segment there; the second comes back whole.
func TestCorruptMidFile(t *testing.T) {
	dir := t.TempDir()
	want := testEntries(0, 2000)
	writeClosed(t, dir, small, want)
	names := segFiles(t, dir)
	require.GreaterOrEqual(t, len(names), 2)
	// Keep two segments only.
	for _, name := range names[2:] {
		require.NoError(t, os.Remove(filepath.Join(dir, name)))
	}
	s := openT(t, dir, small)
	all := drain(t, s, 1000, 0)
	first := 0
	for _, sp := range all {
		if sp.Ticket.seg == all[0].Ticket.seg {
			first++
		}
	}
	want = want[:len(all)]
	require.NoError(t, s.Close())

	// Damage record 10 of the first segment.
	var off int64
	for i := range 10 {
		off += EncodedSize(&want[i])
	}
	first0 := filepath.Join(dir, names[0])
	flipByte(t, first0, off+frameHeaderLen+3)
	second, err := os.Stat(filepath.Join(dir, names[1]))
	require.NoError(t, err)

	s = openT(t, dir, small)
	fi, err := os.Stat(first0)
	require.NoError(t, err)
	require.Equal(t, off, fi.Size(), "first segment cut at record 10")
	fi2, err := os.Stat(filepath.Join(dir, names[1]))
	require.NoError(t, err)
	require.Equal(t, second.Size(), fi2.Size(), "second segment intact")
	_, cut := s.Recovered()
	require.Positive(t, cut)
	requireEntries(t, append(want[:10:10], want[first:]...), drain(t, s, 100, 0))
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x20
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

const crashEnv = "SPOOL_TEST_CRASH_DIR"

// A process killed without Close loses nothing Append returned, even with
// SyncNever: the child appends, then SIGKILLs itself; the parent reopens.
func TestCrashWithoutClose(t *testing.T) {
	const n = 5000
	if dir := os.Getenv(crashEnv); dir != "" {
		s, err := Open(dir, Options{Sync: SyncNever, SegmentBytes: 1})
		if err != nil {
			os.Exit(3)
		}
		es := testEntries(0, n)
		for i := 0; i < n; i += 100 {
			if _, err := s.Append(es[i : i+100]); err != nil {
				os.Exit(4)
			}
		}
		got, err := s.Next(nil, 10, 0) // returned, not acked: resent
		if err != nil || len(got) != 10 {
			os.Exit(5)
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWithoutClose$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled(), "killed, not exited with status "+strconv.Itoa(ws.ExitStatus()))
	require.Equal(t, syscall.SIGKILL, ws.Signal())

	s := openT(t, dir, Options{})
	entries, cut := s.Recovered()
	require.EqualValues(t, n, entries)
	require.Zero(t, cut)
	requireEntries(t, testEntries(0, n), drain(t, s, 333, 0))
}
