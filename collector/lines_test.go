package collector

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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

// While the writer fails, the buffer stops growing at twice its limit
// (the buffer being written and the one being filled) and appends fail;
// nothing appended is lost once it recovers.
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
	assert.Equal(t, 20, accepted, "twice 1000 bytes of 100-byte lines")
	assert.LessOrEqual(t, len(b.buf)+len(b.pending), 2000)
	require.Error(t, b.flush())
	w.fail = false
	require.NoError(t, b.flush())
	assert.Empty(t, b.buf)
	assert.Empty(t, b.pending)
	require.NoError(t, b.writeLine(line))
}

// slowDisk is a file whose Sync blocks until released, as a disk under
// load does; it records what was written.
type slowDisk struct {
	mu      sync.Mutex
	written bytes.Buffer
	syncing chan struct{} // receives when a Sync starts
	release chan struct{} // a Sync returns when this is closed
}

func (d *slowDisk) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.written.Write(p)
}

func (d *slowDisk) Sync() error {
	d.syncing <- struct{}{}
	<-d.release
	return nil
}

func (d *slowDisk) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.written.String()
}

// With --fsync, a partition appending while another flushes must not wait
// for the disk. Regression: the buffer's one lock was held across the
// write and the fsync, so every partition waited on every sync. The order
// is fixed by channels; the deadline only bounds how long a broken buffer
// makes the test wait before it fails. (Under testing/synctest a goroutine
// blocked on a mutex is not durably blocked, so the broken case would hang
// instead of failing.)
func TestLineBufferAppendsDoNotWaitForTheSync(t *testing.T) {
	disk := &slowDisk{syncing: make(chan struct{}), release: make(chan struct{})}
	b := newLineBuffer(disk, 1000)
	b.sync = disk.Sync
	require.NoError(t, b.writeLine([]byte("first")))

	flushed := make(chan error, 1)
	go func() { flushed <- b.flush() }()
	<-disk.syncing // the flush has written "first" and is in the fsync

	appended := make(chan error, 1)
	go func() { appended <- b.writeLine([]byte("second")) }()
	select {
	case err := <-appended:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		close(disk.release)
		<-flushed
		<-appended
		t.Fatal("an append waited for another partition's fsync")
	}
	assert.Equal(t, "first\n", disk.String(), "the flush wrote what preceded it, and only that")

	close(disk.release)
	require.NoError(t, <-flushed)
	go func() { <-disk.syncing }()
	require.NoError(t, b.flush())
	assert.Equal(t, "first\nsecond\n", disk.String())
}

// Appends racing with flushes lose nothing and keep every line whole.
func TestLineBufferConcurrentAppendsAndFlushes(t *testing.T) {
	var out safeBuffer
	b := newLineBuffer(&out, 256)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				if err := b.writeLine([]byte(strings.Repeat(string(rune('a'+g)), 1+i%40))); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := b.flush(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, b.flush())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	assert.Len(t, lines, 2000)
	for _, l := range lines {
		assert.Equal(t, strings.Repeat(l[:1], len(l)), l, "a line cut or mixed")
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
