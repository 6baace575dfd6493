package sloghandler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// Stats counts a handler's events. At every moment
// Enqueued = Published + Dropped + Failed + Queued.
type Stats struct {
	Enqueued  int64 // events handed to Handle (at or above the level)
	Published int64 // acknowledged by Kafka
	Dropped   int64 // refused because the queue was full, or after Close
	Failed    int64 // given up on: Close's deadline passed before delivery
	Queued    int64 // accepted and not yet published: the queue depth
}

// pipeline is the queue and its worker, shared by a root handler and every
// handler derived from it. The worker goroutine is owned by the pipeline:
// started by newHandler, stopped by close.
type pipeline struct {
	app     *core.Application
	ownsApp bool
	stream  string
	opts    *Options

	queue chan []byte   // encoded events; cap QueueSize; never closed
	stop  chan struct{} // closed by close: the worker drains and exits
	abort chan struct{} // closed when close's deadline passed: give up
	done  chan struct{} // closed by the worker when it exits

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // the first Close's result

	enqueued, published, dropped, failed atomic.Int64
	lastWarn                             atomic.Int64 // unix nanoseconds of the last warning
}

func newPipeline(app *core.Application, ownsApp bool, stream string, o *Options) *pipeline {
	return &pipeline{
		app:     app,
		ownsApp: ownsApp,
		stream:  stream,
		opts:    o,
		queue:   make(chan []byte, o.QueueSize),
		stop:    make(chan struct{}),
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (p *pipeline) enqueue(event []byte) error {
	p.enqueued.Add(1)
	if p.closed.Load() {
		p.dropped.Add(1)
		return ErrClosed
	}
	select {
	case p.queue <- event:
		return nil
	default:
	}
	if p.opts.WhenFull == Block {
		t := time.NewTimer(p.opts.BlockTimeout)
		defer t.Stop()
		select {
		case p.queue <- event:
			return nil
		case <-t.C:
		}
	}
	p.enqueued.Add(-1) // drop counts it
	return p.drop()
}

// fullAndDropping reports whether an event would be dropped now: the
// queue is full and the policy drops. A racy read of the queue's length:
// an event may be dropped although a slot freed meanwhile, as it may
// when it arrives a moment earlier.
func (p *pipeline) fullAndDropping() bool {
	return p.opts.WhenFull == DropNewest && len(p.queue) == cap(p.queue) && !p.closed.Load()
}

// drop counts and reports an event refused because the queue is full.
func (p *pipeline) drop() error {
	p.enqueued.Add(1)
	p.dropped.Add(1)
	p.warn("Queue hit max log queue size, discarding message")
	return ErrDropped
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
	s := Stats{Published: p.published.Load(), Dropped: p.dropped.Load(), Failed: p.failed.Load()}
	s.Enqueued = p.enqueued.Load()
	s.Queued = s.Enqueued - s.Published - s.Dropped - s.Failed
	return s
}

// run is the worker: it publishes the queue in batches, in order, until
// close stops it and the queue is empty.
func (p *pipeline) run() {
	defer close(p.done)
	batch := make([][]byte, 0, p.opts.BatchSize)
	for {
		select {
		case ev := <-p.queue:
			batch = append(batch, ev)
		case <-p.stop:
			select {
			case ev := <-p.queue:
				batch = append(batch, ev)
			default:
				return // stopped and drained
			}
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case ev := <-p.queue:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		p.publish(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// publish delivers batch, retrying what fails with backoff until it is
// all acknowledged or close gives up (then the rest counts as failed).
func (p *pipeline) publish(batch [][]byte) {
	pending := batch
	backoff := 100 * time.Millisecond
	for {
		failed, err := p.send(pending)
		if len(failed) == 0 {
			return
		}
		p.warn("publishing to %s failed, retrying (%d events): %v", p.app.Topic(p.stream), len(failed), err)
		pending = failed
		select {
		case <-time.After(backoff):
		case <-p.abort:
			p.failed.Add(int64(len(pending)))
			return
		}
		backoff = min(2*backoff, p.opts.MaxBackoff)
	}
}

// send publishes events once and waits for every acknowledgement, or for
// close's abort. It returns the events that failed or were not
// acknowledged, in order.
func (p *pipeline) send(events [][]byte) (failed [][]byte, firstErr error) {
	ctx := context.Background()
	if err := p.app.EnsureStream(ctx, p.stream, 0); err != nil {
		return events, err
	}
	const (
		pending = iota
		acked
		refused
	)
	var (
		mu      sync.Mutex
		state   = make([]int8, len(events))
		errs    = make([]error, len(events))
		settled bool // abandoned by close: late acknowledgements change nothing
		wg      sync.WaitGroup
	)
	settle := func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if settled {
			return
		}
		if err == nil {
			state[i] = acked
			p.published.Add(1)
		} else {
			state[i], errs[i] = refused, err
		}
	}
	for i, ev := range events {
		wg.Add(1)
		err := p.app.RawPublishAsync(ctx, p.stream, ev, func(err error) {
			settle(i, err)
			wg.Done()
		}, core.Key(p.opts.Key))
		if err != nil {
			settle(i, err)
			wg.Done()
		}
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-p.abort:
	}
	mu.Lock()
	defer mu.Unlock()
	settled = true
	for i := range events {
		if state[i] != acked {
			failed = append(failed, events[i])
			if firstErr == nil {
				firstErr = errs[i]
			}
		}
	}
	if firstErr == nil && len(failed) > 0 {
		firstErr = fmt.Errorf("%d events not acknowledged before close gave up", len(failed))
	}
	return failed, firstErr
}

func (p *pipeline) flush(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		s := p.stats()
		if s.Queued == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("sloghandler: flush: %d events still queued: %w", s.Queued, ctx.Err())
		}
	}
}

func (p *pipeline) close(ctx context.Context) error {
	first := false
	p.closeOnce.Do(func() {
		first = true
		p.closed.Store(true)
		close(p.stop)
		before := p.failed.Load()
		select {
		case <-p.done:
		case <-ctx.Done():
			close(p.abort)
			<-p.done
		}
		// Events that slipped in while the worker was stopping.
		for {
			select {
			case <-p.queue:
				p.failed.Add(1)
				continue
			default:
			}
			break
		}
		var errs []error
		if n := p.failed.Load() - before; n > 0 {
			errs = append(errs, fmt.Errorf("sloghandler: close: %d events could not be delivered to %s: %w", n, p.app.Topic(p.stream), ctx.Err()))
		}
		if p.ownsApp {
			if err := p.app.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	if !first {
		return nil
	}
	return p.closeErr
}
