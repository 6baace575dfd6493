package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Spooled is an entry read back by Next, with the ticket that acks it.
type Spooled struct {
	Entry
	Ticket Ticket
}

// Ticket identifies a spooled entry for Ack. It is small and comparable.
type Ticket struct {
	seg uint64
	idx uint32
}

// reader is the read side's state, guarded by Spool.rmu.
type reader struct {
	seg      *segment // the segment f is open on, or nil
	f        *os.File
	buf      []byte            // bytes read from f
	picks    []pick            // records selected from buf
	names    map[string]string // interned topics and header keys
	avgFrame int               // running average frame size, to size reads
}

// pick is a record Next selected from the read buffer.
type pick struct {
	idx      int
	off, end int64
	payload  []byte
	info     payloadInfo
	skip     bool // acked meanwhile: not returned
}

const (
	minRead     = 16 << 10
	maxRead     = 4 << 20
	maxKeptRBuf = maxRead
)

// Next returns, in buf[:0], up to max entries that follow the last one it
// returned, in spool order: entries written by Prepend before the rest,
// and after Rewind, the entries returned but not acked again. It stops
// before the entry that would take the entries' keys and values past
// maxBytes (maxBytes <= 0: no limit), but returns at least one if any is
// there. It returns none when it has returned every entry in the spool; it
// never waits for Append. The entries' byte slices are fresh for each
// call (one allocation for all of a call's bytes), the caller's to keep.
//
// When Next reaches the end of a tail segment of at least a quarter of
// SegmentBytes it seals it, so that the next Append starts a new segment
// and this one can be deleted once acked (SealTail does it whatever the
// size).
//
// A record that no longer checks out (the file changed under the spool)
// makes Next return an error naming the segment, with the entries before
// it; the rest of that segment is given up on (counted as acked) and the
// next call goes on with the next segment. Next is meant for one
// goroutine at a time; concurrent calls are serialized.
func (s *Spool) Next(buf []Spooled, max int, maxBytes int) ([]Spooled, error) {
	out := buf[:0]
	s.rmu.Lock()
	defer s.rmu.Unlock()
	r := &s.r
	kv := 0
	for len(out) < max && (maxBytes <= 0 || kv < maxBytes || len(out) == 0) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return out, ErrClosed
		}
		seg := s.unreadLocked()
		if seg == nil {
			s.mu.Unlock()
			break
		}
		idx, off, end := seg.readIdx, seg.readOff, seg.size
		s.mu.Unlock()

		bad, badErr, err := r.pickFrom(seg, idx, off, end, max-len(out), maxBytes, kv, len(out) == 0)
		if err != nil {
			return out, err
		}
		if len(r.picks) == 0 && bad < 0 {
			break // the next entry would pass maxBytes
		}
		s.mu.Lock()
		s.commitLocked(seg, r.picks, bad)
		s.mu.Unlock()
		out, kv = r.decodePicks(out, kv)
		if badErr != nil {
			return out, badErr
		}
	}
	if cap(r.buf) > maxKeptRBuf {
		r.buf = nil
	}
	return out, nil
}

// unreadLocked returns the first segment with entries Next has not
// returned, moving its read position past any acked prefix, or nil.
func (s *Spool) unreadLocked() *segment {
	for _, g := range s.segs {
		if g.readIdx < g.prefix {
			g.readIdx, g.readOff = g.prefix, g.prefixOff()
		}
		if g.readIdx < g.count {
			return g
		}
	}
	return nil
}

// pickFrom reads records of seg from record idx at offset off (the
// segment's published records ending at end) into r.picks: at most n,
// stopping before the keys and values pass maxBytes (kv so far) unless
// first. For a record that does not check out it returns its index and an
// error wrapping errCorrupt, after the picks before it (bad is -1 if
// none); err is an I/O error.
func (r *reader) pickFrom(seg *segment, idx int, off, end int64, n, maxBytes, kv int, first bool) (bad int, badErr, err error) {
	r.picks = r.picks[:0]
	if r.seg != seg {
		if err := r.close(); err != nil {
			return -1, nil, err
		}
		f, err := os.Open(seg.path)
		if err != nil {
			return -1, nil, fmt.Errorf("spool: read segment: %w", err)
		}
		r.seg, r.f = seg, f
	}
	if r.avgFrame == 0 {
		r.avgFrame = 512
	}
	want := int64(min(max((n+1)*r.avgFrame, minRead), maxRead))
	// r.buf[:read] holds the file's bytes from base; the next frame is at p.
	base, read, p := off, 0, 0
	for len(r.picks) < n {
		payload, need, ok, ferr := frame(r.buf[p:read])
		if ferr == nil && !ok {
			left := end - base - int64(read) // bytes not read yet
			if len(r.picks) > 0 || left == 0 && p == read {
				// The picks alias r.buf: read more in the next call.
				break
			}
			if left == 0 {
				ferr = fmt.Errorf("%w: frame past the end", errCorrupt)
			} else {
				// Read the chunk wanted, or at least the whole frame.
				keep := read - p
				size := min(max(want, int64(need)), int64(keep)+left)
				if int64(cap(r.buf)) < size {
					nb := make([]byte, size)
					copy(nb, r.buf[p:read])
					r.buf = nb
				} else {
					r.buf = r.buf[:size]
					copy(r.buf, r.buf[p:read])
				}
				r.buf = r.buf[:size]
				base += int64(p)
				if err := seg.readAt(r.f, r.buf[keep:], base+int64(keep)); err != nil {
					return -1, nil, err
				}
				read, p = int(size), 0
				continue
			}
		}
		var info payloadInfo
		if ferr == nil {
			info, ferr = decode(payload, nil, nil, nil, nil)
		}
		if ferr != nil {
			return idx, fmt.Errorf("spool: read %s: record %d at offset %d: %w", seg.path, idx, base+int64(p), ferr), nil
		}
		if maxBytes > 0 && !(first && len(r.picks) == 0) && kv+info.kv > maxBytes {
			break
		}
		kv += info.kv
		at := base + int64(p)
		r.picks = append(r.picks, pick{idx: idx, off: at, end: at + int64(need), payload: payload, info: info})
		idx++
		p += need
	}
	if k := len(r.picks); k > 0 {
		r.avgFrame = (r.avgFrame + int(r.picks[k-1].end-r.picks[0].off)/k + 1) / 2
	}
	return -1, nil, nil
}

// readAt fills b from f at off.
func (g *segment) readAt(f *os.File, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
		return fmt.Errorf("spool: read segment %s: %w", g.path, err)
	}
	return nil
}

// commitLocked records that the picks were returned, except those acked
// meanwhile (marked skip), and moves seg's read position past them. If
// bad >= 0 it gives up on records bad and on of seg, counting them
// returned and acked. It seals seg if Next reached the spool's end.
func (s *Spool) commitLocked(seg *segment, picks []pick, bad int) {
	for i := range picks {
		pk := &picks[i]
		switch ret := seg.retIdx(); {
		case pk.idx < seg.prefix:
			pk.skip = true
		case pk.idx < ret:
			pk.skip = seg.win[seg.head+pk.idx-seg.prefix].acked
		default:
			seg.win = append(seg.win, winRec{off: pk.off})
			seg.retOff = pk.end
		}
		seg.readIdx, seg.readOff = pk.idx+1, pk.end
	}
	if bad >= 0 {
		for i := max(bad, seg.prefix); i < seg.count; i++ {
			if i >= seg.retIdx() {
				seg.win = append(seg.win, winRec{off: -1}) // never the head once acked
			}
			if seg.ack(i) {
				s.ckDirty = true
			}
		}
		seg.readIdx, seg.readOff, seg.retOff = seg.count, seg.size, seg.size
		seg.sealed = true
	}
	if n := len(s.segs); n > 0 && s.segs[n-1] == seg && seg.readIdx == seg.count && seg.size >= s.opts.SegmentBytes/4 {
		seg.sealed = true
	}
	s.deleteIfDoneLocked(seg)
}

// SealTail seals the tail segment if Next has returned all of it, so
// that its file is deleted once its entries are acked and the next
// Append starts a new one. Next seals a tail it catches up with only once
// the tail holds a quarter of SegmentBytes: a reader that keeps up with
// the writer would otherwise make a segment file per Append. The owner
// calls SealTail when it stops spooling, so that an idle spool keeps no
// file.
func (s *Spool) SealTail() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.segs); n > 0 {
		if seg := s.segs[n-1]; seg.readIdx == seg.count && !seg.writing {
			seg.sealed = true
			s.deleteIfDoneLocked(seg)
		}
	}
}

// decodePicks appends the picks not skipped to out as Spooled entries,
// with one allocation for their bytes and one for their headers.
func (r *reader) decodePicks(out []Spooled, kv int) ([]Spooled, int) {
	var data, headers int
	for _, pk := range r.picks {
		if !pk.skip {
			data += pk.info.data
			headers += pk.info.headers
		}
	}
	arena := make([]byte, data)
	var hdrs []Header
	if headers > 0 {
		hdrs = make([]Header, headers)
	}
	if r.names == nil {
		r.names = make(map[string]string)
	}
	for _, pk := range r.picks {
		if pk.skip {
			continue
		}
		kv += pk.info.kv
		out = append(out, Spooled{Ticket: Ticket{seg: r.seg.id, idx: uint32(pk.idx)}})
		// The payload checked out in pickFrom; decode cannot fail here.
		_, _ = decode(pk.payload, &out[len(out)-1].Entry, &arena, &hdrs, r.names)
	}
	r.picks = r.picks[:0]
	return out, kv
}

// close closes the reader's file.
func (r *reader) close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.seg, r.f = nil, nil
	return err
}

// Ack marks a returned entry delivered (or given up on). Once every entry
// of a sealed segment is acked, its file is deleted. Acks may come in any
// order; acking twice, or a ticket of a deleted segment, does nothing. Ack
// never blocks on file I/O other than that deletion's unlink.
func (s *Spool) Ack(t Ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	seg := s.findLocked(t.seg)
	if seg == nil {
		return
	}
	if seg.ack(int(t.idx)) {
		s.ckDirty = true
		s.deleteIfDoneLocked(seg)
	}
}

// Rewind makes Next return again, from the oldest unacked entry on, every
// entry it returned that is not acked (for a sender that lost what it was
// handed). It is O(segments) and does no I/O.
func (s *Spool) Rewind() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.segs {
		g.readIdx, g.readOff = g.prefix, g.prefixOff()
	}
}
