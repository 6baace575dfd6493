package collector

import (
	"io"
	"sync"
)

// defaultBufferSize is how much an output buffers before it writes.
const defaultBufferSize = 256 << 10

// lineBuffer buffers lines for a writer. Appends take a short lock, mu,
// that is never held across I/O: writing out swaps the filled buffer for
// an empty one under mu, then writes it (and syncs, on flush) under wmu
// alone, so that the partitions appending meanwhile wait for neither the
// write nor the fsync. Only an append that finds the buffer full writes
// out itself, and so waits for the writer.
//
// A failed write keeps what was not written, in front of what comes
// next. While writes fail, appends fail once the buffer is full, so at
// most twice the limit is held whatever the writer does.
type lineBuffer struct {
	limit int

	mu  sync.Mutex // guards buf; never held across I/O
	buf []byte     // appended, not yet handed to the writer

	wmu     sync.Mutex   // serialises writes and syncs; taken before mu, never inside it
	w       io.Writer    // written under wmu only
	sync    func() error // called after each flush's write, when set; under wmu
	pending []byte       // guarded by wmu: swapped out of buf, not yet written
}

func newLineBuffer(w io.Writer, limit int) *lineBuffer {
	if limit <= 0 {
		limit = defaultBufferSize
	}
	return &lineBuffer{w: w, limit: limit, buf: make([]byte, 0, limit+limit/4), pending: make([]byte, 0, limit+limit/4)}
}

// writeLine appends line and a newline.
func (b *lineBuffer) writeLine(line []byte) error {
	return b.append(line, true)
}

// Write appends p as it is: the io.Writer that a formatting handler
// writes whole lines to.
func (b *lineBuffer) Write(p []byte) (int, error) {
	if err := b.append(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (b *lineBuffer) append(p []byte, newline bool) error {
	b.mu.Lock()
	for len(b.buf) >= b.limit {
		b.mu.Unlock()
		err := b.writeOut()
		b.mu.Lock()
		if err != nil && len(b.buf) >= b.limit {
			b.mu.Unlock()
			return err
		}
	}
	b.buf = append(b.buf, p...)
	if newline {
		b.buf = append(b.buf, '\n')
	}
	b.mu.Unlock()
	return nil
}

// writeOut writes what an earlier write left, then everything appended
// so far. It holds wmu throughout and mu only to swap the buffers.
func (b *lineBuffer) writeOut() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return b.writeOutLocked()
}

func (b *lineBuffer) writeOutLocked() error {
	if err := b.writePending(); err != nil {
		return err
	}
	b.mu.Lock()
	b.buf, b.pending = b.pending, b.buf // pending is empty: written above
	b.mu.Unlock()
	return b.writePending()
}

// writePending writes pending, keeping what a failed write left.
func (b *lineBuffer) writePending() error {
	for len(b.pending) > 0 {
		n, err := b.w.Write(b.pending)
		b.pending = b.pending[:copy(b.pending, b.pending[n:])]
		if err != nil {
			return err
		}
	}
	return nil
}

// flush writes out everything appended before the call, then syncs.
// Appends go on meanwhile, into the other buffer.
func (b *lineBuffer) flush() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if err := b.writeOutLocked(); err != nil {
		return err
	}
	if b.sync != nil {
		return b.sync()
	}
	return nil
}
