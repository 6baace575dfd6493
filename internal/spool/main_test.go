package spool

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testEntries returns n entries numbered from first, varied in every way
// the format distinguishes: nil and empty keys and values, headers with
// nil and empty values, zero and non-zero times.
func testEntries(first, n int) []Entry {
	es := make([]Entry, n)
	for j := range n {
		i := first + j
		e := Entry{Topic: fmt.Sprintf("topic-%d", i%3)}
		switch i % 4 {
		case 0:
			e.Key = nil
		case 1:
			e.Key = []byte{}
		default:
			e.Key = fmt.Appendf(nil, "key-%d", i)
		}
		switch i % 5 {
		case 0:
			e.Value = nil
		case 1:
			e.Value = []byte{}
		default:
			e.Value = fmt.Appendf(nil, "value-%d-%s", i, strings.Repeat("x", i%97))
		}
		if i%3 != 0 {
			e.Time = time.Unix(1_700_000_000+int64(i), int64(i)*1001)
		}
		if i%2 == 0 {
			e.Headers = []Header{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}, {Key: "nil", Value: nil}, {Key: "", Value: []byte{}}}
		}
		es[j] = e
	}
	return es
}

// requireEntry requires got to equal want, nil-ness of byte slices included.
func requireEntry(t testing.TB, want, got Entry, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want.Topic, got.Topic, msgAndArgs...)
	requireBytes(t, want.Key, got.Key, msgAndArgs...)
	requireBytes(t, want.Value, got.Value, msgAndArgs...)
	require.True(t, want.Time.Equal(got.Time), "time: got %v, want %v %v", got.Time, want.Time, msgAndArgs)
	require.Equal(t, want.Time.IsZero(), got.Time.IsZero(), msgAndArgs...)
	require.Len(t, got.Headers, len(want.Headers), msgAndArgs...)
	for i := range want.Headers {
		require.Equal(t, want.Headers[i].Key, got.Headers[i].Key, msgAndArgs...)
		requireBytes(t, want.Headers[i].Value, got.Headers[i].Value, msgAndArgs...)
	}
}

func requireBytes(t testing.TB, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want == nil, got == nil, "nil-ness: got %q, want %q %v", got, want, msgAndArgs)
	require.Equal(t, string(want), string(got), msgAndArgs...)
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o640) }
