package collector

import (
	"io"
	"sync"
)

// defaultBufferSize is how much an output buffers before it writes.
const defaultBufferSize = 256 << 10

// lineBuffer buffers lines for a writer. Lines are appended under its
// lock and written out when the buffer passes its limit, or on flush. A
// failed write keeps what was not written; while the buffer is full and
// writes fail, appends fail too, so memory stays bounded whatever the
// writer does.
type lineBuffer struct {
	mu    sync.Mutex
	w     io.Writer
	sync  func() error // called after each flush's write, when set
	limit int
	buf   []byte
}

func newLineBuffer(w io.Writer, limit int) *lineBuffer {
	if limit <= 0 {
		limit = defaultBufferSize
	}
	return &lineBuffer{w: w, limit: limit, buf: make([]byte, 0, limit+limit/4)}
}

// writeLine appends line and a newline.
func (b *lineBuffer) writeLine(line []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.makeRoomLocked(); err != nil {
		return err
	}
	b.buf = append(append(b.buf, line...), '\n')
	return nil
}

// Write appends p as it is: the io.Writer that a formatting handler
// writes whole lines to.
func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.makeRoomLocked(); err != nil {
		return 0, err
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lineBuffer) makeRoomLocked() error {
	if len(b.buf) < b.limit {
		return nil
	}
	return b.writeLocked()
}

func (b *lineBuffer) writeLocked() error {
	for len(b.buf) > 0 {
		n, err := b.w.Write(b.buf)
		b.buf = b.buf[:copy(b.buf, b.buf[n:])]
		if err != nil {
			return err
		}
	}
	return nil
}

// flush writes out everything buffered, then syncs.
func (b *lineBuffer) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.writeLocked(); err != nil {
		return err
	}
	if b.sync != nil {
		return b.sync()
	}
	return nil
}
