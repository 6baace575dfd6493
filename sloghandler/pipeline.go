package sloghandler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// Stats counts a handler's events. At every moment
// Enqueued = Published + Dropped + Failed + Unknown + Spooled + Queued.
type Stats struct {
	Enqueued  int64 // events handed to Handle (at or above the level)
	Published int64 // acknowledged by Kafka
	Spooled   int64 // written to the application's disk spool (core.SpoolConfig), which delivers them: see Application.SpoolStats
	Dropped   int64 // refused because the queue was full, or after Close
	Failed    int64 // not delivered, and not in the topic: too large, or given up on before a request carried it
	Unknown   int64 // given up on while a request carried it: may be in the topic (core.ErrOutcomeUnknown)
	Queued    int64 // accepted and outcome not known yet (in the producer's hands); at most QueueSize
}

// pipeline is what a root handler and every handler derived from it
// share: the bounded queue, the drop/block policy, the counters. Delivery
// (batching, topic creation, retries, the one report of each outcome) is
// the core application's producer's: Handle hands each event to it with
// TryProduce, and its promise settles the event here.
//
// Every accepted event holds one of QueueSize slots from Handle until its
// outcome is reported: the slots bound the handler's events in memory,
// wherever they are. The application's MaxBufferedMessages bounds
// everything its producer holds, this handler's events included.
type pipeline struct {
	app     *core.Application
	ownsApp bool
	topic   string
	opts    *Options

	// produce hands an event over without waiting: app.TryProduce.
	// The package's benchmarks stand in for the producer here.
	produce func(*core.Record, core.Promise) error
	promise core.Promise // settled, bound once so that Handle allocates no closure
	spilled core.Promise // spillSettled, bound once
	spills  bool         // the application has a spool: a full queue spills to it

	// free holds records of settled events, with their buffers, for
	// Handle to reuse: a sync.Pool, per P and without a lock, so that
	// the hand-over costs the caller a few nanoseconds; the garbage
	// collector empties it of what a quieter moment no longer needs.
	free sync.Pool
	// taken counts the QueueSize slots taken: one per event accepted and
	// not settled. An atomic counter rather than a channel's tokens:
	// taking and giving back cost no lock. Block's waiters wait on freed.
	taken   atomic.Int64
	waiters atomic.Int64  // callers waiting for a slot (Block)
	freed   chan struct{} // a slot was given back while someone waited; cap 1

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // the first Close's result

	enqueued, published, dropped, failed, unknown, spooled atomic.Int64
	lastWarn                                               atomic.Int64 // unix nanoseconds of the last warning

	registry prometheus.Registerer // where its metrics are; nil for none
	delivery prometheus.Observer   // delivery latency; nil without metrics
}

func newPipeline(app *core.Application, ownsApp bool, stream string, o *Options) *pipeline {
	p := &pipeline{
		app:     app,
		ownsApp: ownsApp,
		topic:   app.Topic(stream),
		opts:    o,
		freed:   make(chan struct{}, 1),
	}
	p.produce = app.TryProduce
	p.promise = p.settled
	p.spilled = p.spillSettled
	p.spills = app.SpoolStats().Dir != ""
	return p
}

// No record with a buffer larger than maxRecycled is kept for reuse, so
// that a burst of huge events does not pin its memory.
const maxRecycled = 4 << 10

// recycled returns the record of a settled event, with its buffer
// emptied, if there is one. Reuse spares the caller two allocations, and
// with them their share of the garbage collector's work.
func (p *pipeline) recycled() (*core.Record, bool) {
	rec, ok := p.free.Get().(*core.Record)
	return rec, ok
}

// recycle keeps rec for a later event. Nothing may use rec afterwards.
func (p *pipeline) recycle(rec *core.Record) {
	if cap(rec.Value) > maxRecycled {
		return
	}
	rec.Value = rec.Value[:0]
	// The producer may have set the time (franz-go writes it back): a
	// reused record must not carry the last event's timestamp to Kafka.
	rec.Time = time.Time{}
	p.free.Put(rec)
}

// newRecord returns a record for event, which the record owns from now.
func (p *pipeline) newRecord(event []byte) *core.Record {
	return &core.Record{Topic: p.topic, Key: p.opts.Key, Value: event}
}

// takeSlot takes one of QueueSize slots: at once, or under the Block
// policy within BlockTimeout. It returns the time left of the wait, for
// the producer's buffer.
func (p *pipeline) takeSlot() (ok bool, left time.Duration) {
	if p.tryTakeSlot() {
		return true, p.opts.BlockTimeout
	}
	if p.opts.WhenFull != Block {
		return false, 0
	}
	// Counted as a waiter before trying again, so that a slot given back
	// after the try finds a waiter and signals freed: no lost wake-up.
	p.waiters.Add(1)
	defer p.waiters.Add(-1)
	start := time.Now()
	t := time.NewTimer(p.opts.BlockTimeout)
	defer t.Stop()
	for !p.tryTakeSlot() {
		select {
		case <-p.freed:
		case <-t.C:
			return false, 0
		}
	}
	// freed holds one signal however many slots were given back: pass
	// it on while slots are free and others wait.
	p.wakeWaiter(p.taken.Load(), 2)
	return true, p.opts.BlockTimeout - time.Since(start)
}

// tryTakeSlot takes a slot if one is free.
func (p *pipeline) tryTakeSlot() bool {
	if p.taken.Add(1) <= int64(p.opts.QueueSize) {
		return true
	}
	p.giveSlot()
	return false
}

// giveSlot gives a slot back (a settled event's, or one tryTakeSlot
// took over the limit), and wakes a waiter if there is one and a slot is
// free: a waiter's own failed try does not wake it again.
func (p *pipeline) giveSlot() {
	p.wakeWaiter(p.taken.Add(-1), 1)
}

// wakeWaiter signals freed if a slot is free (taken is the count of
// slots taken) and at least minWaiters callers wait for one (a waiter
// that just took its slot counts itself).
func (p *pipeline) wakeWaiter(taken, minWaiters int64) {
	if taken < int64(p.opts.QueueSize) && p.waiters.Load() >= minWaiters {
		select {
		case p.freed <- struct{}{}:
		default: // one is signaled already
		}
	}
}

// send hands rec, for which a slot is held, to the producer. When the
// producer's buffer is full, the Block policy waits for room for the
// time left; otherwise the event is dropped.
func (p *pipeline) send(rec *core.Record, left time.Duration) error {
	p.enqueued.Add(1) // before the outcome can be counted: Queued never goes negative
	err := p.produce(rec, p.promise)
	if err == nil {
		return nil
	}
	if errors.Is(err, core.ErrBufferFull) && p.opts.WhenFull == Block && left > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), left)
		err = p.app.Produce(ctx, rec, p.promise)
		cancel()
		if err == nil {
			return nil
		}
	}
	p.giveSlot()
	p.recycle(rec)
	p.dropped.Add(1)
	if errors.Is(err, core.ErrBufferFull) {
		p.warn("Queue hit max log queue size, discarding message")
		return ErrDropped
	}
	// The application was closed under the handler.
	return fmt.Errorf("%w: %w", ErrClosed, err)
}

// spill hands rec, for which no slot is held (the queue is full), to the
// application's spool; it drops it when the spool has no room either.
func (p *pipeline) spill(rec *core.Record) error {
	p.enqueued.Add(1)
	err := p.app.ProduceToSpool(rec, p.spilled)
	if err == nil {
		return nil
	}
	p.recycle(rec)
	p.dropped.Add(1)
	if errors.Is(err, core.ErrBufferFull) {
		p.warn("Queue hit max log queue size, and the spool is full: discarding message (%v)", err)
		return ErrDropped
	}
	return fmt.Errorf("%w: %w", ErrClosed, err)
}

// spillSettled is settled for an event spill handed over: it held no
// slot.
func (p *pipeline) spillSettled(rec *core.Record, err error) {
	p.count(rec, err)
	p.recycle(rec)
}

// settled is the producer's report of one event's outcome.
func (p *pipeline) settled(rec *core.Record, err error) {
	p.count(rec, err)
	p.giveSlot()
	p.recycle(rec)
}

// count counts the outcome of an event.
func (p *pipeline) count(rec *core.Record, err error) {
	p.observeDelivery(rec.Time) // the hand-over: core stamps it when metrics are on
	switch {
	case err == nil:
		p.published.Add(1)
	case err == core.ErrSpooled:
		p.spooled.Add(1)
	case errors.Is(err, core.ErrOutcomeUnknown):
		p.unknown.Add(1)
		p.warn("an event of %d bytes may not have been delivered: %v", len(rec.Value), err)
	default:
		p.failed.Add(1)
		p.warn("an event of %d bytes could not be delivered: %v", len(rec.Value), err)
	}
}

// fullAndDropping reports whether an event would be dropped now: every
// slot is taken and the policy drops. A racy read: an event may be
// dropped although a slot freed meanwhile, as it may when it arrives a
// moment earlier.
func (p *pipeline) fullAndDropping() bool {
	return p.opts.WhenFull == DropNewest && !p.spills && p.taken.Load() >= int64(p.opts.QueueSize) && !p.closed.Load()
}

// drop counts and reports an event refused because the queue is full.
func (p *pipeline) drop() error {
	p.enqueued.Add(1)
	p.dropped.Add(1)
	p.warn("Queue hit max log queue size, discarding message")
	return ErrDropped
}

// refuseClosed counts an event handed over after Close.
func (p *pipeline) refuseClosed() error {
	p.enqueued.Add(1)
	p.dropped.Add(1)
	return ErrClosed
}

// warn writes a warning to Options.Warnings, at most one every
// WarnInterval, as kafkaesk does.
func (p *pipeline) warn(format string, args ...any) {
	now := time.Now().UnixNano()
	last := p.lastWarn.Load()
	if last != 0 && now-last < int64(WarnInterval) || !p.lastWarn.CompareAndSwap(last, now) {
		return
	}
	fmt.Fprintf(p.opts.Warnings, "kafkaesk: sloghandler: "+format+"\n", args...)
}

func (p *pipeline) stats() Stats {
	// Read what finished before what started, so that Queued is never
	// negative: every event is counted in Enqueued before anything else.
	s := Stats{Published: p.published.Load(), Dropped: p.dropped.Load(), Failed: p.failed.Load(), Unknown: p.unknown.Load(), Spooled: p.spooled.Load()}
	s.Enqueued = p.enqueued.Load()
	s.Queued = s.Enqueued - s.Published - s.Dropped - s.Failed - s.Unknown - s.Spooled
	return s
}

// flush waits for the application's producer to settle everything
// accepted before the call: this handler's events among them.
func (p *pipeline) flush(ctx context.Context) error {
	if err := p.app.Flush(ctx); err != nil {
		return fmt.Errorf("sloghandler: flush: %d events not delivered yet: %w", p.stats().Queued, err)
	}
	return nil
}

func (p *pipeline) close(ctx context.Context) error {
	first := false
	p.closeOnce.Do(func() {
		first = true
		p.closed.Store(true)
		defer p.unregisterMetrics()
		var errs []error
		flushErr := p.app.Flush(ctx)
		before := p.stats()
		if p.ownsApp {
			// The application gives up on what is left: every event's
			// outcome is reported, as failed or unknown, before it
			// returns.
			if err := p.app.Close(ctx); err != nil {
				errs = append(errs, err)
			}
			s := p.stats()
			if lost, unknown := s.Failed+s.Unknown-before.Failed-before.Unknown, s.Unknown-before.Unknown; flushErr != nil && lost > 0 {
				errs = append(errs, fmt.Errorf("sloghandler: close: %d events could not be delivered to %s (%d of them may be in the topic): %w",
					lost, p.topic, unknown, ctx.Err()))
			}
		} else if flushErr != nil {
			// The events stay with the application, which reports their
			// outcome (and Stats counts it) when it delivers them or
			// gives up on them.
			errs = append(errs, fmt.Errorf("sloghandler: close: %d events not delivered to %s yet, left with the application: %w",
				p.stats().Queued, p.topic, ctx.Err()))
		}
		p.closeErr = errors.Join(errs...)
	})
	if !first {
		return nil
	}
	return p.closeErr
}
