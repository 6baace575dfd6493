package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// writer is the write side's state, guarded by Spool.wmu.
type writer struct {
	seg    *segment   // the tail segment f is open on, or nil
	f      *os.File   // open on seg for writing
	dirty  bool       // f has writes not fsynced
	rolled []*os.File // files of sealed segments not fsynced yet (SyncInterval); closed once synced
	buf    []byte     // encoded records of one write
	ends   []int      // end of each record in buf
	lastAt int64      // last appended-at, unix nanos: appended-at never goes back

	// writeAt is (*os.File).WriteAt; tests replace it to inject failures.
	writeAt func(f *os.File, b []byte, off int64) (int, error)
}

// maxKeptBuf is the largest write buffer kept between calls, and about
// the most one write(2) of Append writes: a bigger batch takes several,
// so that the buffer is reused rather than grown for it.
const maxKeptBuf = 1 << 20

// Append writes entries at the tail of the spool, in order, with one
// write(2) per segment touched, starting a new segment once the tail
// reaches Options.SegmentBytes (or was sealed by Next). It returns how
// many entries were written, a prefix of entries, and when not all, why:
// ErrFull when the next entry would take the spool past Options.MaxBytes,
// or the I/O error, wrapped with the segment's path. After a failed or
// short write the segment is truncated back to its last whole record (if
// even that fails it is sealed, and the next Open cuts the rest). Under
// SyncBatch it fsyncs before returning; an fsync error is returned with
// every entry counted as written (they may not be durable).
//
// Append blocks while another Append or Prepend runs, and for the fsync of
// a SyncInterval tick; it never waits for Next, Ack or Stats.
func (s *Spool) Append(entries []Entry) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	at := s.w.now()
	written, created := 0, false
	var err error
	for written < len(entries) && err == nil {
		var n int
		var c bool
		n, c, err = s.appendChunk(entries[written:], at)
		written += n
		created = created || c
	}
	if s.opts.Sync == SyncBatch && s.w.dirty {
		serr := s.w.syncFiles()
		if serr == nil && created {
			if serr = syncDir(s.dir); serr != nil {
				serr = fmt.Errorf("spool: fsync %s: %w", s.dir, serr)
			}
		}
		err = errors.Join(err, serr)
	}
	return written, err
}

// appendChunk writes a prefix of entries to the tail segment with one
// write, creating the segment first if needed (created). It returns how
// many entries it wrote and, if it stopped for another reason than the
// segment filling up (the caller then goes on with a new one), why.
func (s *Spool) appendChunk(entries []Entry, at int64) (n int, created bool, err error) {
	var rollErr error
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, false, ErrClosed
	}
	free := s.opts.MaxBytes - s.size.Load()
	var seg *segment
	var base int64
	if last := len(s.segs) - 1; last >= 0 && !s.segs[last].sealed && s.segs[last] == s.w.seg {
		seg, base = s.segs[last], s.segs[last].size
		seg.writing = true
	}
	id := s.nextID
	if seg == nil {
		s.nextID++
	}
	s.mu.Unlock()

	// Encode what fits: in MaxBytes, and up to the record that reaches
	// SegmentBytes.
	k, full, encErr := s.w.encode(entries, at, free, s.opts.SegmentBytes-base)
	if k == 0 {
		if seg != nil {
			s.mu.Lock()
			seg.writing = false
			s.deleteIfDoneLocked(seg)
			s.mu.Unlock()
		}
		if full {
			return 0, false, fmt.Errorf("spool: append to %s: %w", s.dir, ErrFull)
		}
		return 0, false, fmt.Errorf("spool: append to %s: %w", s.dir, encErr)
	}
	if seg == nil {
		path := filepath.Join(s.dir, segName(id))
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			return 0, false, fmt.Errorf("spool: create segment: %w", err)
		}
		rollErr = s.w.roll(s.opts.Sync)
		seg, created = &segment{id: id, path: path, sealed: false, writing: true}, true
		s.w.seg, s.w.f = seg, f
	}
	k, keep, sealed, werr := s.w.write(s.w.f, seg.path, base, k)

	s.mu.Lock()
	seg.writing = false
	if k > 0 {
		seg.addRun(seg.count, at)
	}
	seg.count += k
	seg.size += keep
	s.size.Add(keep)
	seg.sealed = seg.sealed || sealed || seg.size >= s.opts.SegmentBytes
	if created {
		if k > 0 {
			s.segs = append(s.segs, seg)
			s.dirDirty = true
		} else {
			seg.sealed = true // the file is empty: drop it
			_ = os.Remove(seg.path)
		}
	} else {
		s.deleteIfDoneLocked(seg)
	}
	s.mu.Unlock()
	if k > 0 {
		s.w.dirty = true
	}
	if werr == nil && k < len(entries) {
		if full {
			werr = fmt.Errorf("spool: append to %s: %w", s.dir, ErrFull)
		} else if encErr != nil {
			werr = fmt.Errorf("spool: append to %s: %w", s.dir, encErr)
		}
	}
	return k, created, errors.Join(werr, rollErr)
}

// encode encodes a prefix of entries into w.buf, appended at at: while
// they fit in free bytes, and up to the one that makes the chunk reach
// room bytes. It returns how many it encoded, whether it stopped for lack
// of free bytes, and an entry's encoding error if it stopped for that.
func (w *writer) encode(entries []Entry, at, free, room int64) (n int, full bool, err error) {
	w.buf, w.ends = w.buf[:0], w.ends[:0]
	for i := range entries {
		if int64(len(w.buf))+EncodedSize(&entries[i]) > free {
			return len(w.ends), true, nil
		}
		if w.buf, err = appendRecord(w.buf, &entries[i], at); err != nil {
			return len(w.ends), false, err
		}
		w.ends = append(w.ends, len(w.buf))
		if int64(len(w.buf)) >= room || len(w.buf) >= maxKeptBuf {
			break // a chunk the size of the buffer kept: Append writes the next
		}
	}
	return len(w.ends), false, nil
}

// write writes the first k records of w.buf to f at base, with one
// write. On a failed or short write it keeps the whole records written
// and truncates the file after them; sealed reports that even the
// truncation failed. It returns the records and bytes kept.
func (w *writer) write(f *os.File, path string, base int64, k int) (kept int, keep int64, sealed bool, err error) {
	b := w.buf[:w.ends[k-1]]
	defer func() {
		if cap(w.buf) > maxKeptBuf {
			w.buf = nil
		}
	}()
	n, err := w.writeAt(f, b, base)
	if err == nil {
		return k, int64(len(b)), false, nil
	}
	kept = 0
	for kept < k && w.ends[kept] <= n {
		kept++
	}
	if kept > 0 {
		keep = int64(w.ends[kept-1])
	}
	err = fmt.Errorf("spool: append to %s: %w", path, err)
	if terr := f.Truncate(base + keep); terr != nil {
		return kept, keep, true, errors.Join(err, fmt.Errorf("spool: truncate %s: %w", path, terr))
	}
	return kept, keep, false, err
}

// now returns the appended-at time for a call: the clock, but never
// before the previous call's.
func (w *writer) now() int64 {
	w.lastAt = max(time.Now().UnixNano(), w.lastAt)
	return w.lastAt
}

// roll lets go of the tail file, before the writer moves to a new one:
// fsynced and closed now under SyncBatch, kept for the next tick under
// SyncInterval, closed under SyncNever.
func (w *writer) roll(mode SyncMode) error {
	f := w.f
	w.seg, w.f = nil, nil
	if f == nil {
		return nil
	}
	dirty := w.dirty
	w.dirty = false
	switch {
	case mode == SyncInterval && dirty:
		w.rolled = append(w.rolled, f)
		return nil
	case mode == SyncBatch && dirty:
		err := f.Sync()
		return errors.Join(err, f.Close())
	}
	return f.Close()
}

// syncFiles fsyncs the tail file if dirty and the rolled files, closing
// the latter.
func (w *writer) syncFiles() error {
	var errs []error
	for _, f := range w.rolled {
		if err := f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("spool: fsync: %w", err))
		}
		errs = append(errs, f.Close())
	}
	w.rolled = w.rolled[:0]
	if w.f != nil && w.dirty {
		if err := w.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("spool: fsync: %w", err))
		}
		w.dirty = false
	}
	return errors.Join(errs...)
}

// close closes every file the writer holds, without fsyncing.
func (w *writer) close() error {
	var errs []error
	for _, f := range w.rolled {
		errs = append(errs, f.Close())
	}
	w.rolled = nil
	if w.f != nil {
		errs = append(errs, w.f.Close())
	}
	w.seg, w.f = nil, nil
	return errors.Join(errs...)
}

// Prepend writes entries as a new, sealed segment ordered before every
// other one, for entries older than everything spooled. Next returns them
// before anything it has not returned yet, and so does the next Open.
// Like Append it is subject to MaxBytes (returning how many of entries it
// wrote, and ErrFull), writes with one write(2), and fsyncs under
// SyncBatch; unlike Append it never splits entries across segments.
func (s *Spool) Prepend(entries []Entry) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	free := s.opts.MaxBytes - s.size.Load()
	var id uint64
	if len(s.segs) > 0 {
		id = s.segs[0].id - 1
	} else {
		id = s.nextID
		s.nextID++
	}
	s.mu.Unlock()

	k, full, encErr := s.w.encode(entries, s.w.now(), free, 1<<62)
	if k == 0 {
		if full {
			return 0, fmt.Errorf("spool: prepend to %s: %w", s.dir, ErrFull)
		}
		return 0, fmt.Errorf("spool: prepend to %s: %w", s.dir, encErr)
	}
	path := filepath.Join(s.dir, segName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return 0, fmt.Errorf("spool: create segment: %w", err)
	}
	k, keep, _, werr := s.w.write(f, path, 0, k)
	if k > 0 {
		switch s.opts.Sync {
		case SyncBatch:
			err = f.Sync()
			if err == nil {
				err = syncDir(s.dir)
			}
			err = errors.Join(err, f.Close())
		case SyncInterval:
			s.w.rolled = append(s.w.rolled, f)
		default:
			err = f.Close()
		}
	} else {
		err = f.Close()
		_ = os.Remove(path)
	}
	if k > 0 {
		seg := &segment{id: id, path: path, sealed: true, count: k, size: keep}
		seg.addRun(0, s.w.lastAt)
		s.mu.Lock()
		i, _ := slices.BinarySearchFunc(s.segs, id, func(g *segment, id uint64) int {
			return cmpID(g.id, id)
		})
		s.segs = slices.Insert(s.segs, i, seg)
		s.size.Add(keep)
		s.dirDirty = true
		s.mu.Unlock()
	}
	if werr == nil && k < len(entries) {
		if full {
			werr = fmt.Errorf("spool: prepend to %s: %w", s.dir, ErrFull)
		} else if encErr != nil {
			werr = fmt.Errorf("spool: prepend to %s: %w", s.dir, encErr)
		}
	}
	if err != nil {
		err = fmt.Errorf("spool: prepend to %s: %w", path, err)
	}
	return k, errors.Join(werr, err)
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
