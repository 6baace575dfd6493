package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaesk-go/kafkaesk/internal/spool"
)

// SpoolConfig configures the producer's disk spool: store and forward,
// so that a Kafka outage, a slow broker or a restart loses no message the
// producer accepted. The zero value is no spool.
//
// With a spool, a message handed over asynchronously (PublishAsync,
// RawPublishAsync, RawPublishBatchAsync, Produce, TryProduce, and so
// sloghandler's events and the collector's dead letters) that finds the
// producer's buffer full (Config.MaxBufferedMessages) is not refused nor
// waited for: it goes to the spool, a directory of append-only segment
// files, and every later message goes there too until the spool is
// empty again, so that messages leave in the order they were accepted.
// Its callback is called with ErrSpooled once it is written. The
// producer sends the spool's messages, oldest first, as its buffer has
// room; a segment file is deleted once all its messages are acknowledged.
// A Publish, which waits for the acknowledgement, never goes to the spool.
//
// The caller never writes to disk: the spool's writer takes what callers
// hand over, in batches, on a goroutine of its own.
//
// Durability. A message is in the spool once its callback got
// ErrSpooled: it survives the process (an exit, a crash, kill -9), and
// the next Application that opens the directory sends it. Against a crash
// of the machine it is safe once synced to the disk: by default every
// SyncInterval (so a machine crash loses at most that interval's
// messages); SpoolSyncBatch syncs every batch the writer writes (never
// one sync per message), SpoolSyncNever leaves it to the operating
// system. Messages still in memory (the buffer) are lost in a crash;
// Close writes those it could not deliver to the spool, so that an exit
// loses none. Close waits for delivery until its context ends or until
// nothing has been acknowledged for Config.RequestTimeout (the broker is
// away), whichever comes first. Delivery from the spool is at least
// once: a message sent shortly before a crash, and not yet known
// acknowledged, is sent again.
//
// With a spool, DeliveryTimeout does not apply: a message in memory is
// retried until it is delivered, or written to the spool by Close.
type SpoolConfig struct {
	// Dir is the spool directory, created if needed. Empty: no spool.
	// One application at a time may use it: a second one fails to start,
	// with ErrSpoolLocked.
	Dir string

	// MaxBytes bounds the spool's files on disk. Past it, a message the
	// spool would take is refused as the full buffer refuses it
	// (ErrBufferFull: sloghandler drops it and counts it). Default: 1 GiB.
	MaxBytes int64

	// Sync is when the spool's writes are synced to the disk.
	// Default: SpoolSyncInterval.
	Sync SpoolSync

	// SyncInterval is the interval of SpoolSyncInterval. Default: 1s.
	SyncInterval time.Duration
}

// SpoolSync says when the spool syncs its writes to the disk.
type SpoolSync int

const (
	// SpoolSyncInterval syncs every SpoolConfig.SyncInterval, when
	// anything was written.
	SpoolSyncInterval SpoolSync = iota
	// SpoolSyncBatch syncs each batch the spool's writer writes, before
	// the batch's callbacks get ErrSpooled.
	SpoolSyncBatch
	// SpoolSyncNever never syncs: the operating system writes back.
	SpoolSyncNever
)

// DefaultSpoolMaxBytes is SpoolConfig.MaxBytes's default.
const DefaultSpoolMaxBytes = 1 << 30

// SpoolStats counts what the spool did (Application.SpoolStats).
type SpoolStats struct {
	Dir       string
	Spooled   int64     // messages this process wrote to the spool: their callbacks got ErrSpooled
	Recovered int64     // messages on disk when the spool was opened, left by an earlier process
	Delivered int64     // messages sent from the spool and acknowledged
	Failed    int64     // messages sent from the spool that failed for good (too large, say): not in the topic, and gone from the spool
	OnDisk    int64     // messages on disk not acknowledged yet
	Bytes     int64     // size of the spool's files
	Oldest    time.Time // when the oldest message on disk was written to it; zero when none
	CutBytes  int64     // bytes cut from segments when the spool was opened: records torn by a crash
}

// spooler is the producer's spool: the intake (messages accepted for the
// spool, not written yet), the writer that writes it, and the reader that
// hands what is on disk back to the producer. It owns both goroutines;
// the producer's close stops them.
type spooler struct {
	p   *producer
	log *spool.Spool
	dir string

	mu           sync.Mutex
	intake       []*Record // accepted, not written; in order
	intakeBytes  int64     // their sizes on disk
	writing      bool      // the writer holds records taken from the intake
	writingBytes int64     // their sizes on disk
	late         []*Record // what Close gives up on, to be written before everything else

	writeWake, readWake chan struct{} // cap 1
	stopRead, stopWrite chan struct{}
	readDone, writeDone chan struct{}

	spooled, recovered, delivered, failed atomic.Int64
}

// openSpool opens c's directory for p. The error names the directory.
func openSpool(p *producer, c SpoolConfig) (*spooler, error) {
	opts := spool.Options{MaxBytes: c.MaxBytes, SyncInterval: c.SyncInterval}
	switch c.Sync {
	case SpoolSyncBatch:
		opts.Sync = spool.SyncBatch
	case SpoolSyncNever:
		opts.Sync = spool.SyncNever
	}
	log, err := spool.Open(c.Dir, opts)
	if err != nil {
		if errors.Is(err, spool.ErrLocked) {
			err = fmt.Errorf("%w: %w", ErrSpoolLocked, err)
		}
		return nil, fmt.Errorf("Spool.Dir %s: %w", c.Dir, err)
	}
	s := &spooler{
		p: p, log: log, dir: c.Dir,
		writeWake: make(chan struct{}, 1), readWake: make(chan struct{}, 1),
		stopRead: make(chan struct{}), stopWrite: make(chan struct{}),
		readDone: make(chan struct{}), writeDone: make(chan struct{}),
	}
	n, cut := log.Recovered()
	s.recovered.Store(n)
	if n > 0 {
		p.cfg.Logger.Info("kafkaesk: spool: sending what an earlier process left", "dir", c.Dir, "messages", n)
	}
	if cut > 0 {
		p.cfg.Logger.Warn("kafkaesk: spool: cut records torn by a crash", "dir", c.Dir, "bytes", cut)
	}
	return s, nil
}

// start starts the writer and the reader.
func (s *spooler) start() {
	go s.runWriter()
	go s.runReader()
}

// spoolable reports whether r may go to the spool: an asynchronous
// publish, whose caller does not wait for the outcome.
func spoolable(r *Record) bool {
	done := r.produce.done
	if r.trace.span != nil {
		done = r.trace.done
	}
	_, waits := done.(*waiter)
	return !waits
}

// The intake holds at most intakeMessages (or MaxBufferedMessages, if
// more) and intakeBytes: past that, the disk does not keep up, and a
// message is refused as a full buffer refuses it. The writer writes some
// 300 MB/s here, so that only a failing disk ever gets there.
const (
	intakeMessages = 1 << 16
	intakeBytes    = 64 << 20
)

// sizeOnDisk returns the size recs take in the spool's files.
func sizeOnDisk(recs []*Record) int64 {
	var size int64
	for _, r := range recs {
		e := entryOf(r)
		size += spool.EncodedSize(&e)
	}
	return size
}

// room returns an error wrapping ErrBufferFull when the intake or the
// disk has no room for recs, of size bytes on disk (sizeOnDisk). p.mu is
// held: only take, under it too, adds to the intake.
func (s *spooler) room(recs []*Record, size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.intake)+len(recs) > max(s.p.cfg.MaxBufferedMessages, intakeMessages) || s.intakeBytes+size > intakeBytes {
		return fmt.Errorf("%w: the spool's writer is %d messages (%d bytes) behind", ErrBufferFull, len(s.intake), s.intakeBytes)
	}
	if s.log.Size()+s.intakeBytes+s.writingBytes+size > s.maxBytes() {
		return fmt.Errorf("%w: spool %s is full (MaxBytes %d)", ErrBufferFull, s.dir, s.maxBytes())
	}
	return nil
}

// take adds recs, of size bytes on disk, to the intake. p.mu is held.
func (s *spooler) take(recs []*Record, size int64) {
	s.mu.Lock()
	for _, r := range recs {
		r.produce.spooled = true
	}
	s.intake = append(s.intake, recs...)
	s.intakeBytes += size
	s.mu.Unlock()
	wake(s.writeWake)
}

func (s *spooler) maxBytes() int64 {
	return cmp.Or(s.p.cfg.Spool.MaxBytes, DefaultSpoolMaxBytes)
}

// entryOf returns r as the spool keeps it.
func entryOf(r *Record) spool.Entry {
	e := spool.Entry{Topic: r.Topic, Key: r.Key, Value: r.Value, Time: r.Time}
	if len(r.Headers) > 0 {
		e.Headers = make([]spool.Header, len(r.Headers))
		for i, h := range r.Headers {
			e.Headers[i] = spool.Header(h)
		}
	}
	return e
}

// runWriter writes the intake to disk, batch by batch, until stopWrite is
// closed and the intake is empty.
func (s *spooler) runWriter() {
	defer close(s.writeDone)
	var entries []spool.Entry
	var spare []*Record // the intake's other slice: the two take turns
	for {
		s.mu.Lock()
		batch := s.intake
		s.writing, s.writingBytes = len(batch) > 0, s.intakeBytes
		if len(batch) > 0 {
			s.intake, s.intakeBytes, spare = spare, 0, nil
		}
		s.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-s.writeWake:
				continue
			case <-s.stopWrite:
				s.mu.Lock()
				empty := len(s.intake) == 0
				s.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		entries = entries[:0]
		for _, r := range batch {
			entries = append(entries, entryOf(r))
		}
		n, err := s.log.Append(entries)
		clear(entries)
		s.written(batch, n, err)
		clear(batch)
		spare = batch[:0]
		s.mu.Lock()
		s.writing, s.writingBytes = false, 0
		s.mu.Unlock()
		wake(s.readWake)
	}
}

// written settles the records of a batch: the first n are in the spool,
// the rest failed with err.
func (s *spooler) written(batch []*Record, n int, err error) {
	s.spooled.Add(int64(n))
	for _, r := range batch[:n] {
		s.p.settle(r, ErrSpooled)
	}
	if n < len(batch) {
		if errors.Is(err, spool.ErrFull) {
			err = fmt.Errorf("%w: spool %s is full (MaxBytes %d)", ErrBufferFull, s.dir, s.maxBytes())
		}
		s.p.cfg.Logger.Error("kafkaesk: spool: cannot write", "dir", s.dir, "messages", len(batch)-n, "err", err)
		for _, r := range batch[n:] {
			s.p.settle(r, fmt.Errorf("spool: %w", err))
		}
	}
}

// readBatch is the most messages the reader hands to the producer at
// once, and readBytes about the most bytes.
const (
	readBatch = 1000
	readBytes = 1 << 20
)

// runReader hands the spool's messages to the producer, oldest first, as
// its buffer has room, until stopRead is closed.
func (s *spooler) runReader() {
	defer close(s.readDone)
	var buf []spool.Spooled
	for {
		// One slot, waited for; then as many more as are free.
		select {
		case s.p.slots <- struct{}{}:
		case <-s.stopRead:
			return
		}
		n := 1
		for n < readBatch && s.p.tryAcquire(1) {
			n++
		}
		var err error
		buf, err = s.log.Next(buf, n, readBytes)
		for range n - len(buf) {
			<-s.p.slots
		}
		if err != nil {
			s.p.cfg.Logger.Error("kafkaesk: spool: cannot read", "dir", s.dir, "err", err)
		}
		if len(buf) > 0 {
			s.p.acceptFromSpool(recordsOf(buf))
			clear(buf)
			continue
		}
		if err == nil {
			s.p.stopSpoolingIfEmpty()
		}
		wait := time.NewTimer(time.Second) // a read error, or a wake-up missed: look again
		select {
		case <-s.readWake:
		case <-wait.C:
		case <-s.stopRead:
			wait.Stop()
			return
		}
		wait.Stop()
	}
}

// recordsOf returns the records of entries read back from the spool.
func recordsOf(entries []spool.Spooled) []*Record {
	recs := make([]Record, len(entries))
	out := make([]*Record, len(entries))
	for i := range entries {
		e, r := &entries[i], &recs[i]
		r.Topic, r.Key, r.Value, r.Time = e.Topic, e.Key, e.Value, e.Time
		if len(e.Headers) > 0 {
			r.Headers = make([]Header, len(e.Headers))
			for j, h := range e.Headers {
				r.Headers[j] = Header(h)
			}
		}
		r.produce.fromSpool, r.produce.ticket = true, e.Ticket
		out[i] = r
	}
	return out
}

// empty reports whether nothing is waiting in the intake or on disk to
// be read. p.mu is held.
func (s *spooler) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.intake) == 0 && !s.writing && s.log.Stats().Unread == 0
}

// settled records the outcome of a message read back from the spool:
// acknowledged, or failed for good; either way it leaves the spool.
func (s *spooler) settled(r *Record, err error) {
	if err == nil {
		s.delivered.Add(1)
	} else {
		s.failed.Add(1)
		s.p.cfg.Logger.Error("kafkaesk: spool: a message could not be delivered", "topic", r.Topic, "err", err)
	}
	s.log.Ack(r.produce.ticket)
}

// keep holds r, a message Close gave up on, for writeLate.
func (s *spooler) keep(r *Record) {
	s.mu.Lock()
	s.late = append(s.late, r)
	s.mu.Unlock()
}

// writeLate writes the messages Close gave up on before everything in
// the spool, in the order they were accepted (they are older than all of
// it), and settles them.
func (s *spooler) writeLate() {
	s.mu.Lock()
	late := s.late
	s.late = nil
	s.mu.Unlock()
	if len(late) == 0 {
		return
	}
	slices.SortFunc(late, func(a, b *Record) int { return cmp.Compare(a.produce.seq, b.produce.seq) })
	entries := make([]spool.Entry, len(late))
	for i, r := range late {
		entries[i] = entryOf(r)
	}
	n, err := s.log.Prepend(entries)
	s.spooled.Add(int64(n))
	for _, r := range late[:n] {
		s.p.finish(r, ErrSpooled)
	}
	for _, r := range late[n:] {
		s.p.finish(r, fmt.Errorf("%w: Close gave up, and the spool could not take it: %w", ErrClosed, err))
	}
}

// drain waits until the spool is empty (every message on disk delivered)
// or ctx ends. It returns how many are left.
func (s *spooler) drain(ctx context.Context) int64 {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		left := s.log.Stats().Entries
		if left == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return left
		case <-tick.C:
		}
	}
}

// close stops the reader, then (once the producer has written what it
// gave up on) the writer, and closes the spool.
func (s *spooler) stopReader() {
	close(s.stopRead)
	<-s.readDone
}

func (s *spooler) close() error {
	close(s.stopWrite)
	<-s.writeDone
	s.writeLate()
	s.log.SealTail()
	if err := s.log.Close(); err != nil {
		return fmt.Errorf("spool %s: %w", s.dir, err)
	}
	return nil
}

func (s *spooler) stats() SpoolStats {
	st := s.log.Stats()
	_, cut := s.log.Recovered()
	return SpoolStats{
		Dir:       s.dir,
		Spooled:   s.spooled.Load(),
		Recovered: s.recovered.Load(),
		Delivered: s.delivered.Load(),
		Failed:    s.failed.Load(),
		OnDisk:    st.Entries,
		Bytes:     st.Bytes,
		Oldest:    st.Oldest,
		CutBytes:  cut,
	}
}

// wake signals a cap-1 channel without blocking.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
