// Package spool is the producer's disk spool: an append-only log of
// messages in segment files, written when Kafka does not take messages
// fast enough and read back, in order, by this process or the next one
// (after a crash or kill -9).
//
// One [Spool] owns one directory, locked against other Spools. [Spool.Append]
// writes at the tail, [Spool.Prepend] before everything; [Spool.Next] reads
// entries back in spool order and [Spool.Ack] acknowledges them, which
// deletes segment files once all their entries are acked. Delivery is
// at-least-once: entries returned but not acked come back after a restart
// ([Spool.Rewind] does the same within a process). The file format is
// described in format.go and checkpoint.go.
//
// Every record carries a CRC-32C. [Open] verifies them all and cuts a torn
// or corrupt tail off its segment instead of failing.
//
// We do not use github.com/tidwall/wal: it has no per-record checksum, a
// torn tail makes its Open fail for the whole log, it keeps the tail
// segment in memory, and its index is contiguous, with no way to put
// records before the first segment.
package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
)

// SyncMode says when the spool fsyncs what it writes.
type SyncMode int

const (
	// SyncInterval, the default, fsyncs the segments written and the
	// directory every Options.SyncInterval (if anything changed), in the
	// spool's own goroutine. A machine crash loses at most that interval;
	// a process crash loses nothing Append has returned.
	SyncInterval SyncMode = iota
	// SyncBatch fsyncs at the end of every Append and Prepend call.
	SyncBatch
	// SyncNever never fsyncs; the OS writes back. A process crash still
	// loses nothing Append has returned.
	SyncNever
)

// String returns the mode's name.
func (m SyncMode) String() string {
	switch m {
	case SyncInterval:
		return "interval"
	case SyncBatch:
		return "batch"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Options configures a Spool. The zero value is valid: every field's zero
// is its default.
type Options struct {
	// MaxBytes caps the total size of the segment files; Append and
	// Prepend fail with ErrFull rather than exceed it. Default 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which a segment is sealed and the next
	// Append starts a new one (a segment may pass it by one record).
	// Default 16 MiB, and never more than MaxBytes/4 (but at least 64 KiB).
	SegmentBytes int64
	// Sync says when to fsync. Default SyncInterval.
	Sync SyncMode
	// SyncInterval is the period of the spool's goroutine, which fsyncs
	// (under SyncInterval) and writes the checkpoint (in every mode).
	// Default 1s.
	SyncInterval time.Duration
}

const (
	defaultMaxBytes     = 1 << 30
	defaultSegmentBytes = 16 << 20
	minSegmentBytes     = 64 << 10
	defaultSyncInterval = time.Second
)

// withDefaults returns o with defaults in place of zeros; o is a copy.
func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	o.SegmentBytes = max(min(o.SegmentBytes, o.MaxBytes/4), minSegmentBytes)
	if o.SyncInterval <= 0 {
		o.SyncInterval = defaultSyncInterval
	}
	return o
}

// Spool is an open spool directory. Its methods are safe for concurrent
// use, with one writer (Append, Prepend) and one reader (Next, Rewind) at
// a time being the intended use; Ack, Stats, Size and Recovered may be
// called from anywhere. File I/O is done outside the lock that Ack and
// Stats take, so they never wait for a write or an fsync.
type Spool struct {
	dir  string
	opts Options // defaults applied
	lock *flock.Flock

	// rmu serializes Next, Rewind and Close; it guards r.
	rmu sync.Mutex
	r   reader
	// wmu serializes Append, Prepend, the sync tick and Close; it guards w.
	wmu sync.Mutex
	w   writer

	// mu guards the fields below and every segment's state. Lock order:
	// rmu, wmu, mu.
	mu       sync.Mutex
	closed   bool
	segs     []*segment // by increasing id
	nextID   uint64     // id of the next segment Append creates
	ckDirty  bool       // acked prefixes changed since the last checkpoint
	dirDirty bool       // segment files created or removed since the last directory fsync
	errs     []error    // background failures (fsync, remove), returned by Close

	size                   atomic.Int64 // bytes of whole records in segs; written under mu
	recEntries, recCutSize int64        // set by Open

	// stop is closed by Close to stop syncLoop; done is closed by
	// syncLoop when it returns.
	stop, done chan struct{}
}

// Open opens the spool in dir, creating dir (mode 0o750) if needed, and
// locks it: a second Open of dir, in this process or another, fails with
// an error wrapping ErrLocked until the first is closed. Open reads every
// segment, verifies every record, and truncates each segment at its first
// bad record (see [Spool.Recovered]); entries the checkpoint says were
// acked are skipped. It starts the spool's goroutine, which Close stops.
// Errors name dir or the file at fault.
func Open(dir string, opts Options) (*Spool, error) {
	opts = opts.withDefaults()
	if opts.Sync < SyncInterval || opts.Sync > SyncNever {
		return nil, fmt.Errorf("spool: open %s: unknown sync mode %v", dir, opts.Sync)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	lock := flock.New(filepath.Join(dir, "LOCK"))
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: lock: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("spool: open %s: %w", dir, ErrLocked)
	}
	s := &Spool{dir: dir, opts: opts, lock: lock, stop: make(chan struct{}), done: make(chan struct{})}
	s.w.writeAt = (*os.File).WriteAt
	if err := s.load(); err != nil {
		_ = lock.Unlock()
		return nil, err
	}
	go s.syncLoop()
	return s, nil
}

// load checks that dir is writable and reads its segments and checkpoint.
func (s *Spool) load() error {
	probe, err := os.CreateTemp(s.dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("spool: open %s: directory not writable: %w", s.dir, err)
	}
	_ = probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return fmt.Errorf("spool: open %s: %w", s.dir, err)
	}
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: open %s: %w", s.dir, err)
	}
	var ids []uint64
	for _, de := range des {
		if id, ok := parseSegName(de.Name()); ok && de.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	marks := readCheckpoint(s.dir)
	s.nextID = firstID
	for _, id := range ids {
		s.nextID = max(s.nextID, id+1)
		mark, hasMark := marks[id]
		want := -1
		if hasMark {
			want = mark.n
		}
		seg, offAtWant, cut, err := scanSegment(id, filepath.Join(s.dir, segName(id)), want, s.opts.Sync != SyncNever)
		s.recCutSize += cut
		if err != nil {
			return err
		}
		seg.sealed = true
		if hasMark && mark.n <= seg.count && mark.off == offAtWant {
			seg.prefix, seg.readIdx = mark.n, mark.n
			seg.readOff, seg.retOff = mark.off, mark.off
		}
		if seg.prefix == seg.count {
			if err := os.Remove(seg.path); err != nil {
				return fmt.Errorf("spool: open %s: %w", s.dir, err)
			}
			s.dirDirty = true
			continue
		}
		s.recEntries += int64(seg.count - seg.prefix)
		s.segs = append(s.segs, seg)
		s.size.Add(seg.size)
	}
	if marks != nil {
		// Rewrite it now, so that no mark outlives its segment.
		if err := writeCheckpoint(s.dir, s.marksLocked(), s.opts.Sync != SyncNever); err != nil {
			return err
		}
	}
	return nil
}

// Dir returns the spool's directory, as given to Open.
func (s *Spool) Dir() string { return s.dir }

// Recovered reports what Open found: the entries on disk not acked
// according to the checkpoint, and the bytes cut off segments as torn or
// corrupt.
func (s *Spool) Recovered() (entries int64, cutBytes int64) {
	return s.recEntries, s.recCutSize
}

// Stats is a snapshot of a spool's contents.
type Stats struct {
	Bytes    int64     // bytes of segment files on disk
	Entries  int64     // entries on disk not acked (returned by Next or not)
	Unread   int64     // entries Next has yet to return (again, after Rewind)
	Oldest   time.Time // when the oldest unacked entry was appended, to the millisecond; zero if none
	Segments int       // segment files
}

// Stats returns the spool's current Stats. It takes the spool's lock and
// is O(segments + entries returned but not acked).
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Bytes: s.size.Load(), Segments: len(s.segs)}
	for _, seg := range s.segs {
		st.Entries += int64(seg.count - seg.prefix - seg.winAcked)
		st.Unread += int64(seg.unread())
		if seg.prefix < seg.count {
			if at := seg.appendedAt(seg.prefix); st.Oldest.IsZero() || at.Before(st.Oldest) {
				st.Oldest = at
			}
		}
	}
	return st
}

// Size returns Stats().Bytes with an atomic load, without the lock.
func (s *Spool) Size() int64 { return s.size.Load() }

// marksLocked returns the acked prefix of every segment that has one.
func (s *Spool) marksLocked() []ackMark {
	var marks []ackMark
	for _, seg := range s.segs {
		if seg.prefix > 0 {
			marks = append(marks, ackMark{id: seg.id, n: seg.prefix, off: seg.prefixOff()})
		}
	}
	return marks
}

// syncLoop calls tick every SyncInterval until stop is closed. Open
// starts it; Close stops it and waits for done.
func (s *Spool) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.tick(false)
		}
	}
}

// tick fsyncs what was written (under SyncInterval, or always when final)
// and writes the checkpoint if acks moved it. It returns the first error;
// the periodic caller keeps it for Close.
func (s *Spool) tick(final bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed && !final {
		s.mu.Unlock()
		return nil
	}
	var marks []ackMark
	ck, dir := s.ckDirty || final, s.dirDirty
	if ck {
		marks = s.marksLocked()
	}
	s.ckDirty, s.dirDirty = false, false
	s.mu.Unlock()

	var errs []error
	fsync := s.opts.Sync == SyncInterval || (final && s.opts.Sync != SyncNever)
	if fsync {
		errs = append(errs, s.w.syncFiles())
	}
	if dir && s.opts.Sync != SyncNever {
		if err := syncDir(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("spool: fsync %s: %w", s.dir, err))
		}
	}
	if ck {
		errs = append(errs, writeCheckpoint(s.dir, marks, s.opts.Sync != SyncNever))
	}
	err := errors.Join(errs...)
	if err != nil && !final {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.ckDirty = s.ckDirty || ck
		s.mu.Unlock()
	}
	return err
}

// Close stops the spool's goroutine, fsyncs what was written (unless
// SyncNever), writes the checkpoint, closes the files and unlocks the
// directory. Entries not acked stay on disk for the next Open. It waits
// for a running Append, Prepend or Next to return; calls made after it
// return ErrClosed. It returns errors of the final sync and of earlier
// background syncs; a second Close returns nil.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done

	s.rmu.Lock()
	defer s.rmu.Unlock()
	errs := []error{s.tick(true)}
	s.wmu.Lock()
	errs = append(errs, s.w.close())
	s.wmu.Unlock()
	errs = append(errs, s.r.close())
	s.mu.Lock()
	errs = append(errs, s.errs...)
	s.mu.Unlock()
	if err := s.lock.Unlock(); err != nil {
		errs = append(errs, fmt.Errorf("spool: unlock %s: %w", s.dir, err))
	}
	return errors.Join(errs...)
}
