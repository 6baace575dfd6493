package collector

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type failingWriter struct{ fail bool }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.fail {
		return 0, errors.New("no space left on device")
	}
	return len(p), nil
}

// While the writer fails, the buffer stops growing at its limit and
// appends fail; nothing appended is lost once it recovers.
func TestLineBufferIsBoundedWhileTheWriterFails(t *testing.T) {
	w := &failingWriter{fail: true}
	b := newLineBuffer(w, 1000)
	line := make([]byte, 99)
	accepted := 0
	for range 100 {
		if b.writeLine(line) == nil {
			accepted++
		}
	}
	assert.Equal(t, 10, accepted, "1000 bytes of 100-byte lines")
	assert.LessOrEqual(t, len(b.buf), 1000)
	require.Error(t, b.flush())
	w.fail = false
	require.NoError(t, b.flush())
	assert.Empty(t, b.buf)
	require.NoError(t, b.writeLine(line))
}
