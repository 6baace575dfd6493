package sloghandler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// Stats counts a handler's events. At every moment
// Enqueued = Published + Dropped + Failed + Queued.
type Stats struct {
	Enqueued  int64 // events handed to Handle (at or above the level)
	Published int64 // acknowledged by Kafka
	Dropped   int64 // refused because the queue was full, or after Close
	Failed    int64 // given up on: larger than a producer batch, or not delivered before Close's deadline
	Queued    int64 // accepted and not yet acknowledged (waiting, in flight or to be retried); at most QueueSize
}

// pipeline is the queue and its worker, shared by a root handler and every
// handler derived from it. The worker goroutine is owned by the pipeline:
// started by newHandler, stopped by close.
//
// Every accepted event holds one of QueueSize slots from Handle until
// Kafka acknowledges it (or close gives up on it): the slots bound the
// events in memory, wherever they are. The worker hands events to the
// producer as they come, in batches, without waiting for earlier batches'
// acknowledgements; the producer's completions release the slots, or put
// failed events back for the worker to publish again.
type pipeline struct {
	app        *core.Application
	ownsApp    bool
	stream     string
	opts       *Options
	batchBytes int64 // the producer's largest batch: a larger event can never be sent

	free    chan []byte   // buffers of acknowledged events, for Handle to encode into; cap min(QueueSize, 2 BatchSize)
	slots   chan struct{} // one token per event accepted and not settled; cap QueueSize
	queue   chan []byte   // accepted events not yet handed to the producer; cap QueueSize, never closed
	retry   chan struct{} // cap 1: failed events wait in retries or refused
	deliver core.BatchDelivery

	ctx    context.Context // the worker's; canceled by close when it stops the worker
	cancel context.CancelFunc
	done   chan struct{} // closed by the worker when it exits

	mu       sync.Mutex
	inFlight int64    // handed to the producer, outcome not known yet
	retries  [][]byte // failed, to be published again, in the order they failed
	refused  [][]byte // in a batch the broker refused as too large: to be sent one by one
	lastErr  error    // the latest failure, for the warning
	settled  bool     // close gave up: late outcomes change nothing

	failStreak atomic.Int32 // retry rounds since the last acknowledgement: the backoff

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // the first Close's result

	enqueued, published, dropped, failed atomic.Int64
	lastWarn                             atomic.Int64 // unix nanoseconds of the last warning
}

func newPipeline(app *core.Application, ownsApp bool, stream string, o *Options) *pipeline {
	p := &pipeline{
		app:        app,
		ownsApp:    ownsApp,
		stream:     stream,
		opts:       o,
		batchBytes: app.Config().BatchBytes,
		free:       make(chan []byte, min(o.QueueSize, 2*o.BatchSize)),
		slots:      make(chan struct{}, o.QueueSize),
		queue:      make(chan []byte, o.QueueSize),
		retry:      make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	p.deliver = p.delivered
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// At most two batches of buffers are kept for reuse, none larger than
// maxRecycled, so that a burst of huge events does not pin its memory for
// good.
const maxRecycled = 4 << 10

// recycled returns an empty buffer of an acknowledged event (the producer
// is done with it once it reports the outcome), if there is one.
// Recycling spares the caller an allocation, and with it its share of the
// garbage collector's work.
func (p *pipeline) recycled() ([]byte, bool) {
	select {
	case b := <-p.free:
		return b, true
	default:
		return nil, false
	}
}

// recycle keeps event's buffer for a later event. Nothing may use event
// afterwards.
func (p *pipeline) recycle(event []byte) {
	if cap(event) > maxRecycled {
		return
	}
	select {
	case p.free <- event[:0]:
	default:
	}
}

// enqueue accepts event if a slot is free (or frees up within
// BlockTimeout under the Block policy), else drops it.
func (p *pipeline) enqueue(event []byte) error {
	if p.closed.Load() {
		p.enqueued.Add(1)
		p.dropped.Add(1)
		return ErrClosed
	}
	select {
	case p.slots <- struct{}{}:
	default:
		if p.opts.WhenFull != Block || !p.waitForSlot() {
			p.recycle(event)
			return p.drop()
		}
	}
	p.enqueued.Add(1) // before the worker can see it: Queued never goes negative
	p.queue <- event  // never blocks: the queue holds fewer events than there are slots taken
	return nil
}

func (p *pipeline) waitForSlot() bool {
	t := time.NewTimer(p.opts.BlockTimeout)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// fullAndDropping reports whether an event would be dropped now: every
// slot is taken and the policy drops. A racy read: an event may be
// dropped although a slot freed meanwhile, as it may when it arrives a
// moment earlier.
func (p *pipeline) fullAndDropping() bool {
	return p.opts.WhenFull == DropNewest && len(p.slots) == cap(p.slots) && !p.closed.Load()
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

// run is the worker: it hands the queue to the producer in batches of up
// to BatchSize, and publishes failed events again (before newer ones)
// after a backoff, until close cancels its context.
func (p *pipeline) run() {
	defer close(p.done)
	batch := make([][]byte, 0, p.opts.BatchSize)
	for {
		select {
		case <-p.retry:
			if !p.retryFailed() {
				return
			}
			continue
		default:
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.retry:
			if !p.retryFailed() {
				return
			}
			continue
		case ev := <-p.queue:
			batch = append(batch, ev)
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
		p.send(batch)
		clear(batch) // the producer holds its own references
		batch = batch[:0]
	}
}

// retryFailed sends the events of refused batches one by one, then waits
// out the backoff and publishes the failed events again. It returns false
// when close stopped the worker meanwhile.
func (p *pipeline) retryFailed() bool {
	if !p.isolateRefused() {
		return false
	}
	p.mu.Lock()
	n, err := len(p.retries), p.lastErr
	p.mu.Unlock()
	if n == 0 {
		return true
	}
	streak := p.failStreak.Add(1)
	backoff := min(100*time.Millisecond<<min(streak-1, 16), p.opts.MaxBackoff)
	p.warn("publishing to %s failed, retrying (%d events): %v", p.app.Topic(p.stream), n, err)
	t := time.NewTimer(backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.ctx.Done():
		return false
	}
	p.mu.Lock()
	events := p.retries
	p.retries = nil
	p.mu.Unlock()
	for len(events) > 0 {
		n := min(len(events), p.opts.BatchSize)
		p.send(events[:n])
		events = events[n:]
	}
	return true
}

// isolateRefused publishes each event of a batch the broker refused as
// too large on its own, waiting for each outcome (nothing else goes out
// meanwhile, so it is not batched again with the culprit): the culprit
// is refused again and given up on, and the others are delivered. It
// returns false when close stopped the worker meanwhile.
func (p *pipeline) isolateRefused() bool {
	for {
		p.mu.Lock()
		if len(p.refused) == 0 {
			p.mu.Unlock()
			return true
		}
		ev := p.refused[0]
		p.refused = p.refused[1:]
		p.inFlight++
		p.mu.Unlock()
		err := p.app.RawPublish(p.ctx, p.stream, ev, core.Key(p.opts.Key))
		p.mu.Lock()
		if p.settled {
			p.mu.Unlock()
			return false
		}
		p.inFlight--
		switch {
		case err == nil:
			p.published.Add(1)
			<-p.slots
		case errors.Is(err, kafka.MessageSizeTooLarge):
			p.giveUp(1)
			p.warn("publishing to %s: the broker refused an event of %d bytes as too large: not sent: %v", p.app.Topic(p.stream), len(ev), err)
		default:
			p.failedNow([][]byte{ev}, err)
		}
		p.mu.Unlock()
		if p.ctx.Err() != nil {
			return false
		}
	}
}

// send hands events to the producer. What cannot be handed over is put
// back for a retry; an event larger than a producer batch fails at once,
// as it always would.
func (p *pipeline) send(events [][]byte) {
	if p.tooLarge(events) {
		events = p.dropTooLarge(events)
	}
	if len(events) == 0 {
		return
	}
	p.mu.Lock()
	p.inFlight += int64(len(events))
	p.mu.Unlock()
	err := p.app.EnsureStream(p.ctx, p.stream, 0)
	if err == nil {
		err = p.app.RawPublishBatchAsync(p.ctx, p.stream, events, p.deliver, core.Key(p.opts.Key))
	}
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight -= int64(len(events))
	if !p.settled {
		p.failedNow(events, err)
	}
}

func (p *pipeline) tooLarge(events [][]byte) bool {
	for _, ev := range events {
		if int64(len(ev)+len(p.opts.Key)) > p.batchBytes {
			return true
		}
	}
	return false
}

// dropTooLarge gives up on the events that no batch can hold and returns
// the others, in a new slice.
func (p *pipeline) dropTooLarge(events [][]byte) [][]byte {
	kept := make([][]byte, 0, len(events))
	for _, ev := range events {
		if int64(len(ev)+len(p.opts.Key)) <= p.batchBytes {
			kept = append(kept, ev)
			continue
		}
		p.giveUp(1)
		p.warn("an event of %d bytes is larger than the producer's batch limit (BatchBytes %d): not sent", len(ev), p.batchBytes)
	}
	return kept
}

// delivered is the producer's completion of one event.
func (p *pipeline) delivered(event []byte, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.settled {
		return
	}
	p.inFlight--
	if errors.Is(err, kafka.MessageSizeTooLarge) {
		// The broker refused the batch this event was in: some event of
		// it (maybe not this one) it will never take. Each is sent again
		// on its own, so that only that one is lost.
		p.refused = append(p.refused, event)
		p.wake()
		return
	}
	if err != nil {
		p.failedNow([][]byte{event}, err)
		return
	}
	p.published.Add(1)
	p.failStreak.Store(0)
	<-p.slots
	p.recycle(event)
}

// failedNow keeps events for a retry and wakes the worker. p.mu is held.
func (p *pipeline) failedNow(events [][]byte, err error) {
	p.retries = append(p.retries, events...)
	p.lastErr = err
	p.wake()
}

// wake tells the worker that events wait in retries or refused.
func (p *pipeline) wake() {
	select {
	case p.retry <- struct{}{}:
	default:
	}
}

// giveUp counts n accepted events as failed and frees their slots.
func (p *pipeline) giveUp(n int64) {
	p.failed.Add(n)
	for range n {
		<-p.slots
	}
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
		_ = p.flush(ctx) // what it could not deliver is counted below
		p.cancel()
		<-p.done
		// Whatever is left is given up on: in flight, to be retried, or
		// still queued (some may have slipped in while the worker stopped).
		p.mu.Lock()
		p.settled = true
		left := p.inFlight + int64(len(p.retries)+len(p.refused))
		p.retries, p.refused = nil, nil
		p.mu.Unlock()
		for drained := false; !drained; {
			select {
			case <-p.queue:
				left++
			default:
				drained = true
			}
		}
		p.failed.Add(left)
		var errs []error
		if left > 0 {
			cause := ctx.Err()
			if cause == nil { // slipped in as the worker stopped
				cause = ErrClosed
			}
			errs = append(errs, fmt.Errorf("sloghandler: close: %d events could not be delivered to %s: %w", left, p.app.Topic(p.stream), cause))
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
