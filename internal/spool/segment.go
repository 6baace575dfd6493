package spool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// segment is one segment file's state. All fields but id and path are
// guarded by Spool.mu.
//
// Records [0, prefix) are acked. Records [prefix, retIdx()) have been
// returned by Next at least once; win[head:] holds one winRec for each.
// Next returns from readIdx on, skipping acked ones.
type segment struct {
	id   uint64
	path string

	size    int64 // bytes of whole records
	count   int   // whole records
	sealed  bool  // takes no more appends
	writing bool  // an Append is writing to it outside mu: not to be deleted
	runs    []run // appended-at times, see appendedAt

	readIdx  int      // next record for Next
	readOff  int64    // its offset
	prefix   int      // records acked contiguously from the start
	win      []winRec // from index head: records [prefix, retIdx())
	head     int
	winAcked int   // acked records in win[head:]
	retOff   int64 // offset of record retIdx(), the first never returned
}

// winRec is a record returned by Next and not yet in the acked prefix.
type winRec struct {
	off   int64
	acked bool
}

// run says that records from idx on were appended at at (unix nanos),
// until the next run; runs are merged to the millisecond.
type run struct {
	idx int
	at  int64
}

func (g *segment) retIdx() int { return g.prefix + len(g.win) - g.head }

// prefixOff returns the offset of record prefix.
func (g *segment) prefixOff() int64 {
	if g.head < len(g.win) {
		return g.win[g.head].off
	}
	return g.retOff
}

// addRun records that records from idx on were appended at at.
func (g *segment) addRun(idx int, at int64) {
	if n := len(g.runs); n > 0 && g.runs[n-1].at/1e6 == at/1e6 {
		return
	}
	g.runs = append(g.runs, run{idx, at})
}

// appendedAt returns when record idx was appended, to the millisecond.
func (g *segment) appendedAt(idx int) time.Time {
	i, found := slices.BinarySearchFunc(g.runs, idx, func(r run, idx int) int { return r.idx - idx })
	if !found {
		i--
	}
	if i < 0 {
		return time.Time{}
	}
	return time.Unix(0, g.runs[i].at)
}

// unread returns how many records Next has yet to return.
func (g *segment) unread() int {
	from := max(g.readIdx, g.prefix)
	n := g.count - from
	for _, w := range g.win[g.head+from-g.prefix:] {
		if w.acked {
			n--
		}
	}
	return n
}

// ack marks record idx acked, if it was returned and not acked yet, and
// reports whether the acked prefix grew.
func (g *segment) ack(idx int) bool {
	i := idx - g.prefix
	if i < 0 || i >= len(g.win)-g.head || g.win[g.head+i].acked {
		return false
	}
	g.win[g.head+i].acked = true
	g.winAcked++
	if i != 0 {
		return false
	}
	for g.head < len(g.win) && g.win[g.head].acked {
		g.head++
		g.prefix++
		g.winAcked--
	}
	if g.head == len(g.win) {
		g.win, g.head = g.win[:0], 0
	} else if g.head >= 1024 && g.head*2 >= len(g.win) {
		g.win = g.win[:copy(g.win, g.win[g.head:])]
		g.head = 0
	}
	return true
}

// deletable reports whether the segment's file can go: sealed, no Append
// writing to it, every record acked.
func (g *segment) deletable() bool {
	return g.sealed && !g.writing && g.prefix == g.count
}

// findLocked returns the segment with id, or nil.
func (s *Spool) findLocked(id uint64) *segment {
	i, ok := slices.BinarySearchFunc(s.segs, id, func(g *segment, id uint64) int {
		switch {
		case g.id < id:
			return -1
		case g.id > id:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return s.segs[i]
}

// deleteIfDoneLocked removes g's file and drops g if it is deletable. A
// failure to remove is kept for Close; the file is then resent by the next
// Open (at-least-once).
func (s *Spool) deleteIfDoneLocked(g *segment) {
	if !g.deletable() {
		return
	}
	if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.errs = append(s.errs, fmt.Errorf("spool: remove acked segment: %w", err))
	}
	s.segs = slices.DeleteFunc(s.segs, func(x *segment) bool { return x == g })
	s.size.Add(-g.size)
	s.dirDirty = true
}

// scanSegment reads the segment file at path and verifies its records.
// It truncates the file at the first record that does not check out
// (fsyncing the truncation if sync), returning the bytes cut. offAtWant is
// the offset of record want (which may be count, the end), or -1.
func scanSegment(id uint64, path string, want int, sync bool) (g *segment, offAtWant int64, cut int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, -1, 0, fmt.Errorf("spool: open segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, -1, 0, fmt.Errorf("spool: open segment: %w", err)
	}
	g = &segment{id: id, path: path}
	offAtWant = -1
	br := bufio.NewReaderSize(f, 256<<10)
	var buf []byte
	hdr := make([]byte, frameHeaderLen)
	for {
		if g.count == want {
			offAtWant = g.size
		}
		if _, err := io.ReadFull(br, hdr); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // the end, or a torn header
			}
			return nil, -1, 0, fmt.Errorf("spool: read segment %s: %w", path, err)
		}
		_, need, _, ferr := frame(hdr)
		if ferr != nil || int64(need) > fi.Size()-g.size {
			break // a bad length, or a torn record
		}
		buf = slices.Grow(buf[:0], need)[:need]
		copy(buf, hdr)
		if _, err := io.ReadFull(br, buf[frameHeaderLen:]); err != nil {
			return nil, -1, 0, fmt.Errorf("spool: read segment %s: %w", path, err)
		}
		p, _, ok, ferr := frame(buf)
		if !ok || ferr != nil {
			break
		}
		info, derr := decode(p, nil, nil, nil, nil)
		if derr != nil {
			break
		}
		g.addRun(g.count, info.at)
		g.count++
		g.size += int64(need)
	}
	if cut = fi.Size() - g.size; cut > 0 {
		err = f.Truncate(g.size)
		if err == nil && sync {
			err = f.Sync()
		}
		if err != nil {
			return nil, -1, cut, fmt.Errorf("spool: cut corrupt tail of segment: %w", err)
		}
	}
	return g, offAtWant, cut, nil
}
