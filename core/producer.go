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

// producer owns delivery for every publishing call of an Application:
// the bounded buffer, topic creation, retries with backoff, the one
// report of each message's outcome, and Flush and Close. It hands
// messages to a produce client (kafka-go's async Writer in writer.go,
// or franz-go's producer in franz_produce.go) from one goroutine, the
// sender, so that no caller ever waits on the network.
//
// A message is in exactly one place until it is settled: the inbox
// (accepted, not handed over), the client (handed over, outcome not
// known), or retries (failed retriably, waiting for the backoff).
// Retries go out before anything newer, in the order the messages were
// accepted, and only once nothing is left in the client, so that
// messages of one key stay in order across retries; except, on
// kafka-go, that the batches the Writer had already queued behind a
// failed one are written before its retry when the broker is back by
// then (kafka-go has no idempotent producer to hold them). franz-go's
// client retries inside, idempotently and in order, and reports only
// final outcomes: retries here are then only for what it never got.
type producer struct {
	cfg     *Config
	doctor  *doctor // nil in some tests: every retriable failure is retried
	client  produceClient
	metrics *metrics      // nil: nothing measured
	slots   chan struct{} // one token per message in memory and not settled; cap MaxBufferedMessages
	spool   *spooler      // nil: no spool

	mu       sync.Mutex
	inbox    []*Record // accepted, in order; swapped with spare by the sender
	spare    []*Record
	retries  []*Record // failed retriably, to be sent again after retryAt
	retryAt  time.Time
	streak   int    // retry rounds since the last acknowledgement
	inClient int    // handed to the client, outcome not known
	seq      uint64 // accept order
	epoch    *epoch // the current Flush epoch
	closing  bool   // Close was called: accept nothing more
	gaveUp   bool   // Close's deadline passed: every outcome is final
	spooling bool   // the spool holds messages: spoolable ones go behind them

	wake chan struct{} // cap 1: the sender has something to look at
	stop chan struct{} // closed to stop the sender
	done chan struct{} // closed when the sender has returned

	abandoned atomic.Bool // giveUp began: gaveUp, for settle

	accepted, delivered, failed, unknown, retried atomic.Int64
	bufferedBytes                                 atomic.Int64 // keys and values not settled; with metrics only
}

// produceState is the producer's bookkeeping of one message, kept in the
// Record so that producing allocates nothing of its own.
type produceState struct {
	done      any           // Promise, Delivery, BatchDelivery or *waiter; nil for none
	epoch     *epoch        // the Flush epoch it was accepted in
	seq       uint64        // accept order
	deadline  time.Time     // not retried after; zero for never
	retention time.Duration // of its topic, should the producer create it
	settled   uint32        // 1 once its outcome is reported; atomic
	written   bool          // an attempt may have reached the log; guarded by producer.mu
	lastErr   error         // the last attempt's; guarded by producer.mu
	accepted  time.Time     // when it was accepted; with metrics only
	spooled   bool          // taken by the spool's intake, holding no slot
	fromSpool bool          // read back from the spool: no callback, acknowledged there
	ticket    spool.Ticket  // of a message read back from the spool
}

// Promise is called once with a record handed to Produce or TryProduce
// and its outcome: nil when the broker acknowledged it (the record's
// Partition and Offset then say where it was written), else a
// *PublishError whose cause tells, with errors.Is, ErrMessageTooLarge,
// ErrDeliveryTimeout, ErrOutcomeUnknown or a broker's error. It runs on
// one of the producer's goroutines and must not block; the record is the
// caller's again once it is called.
type Promise func(rec *Record, err error)

// Delivery is called once with the outcome of an asynchronous publish,
// as Promise is, without the record.
type Delivery func(err error)

// BatchDelivery is called once per message of RawPublishBatchAsync with
// the message's value and its outcome, as Promise is.
type BatchDelivery func(value []byte, err error)

// waiter turns an outcome into a result for a blocking Publish.
type waiter struct{ done chan error }

var waiterPool = sync.Pool{New: func() any { return &waiter{done: make(chan error, 1)} }}

// ProducerStats counts what an application's producer did with the
// messages handed to it. At every read
// Accepted = Delivered + Failed + Unknown + Spooled + Buffered.
// Messages read back from the spool are counted by SpoolStats, not here.
type ProducerStats struct {
	Accepted  int64 // handed to the producer
	Delivered int64 // acknowledged by the broker
	Failed    int64 // reported failed: not in the topic
	Unknown   int64 // reported with ErrOutcomeUnknown: may be in the topic
	Spooled   int64 // reported with ErrSpooled: written to the spool (see SpoolStats)
	Buffered  int64 // outcome not reported yet: in memory (at most Config.MaxBufferedMessages, and as many in the spool's intake)
	Retried   int64 // sends of a message again after a retriable failure
}

// newProducer starts the producer of an application, on a produce
// client of d.
func newProducer(cfg *Config, d driver, topics *topicManager, m *metrics, doc *doctor) (*producer, error) {
	p := &producer{
		cfg:     cfg,
		doctor:  doc,
		metrics: m,
		slots:   make(chan struct{}, cfg.MaxBufferedMessages),
		epoch:   newEpoch(1),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if cfg.Spool.Dir != "" {
		s, err := openSpool(p, cfg.Spool)
		if err != nil {
			return nil, err
		}
		p.spool = s
	}
	client, err := d.newProduceClient(topics, p.completed)
	if err != nil {
		if p.spool != nil {
			p.spool.log.Close()
		}
		return nil, err
	}
	p.client = client
	if p.spool != nil {
		// What an earlier process left goes first: new messages follow it.
		p.spooling = p.spool.log.Stats().Entries > 0
		p.spool.start()
	}
	go p.run()
	return p, nil
}

func (p *producer) stats() ProducerStats {
	// Outcomes before acceptances, so that Buffered is never negative.
	s := ProducerStats{Delivered: p.delivered.Load(), Failed: p.failed.Load(), Unknown: p.unknown.Load(), Retried: p.retried.Load()}
	if p.spool != nil {
		s.Spooled = p.spool.spooled.Load()
	}
	s.Accepted = p.accepted.Load()
	s.Buffered = s.Accepted - s.Delivered - s.Failed - s.Unknown - s.Spooled
	return s
}

// tryAcquire takes n buffer slots if they are free now.
func (p *producer) tryAcquire(n int) bool {
	for taken := range n {
		select {
		case p.slots <- struct{}{}:
		default:
			for range taken {
				<-p.slots
			}
			return false
		}
	}
	return true
}

// acquire takes n slots, waiting for room until ctx ends or, when ctx has
// no deadline, for at most RequestTimeout. On an error it holds none.
func (p *producer) acquire(ctx context.Context, n int) error {
	if n > cap(p.slots) {
		return fmt.Errorf("%w: %d messages at once is more than MaxBufferedMessages %d", ErrBufferFull, n, cap(p.slots))
	}
	if p.tryAcquire(n) {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.RequestTimeout)
		defer cancel()
	}
	for taken := range n {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			for range taken {
				<-p.slots
			}
			return fmt.Errorf("%w: waited for room (%d messages unacknowledged): %w", ErrBufferFull, cap(p.slots), ctx.Err())
		}
	}
	return nil
}

// accept takes recs, for which slots are held, into the inbox. It fails
// with ErrClosed (giving the slots back) once Close was called. now is
// the time of the hand-over, read only with metrics (zero otherwise).
func (p *producer) accept(now time.Time, recs ...*Record) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		for range recs {
			<-p.slots
		}
		return ErrClosed
	}
	wasEmpty := p.acceptLocked(now, recs)
	p.mu.Unlock()
	p.accepted.Add(int64(len(recs)))
	if wasEmpty {
		// Otherwise the sender was woken when the inbox filled, and has
		// not emptied it since: it takes these with the others.
		p.signal()
	}
	return nil
}

// acceptOrSpool is accept for spoolable records, with a spool, for which
// no slots are held: it never waits. They go to the inbox when slots are
// free and the spool holds nothing older; else to the spool's intake;
// else it fails with ErrBufferFull.
func (p *producer) acceptOrSpool(now time.Time, recs ...*Record) error {
	return p.acceptOrSpoolIf(now, false, recs)
}

// spoolNow is acceptOrSpool that goes to the spool whatever room the
// buffer has.
func (p *producer) spoolNow(now time.Time, recs ...*Record) error {
	return p.acceptOrSpoolIf(now, true, recs)
}

func (p *producer) acceptOrSpoolIf(now time.Time, force bool, recs []*Record) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	if force {
		p.spooling = true
	}
	if !p.spooling {
		if p.tryAcquire(len(recs)) {
			wasEmpty := p.acceptLocked(now, recs)
			p.mu.Unlock()
			p.accepted.Add(int64(len(recs)))
			if wasEmpty {
				p.signal()
			}
			return nil
		}
		p.spooling = true
	}
	size := sizeOnDisk(recs)
	if err := p.spool.room(recs, size); err != nil {
		p.mu.Unlock()
		return err
	}
	p.stamp(now, recs)
	p.spool.take(recs, size)
	p.mu.Unlock()
	p.accepted.Add(int64(len(recs)))
	return nil
}

// acceptFromSpool takes recs, read back from the spool, for which slots
// are held, into the inbox. They count in no Flush epoch and in none of
// ProducerStats: the spool counts them.
func (p *producer) acceptFromSpool(recs []*Record) {
	p.mu.Lock()
	wasEmpty := len(p.inbox) == 0
	for _, r := range recs {
		p.seq++
		r.produce.seq = p.seq
	}
	if p.metrics != nil {
		size := 0
		for _, r := range recs {
			size += len(r.Key) + len(r.Value)
		}
		p.bufferedBytes.Add(int64(size))
	}
	p.inbox = append(p.inbox, recs...)
	p.mu.Unlock()
	if wasEmpty {
		p.signal()
	}
}

// stopSpoolingIfEmpty lets spoolable records go to the inbox again, once
// everything the spool held is in the producer's hands: they then follow
// it.
func (p *producer) stopSpoolingIfEmpty() {
	p.mu.Lock()
	stopped := p.spooling && p.spool.empty()
	if stopped {
		p.spooling = false
	}
	p.mu.Unlock()
	if stopped {
		p.spool.log.SealTail() // its file goes once its messages are acknowledged
	}
}

// acceptLocked puts recs in the current Flush epoch and at the end of the
// inbox. p.mu is held. It reports whether the inbox was empty.
func (p *producer) acceptLocked(now time.Time, recs []*Record) (wasEmpty bool) {
	p.stamp(now, recs)
	wasEmpty = len(p.inbox) == 0
	p.inbox = append(p.inbox, recs...)
	return wasEmpty
}

// stamp gives recs their accept order, Flush epoch, deadline and, with
// metrics, accept time. p.mu is held.
func (p *producer) stamp(now time.Time, recs []*Record) {
	var deadline time.Time
	if p.cfg.DeliveryTimeout > 0 && p.spool == nil {
		deadline = time.Now().Add(p.cfg.DeliveryTimeout)
	}
	e := p.epoch
	e.n.Add(int64(len(recs)))
	if p.metrics != nil {
		// The caller's one clock read serves all of recs: for the
		// latencies, and as the timestamp of those that have none (the
		// clients would give them one at the hand-over anyway).
		size := 0
		for _, r := range recs {
			r.produce.accepted = now
			if r.Time.IsZero() {
				r.Time = now
			}
			size += len(r.Key) + len(r.Value)
		}
		p.bufferedBytes.Add(int64(size))
	}
	for _, r := range recs {
		p.seq++
		r.produce.epoch, r.produce.seq, r.produce.deadline = e, p.seq, deadline
		atomic.StoreUint32(&r.produce.settled, 0)
		r.produce.written, r.produce.lastErr, r.produce.spooled = false, nil, false
	}
}

// signal wakes the sender.
func (p *producer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run is the sender: it hands the inbox, and retries when due, to the
// client until stop is closed.
func (p *producer) run() {
	defer close(p.done)
	var timer *time.Timer
	for {
		recs, expired, wait := p.next()
		for _, r := range expired {
			p.settle(r, r.produce.lastErr)
		}
		if recs != nil {
			p.client.send(recs)
			continue
		}
		var due <-chan time.Time
		if wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			due = timer.C
		}
		select {
		case <-p.stop:
			return
		case <-p.wake:
		case <-due:
		}
	}
}

// maxHandOver bounds the messages of one hand-over to the client, so
// that the first of a large inbox do not wait for the last to be sorted
// into batches.
const maxHandOver = 4096

// next returns what the sender hands over now: retries once they are due
// and nothing else is in the client, followed by the inbox; else the
// inbox, unless retries wait. It also returns the retries whose
// DeliveryTimeout has passed, for the sender to settle. With
// nothing to send, it returns how long to wait (0: until woken).
func (p *producer) next() (recs, expired []*Record, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gaveUp {
		return nil, nil, 0
	}
	if len(p.retries) > 0 {
		if p.inClient > 0 {
			return nil, nil, 0 // the last completion wakes the sender
		}
		if d := time.Until(p.retryAt); d > 0 {
			return nil, nil, d
		}
		now := time.Now()
		recs = p.retries[:0]
		for _, r := range p.retries {
			if !r.produce.deadline.IsZero() && now.After(r.produce.deadline) {
				r.produce.lastErr = fmt.Errorf("%w (%v): last attempt: %w", ErrDeliveryTimeout, p.cfg.DeliveryTimeout, r.produce.lastErr)
				expired = append(expired, r)
				continue
			}
			recs = append(recs, r)
		}
		p.retries = nil
		if len(recs) > 0 {
			slices.SortFunc(recs, func(a, b *Record) int { return cmp.Compare(a.produce.seq, b.produce.seq) })
			p.retried.Add(int64(len(recs)))
			if p.metrics != nil {
				for _, r := range recs {
					p.metrics.stream(r.Topic).retries.Inc()
				}
			}
			// Then the inbox, newer than every retry: held back during
			// the backoff, so that no message overtakes an older one
			// of its key, it goes out with them.
			n := min(len(p.inbox), max(0, maxHandOver-len(recs)))
			recs = append(recs, p.inbox[:n]...)
			p.takeInbox(n)
			p.inClient += len(recs)
			return recs, expired, 0
		}
	}
	if len(p.inbox) == 0 {
		return nil, expired, 0
	}
	n := min(len(p.inbox), maxHandOver)
	recs = append(p.spare[:0], p.inbox[:n]...)
	p.takeInbox(n)
	p.spare = recs
	p.inClient += n
	return recs, expired, 0
}

// takeInbox removes the first n messages of the inbox. p.mu is held.
func (p *producer) takeInbox(n int) {
	left := copy(p.inbox, p.inbox[n:])
	clear(p.inbox[left:]) // no references left behind
	p.inbox = p.inbox[:left]
}

// completed is the client's report of one attempt at recs: err nil when
// the broker acknowledged them. A retriable failure puts them in retries;
// anything else settles them.
func (p *producer) completed(recs []*Record, err error) {
	if err == nil {
		p.mu.Lock()
		p.inClient -= len(recs)
		p.streak = 0
		wake := p.inClient == 0 && len(p.retries) > 0
		p.mu.Unlock()
		if p.metrics != nil {
			// Measured here, for the whole attempt: settle skips them.
			p.metrics.acknowledged(recs)
			size := 0
			for _, r := range recs {
				size += len(r.Key) + len(r.Value)
			}
			p.bufferedBytes.Add(-int64(size))
		}
		for _, r := range recs {
			p.report(r, nil)
		}
		if wake {
			p.signal()
		}
		return
	}
	f := classify(err)
	// A retriable failure may be the settings' fault (a refused
	// password fails as the broker hanging up): once the doctor's probe
	// says so, retrying cannot help and would hide the cause.
	var misconfigured error
	if p.doctor != nil && connectionFailure(err) {
		p.doctor.suspect(err)
		if f.retryable {
			misconfigured = p.doctor.misconfigured()
		}
	}
	var final []*Record
	p.mu.Lock()
	p.inClient -= len(recs)
	now := time.Now()
	for _, r := range recs {
		r.produce.written = r.produce.written || f.written
		r.produce.lastErr = err
		switch {
		case !f.retryable || p.gaveUp:
			final = append(final, r)
		case misconfigured != nil:
			r.produce.lastErr = fmt.Errorf("%w; last attempt: %w", misconfigured, err)
			final = append(final, r)
		case !r.produce.deadline.IsZero() && now.After(r.produce.deadline):
			r.produce.lastErr = fmt.Errorf("%w (%v): last attempt: %w", ErrDeliveryTimeout, p.cfg.DeliveryTimeout, err)
			final = append(final, r)
		default:
			if len(p.retries) == 0 {
				p.streak++
				p.retryAt = now.Add(p.backoff())
			}
			p.retries = append(p.retries, r)
		}
	}
	wake := p.inClient == 0 && len(p.retries) > 0
	p.mu.Unlock()
	for _, r := range final {
		p.settle(r, r.produce.lastErr)
	}
	if wake {
		p.signal()
	}
}

// withdraw settles rec with a failure caused by cause, if it is still
// waiting in the inbox or in retries: a Publish whose context ended takes
// its message back, so that its outcome is known at once. It reports
// false when rec is in the client (its outcome comes from there) or
// already settled.
func (p *producer) withdraw(rec *Record, cause error) bool {
	p.mu.Lock()
	found := false
	for _, q := range []*[]*Record{&p.inbox, &p.retries} {
		if i := slices.Index(*q, rec); i >= 0 {
			*q = slices.Delete(*q, i, i+1)
			found = true
			break
		}
	}
	p.mu.Unlock()
	if !found {
		return false
	}
	err := fmt.Errorf("gave up waiting: %w", cause)
	if rec.produce.lastErr != nil {
		err = fmt.Errorf("gave up waiting: %w; last attempt: %w", cause, rec.produce.lastErr)
	}
	p.settle(rec, err)
	return true
}

// backoff is the wait before the next retry round: RetryBackoff, doubled
// for each round in a row that failed, up to RetryBackoffMax.
func (p *producer) backoff() time.Duration {
	return min(p.cfg.RetryBackoff<<min(p.streak-1, 20), p.cfg.RetryBackoffMax)
}

// settle reports rec's outcome, once: later reports (after Close gave
// up on it) are ignored. It gives back the slot and counts it.
func (p *producer) settle(r *Record, err error) {
	if atomic.SwapUint32(&r.produce.settled, 1) == 1 {
		return
	}
	if err != nil && p.spoolLeftover(r, err) {
		return
	}
	p.conclude(r, err)
}

// conclude is settle once the record is known to be settled here.
func (p *producer) conclude(r *Record, err error) {
	if p.metrics != nil {
		// Before the callback: the record is the caller's after it.
		p.bufferedBytes.Add(-int64(len(r.Key) + len(r.Value)))
		p.metrics.published(r, r.produce.accepted, err)
	}
	p.finish(r, err)
}

// report is settle without the metrics, which the caller recorded for an
// acknowledged attempt: a record the client holds is settled only by its
// completion, so that nothing else measures it.
func (p *producer) report(r *Record, err error) {
	if atomic.SwapUint32(&r.produce.settled, 1) == 1 {
		return
	}
	p.finish(r, err)
}

// spoolLeftover takes, with a spool, a record that Close gave up on
// while it could still be delivered: a caller's message is kept for the
// spool (written before everything in it when Close ends), one read back
// from the spool stays there, for the next process. It reports whether
// it took r.
func (p *producer) spoolLeftover(r *Record, err error) bool {
	if p.spool == nil || !p.abandoned.Load() || r.produce.spooled {
		return false
	}
	if !errors.Is(err, ErrClosed) && !classify(err).retryable {
		return false // it fails for good
	}
	if r.produce.fromSpool {
		<-p.slots
		return true
	}
	if !spoolable(r) {
		return false
	}
	p.spool.keep(r)
	return true
}

// finish counts rec's outcome, reports it and gives back its slot.
func (p *producer) finish(r *Record, err error) {
	if r.produce.fromSpool {
		p.spool.settled(r, err)
		<-p.slots
		return
	}
	if err == ErrSpooled {
		// Counted by the spool; the record is the caller's again once
		// delivered: nothing of it is read after that.
		e, spooled := r.produce.epoch, r.produce.spooled
		deliver(r.produce.done, r, err)
		if !spooled {
			<-p.slots // kept by Close: it held one
		}
		e.release()
		return
	}
	if err != nil {
		if r.produce.written {
			p.unknown.Add(1)
			err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		} else {
			p.failed.Add(1)
		}
		err = &PublishError{Topic: r.Topic, Err: err}
	} else {
		p.delivered.Add(1)
	}
	e := r.produce.epoch
	deliver(r.produce.done, r, err)
	<-p.slots
	e.release()
}

// flush waits until every message accepted before the call is settled,
// or ctx ends. Messages accepted meanwhile are not waited for.
func (p *producer) flush(ctx context.Context) error {
	p.mu.Lock()
	e := p.epoch
	e.next = newEpoch(2) // its own token, and one that e holds until it ends
	p.epoch = e.next
	p.mu.Unlock()
	e.release() // its own token: it ends once its messages are settled
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d messages not acknowledged yet: %w", p.stats().Buffered, context.Cause(ctx))
	}
}

// close refuses new messages, waits until everything accepted is settled
// or ctx ends, and then settles what is left: ErrOutcomeUnknown for a
// message a request may have carried, a plain failure for the others.
// The sender and the client have stopped when it returns.
//
// With a spool, Close also lets the spool's messages be delivered until
// ctx ends, or until delivery stalls (no message acknowledged for
// RequestTimeout: the broker is away); then it stops, and what is left
// stays in the spool (a message in memory is written there) for the next
// process, so that an exit never waits on a broker that is down.
func (p *producer) close(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	if p.spool != nil {
		var cancel context.CancelFunc
		ctx, cancel = p.untilStalled(ctx, p.cfg.RequestTimeout)
		defer cancel()
	}
	err := p.flush(ctx)
	leftInSpool := int64(0)
	if err == nil && p.spool != nil {
		leftInSpool = p.spool.drain(ctx)
	}
	if p.spool != nil {
		p.spool.stopReader()
	}
	if err != nil || leftInSpool > 0 {
		p.giveUp(context.Cause(ctx))
	}
	close(p.stop)
	<-p.done
	if cerr := p.client.close(); cerr != nil && err == nil {
		err = cerr
	}
	if p.spool != nil {
		if cerr := p.spool.close(); cerr != nil && err == nil {
			err = cerr
		}
		if st := p.spool.stats(); st.OnDisk > 0 {
			p.cfg.Logger.Info("kafkaesk: spool: messages left for the next process", "dir", st.Dir, "messages", st.OnDisk)
		}
		if err != nil && p.stats().Buffered == 0 {
			err = nil // every message is delivered, failed or in the spool
		}
	}
	return err
}

// untilStalled returns a context that ends with ctx, or once no message
// (from memory or from the spool) has been acknowledged for stall.
func (p *producer) untilStalled(ctx context.Context, stall time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	progress := func() int64 {
		return p.delivered.Load() + p.failed.Load() + p.spool.delivered.Load() + p.spool.failed.Load()
	}
	go func() {
		tick := time.NewTicker(min(stall/4, 100*time.Millisecond))
		defer tick.Stop()
		last, since := progress(), time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if n := progress(); n != last {
					last, since = n, now
				} else if now.Sub(since) >= stall {
					cancel(fmt.Errorf("delivery stalled: nothing acknowledged for %v", stall))
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}

// giveUp settles every message still in the inbox or in retries, and
// makes the client's remaining completions final.
func (p *producer) giveUp(cause error) {
	p.abandoned.Store(true)
	p.mu.Lock()
	p.gaveUp = true
	left := append(p.inbox, p.retries...)
	p.inbox, p.retries = nil, nil
	p.mu.Unlock()
	for _, r := range left {
		err := fmt.Errorf("%w: Close gave up before it was sent again: %w", ErrClosed, cause)
		if r.produce.lastErr != nil {
			err = fmt.Errorf("%w: Close gave up (%w); last attempt: %w", ErrClosed, cause, r.produce.lastErr)
		}
		p.settle(r, err)
	}
	// What the client holds is settled by its completions, which abort
	// makes come at once and final.
	p.client.abort()
}

// epoch is the set of messages accepted between two Flush calls. It
// holds a token for each of them, one of its own until the Flush that
// ends it, and one that the epoch before holds until that one is done:
// so done is closed once every message accepted before the Flush that
// ended it is settled.
type epoch struct {
	n    atomic.Int64
	done chan struct{}
	next *epoch // set by the Flush that ends it, before its own token goes
}

func newEpoch(tokens int64) *epoch {
	e := &epoch{done: make(chan struct{})}
	e.n.Store(tokens)
	return e
}

// release gives back a token; the last one closes done and gives back
// the token the next epoch waits on.
func (e *epoch) release() {
	for e != nil && e.n.Add(-1) == 0 {
		close(e.done)
		e = e.next
	}
}
