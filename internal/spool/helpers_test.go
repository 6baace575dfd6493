package spool

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openT opens a spool in dir, closed at the end of the test.
func openT(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// drain calls Next until it returns nothing, acking nothing.
func drain(t testing.TB, s *Spool, max, maxBytes int) []Spooled {
	t.Helper()
	var all []Spooled
	for {
		got, err := s.Next(nil, max, maxBytes)
		require.NoError(t, err)
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
	}
}

// segFiles returns the names of dir's segment files, in order.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), segSuffix) {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names)
	return names
}

// lastSeg returns the path of dir's last segment file.
func lastSeg(t testing.TB, dir string) string {
	t.Helper()
	names := segFiles(t, dir)
	require.NotEmpty(t, names)
	return filepath.Join(dir, names[len(names)-1])
}

// requireEntries requires got's entries to be want, in order.
func requireEntries(t testing.TB, want []Entry, got []Spooled) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		requireEntry(t, want[i], got[i].Entry, "entry %d", i)
	}
}
