package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// consumer runs one subscription: it waits for topics matching the
// subscription, keeps a consumer group on them, and consumes each partition
// the group assigns it. It is owned by Application.Run.
type consumer struct {
	app      *Application
	sub      *Subscription
	match    *topicMatcher
	interval time.Duration
	log      *slog.Logger
	sem      chan struct{} // handler tokens; cap Concurrency

	// handlerCtx is the parent of every handler's context. It ends when a
	// graceful stop's deadline (Config.ShutdownTimeout) passes.
	handlerCtx context.Context

	failOnce sync.Once
	failed   chan struct{} // closed by fail
	failErr  error         // set once, before failed is closed
}

// errTopicsChanged ends a group whose matched topics changed.
var errTopicsChanged = errors.New("matched topics changed")

func newConsumer(a *Application, s *Subscription, handlerCtx context.Context) (*consumer, error) {
	var m *topicMatcher
	if s.Pattern != "" {
		var err error
		if m, err = newPatternMatcher(a.cfg.TopicPrefix, s.Pattern); err != nil {
			return nil, fmt.Errorf("kafkaesk: %s: bad pattern: %w", s, err)
		}
	} else {
		m = newTopicsMatcher(a.cfg.TopicPrefix, s.Streams)
	}
	if s.opts.Transactional && a.cfg.TransactionalID == "" {
		if a.cfg.Client != ClientFranzGo {
			return nil, fmt.Errorf("kafkaesk: %s: Transactional: %w", s, errNoTransactions(a.cfg.Client))
		}
		return nil, fmt.Errorf("kafkaesk: %s: Transactional needs Config.TransactionalID (the transactional_id setting)", s)
	}
	interval := s.opts.DiscoveryInterval
	if interval <= 0 {
		interval = a.cfg.MetadataMaxAge
	}
	return &consumer{
		app:        a,
		sub:        s,
		match:      m,
		interval:   interval,
		log:        a.cfg.Logger.With("group", s.Group, "topics", m.desc),
		sem:        make(chan struct{}, s.opts.Concurrency),
		handlerCtx: handlerCtx,
		failed:     make(chan struct{}),
	}, nil
}

// run consumes until ctx ends (a graceful stop: it returns nil once
// in-flight handlers finished and offsets are committed) or the
// subscription fails (it returns the error).
func (c *consumer) run(ctx context.Context) (err error) {
	c.sub.running.Store(true)
	defer c.sub.running.Store(false)
	c.app.metrics.health(c.sub.Group, true)
	defer func() {
		if err != nil {
			c.app.metrics.health(c.sub.Group, false)
		}
	}()
	for {
		topics, err := c.waitForTopics(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // ctx ended while waiting
			}
			return err
		}
		c.log.Info("kafkaesk: consuming", "matched", topics)
		err = c.consumeGroup(ctx, topics)
		switch {
		case errors.Is(err, errTopicsChanged):
			continue
		case err != nil:
			return err
		default:
			return nil
		}
	}
}

// waitForTopics polls until some topic matches; subscribers never create
// topics. It fails when the doctor finds the connection settings at
// fault: the subscription could never start.
func (c *consumer) waitForTopics(ctx context.Context) ([]string, error) {
	for {
		if topics, err := c.matchedTopics(ctx); err != nil {
			if v := c.app.doctor.diagnose(ctx, err); v != nil {
				return nil, fmt.Errorf("kafkaesk: group %s: %w", c.sub.Group, v)
			}
			c.log.Warn("kafkaesk: listing topics", "err", err)
		} else if len(topics) > 0 {
			return topics, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.interval):
		}
	}
}

func (c *consumer) matchedTopics(ctx context.Context) ([]string, error) {
	lctx, cancel := context.WithTimeout(ctx, c.app.cfg.RequestTimeout)
	defer cancel()
	start := c.app.metrics.now()
	all, err := c.app.listTopics(lctx)
	c.app.metrics.action("sync_topics", start, err)
	if err != nil {
		return nil, err
	}
	return c.match.match(all), nil
}

// consumeGroup joins the group on topics and consumes what it is
// assigned, until ctx ends (it returns nil), the matched topics change
// (errTopicsChanged) or the subscription fails (the failure). In-flight
// handlers finish and finished offsets are committed before it returns.
func (c *consumer) consumeGroup(ctx context.Context, topics []string) error {
	// memberCtx ends the membership: when ctx ends, or when watch
	// returns (failure, new topics).
	memberCtx, leave := context.WithCancel(ctx)
	defer leave()
	o := &offsets{c: c, partitionParent: context.Background()}
	if c.sub.opts.Transactional {
		// The open transaction aborts when the membership ends: handlers
		// waiting to retry stop at once instead of holding it.
		o.partitionParent = memberCtx
	}
	start := c.app.metrics.now()
	member, err := c.app.driver.newGroupMember(groupSpec{
		group:       c.sub.Group,
		topics:      topics,
		startLatest: c.sub.opts.StartFromLatest,
		rebalance:   c.app.cfg.Rebalance,
		log:         c.log,

		readCommitted:   c.sub.opts.ReadCommitted || c.sub.opts.Transactional,
		transactionalID: c.transactionalID(),
		assigned:        func(parts []assignedPartition) { c.assigned(o, parts) },
		revoked:         func(parts []topicPartition, lost bool) { c.revoked(o, parts, lost) },
	})
	c.app.metrics.action("sync_consumer_connect", start, err)
	if err != nil {
		return fmt.Errorf("kafkaesk: %s: %w", c.sub, err)
	}
	o.member = member
	c.sub.current.Store(o)
	defer c.sub.current.Store(nil)

	watched := make(chan error, 1)
	go func() {
		watched <- c.watch(memberCtx, topics, o)
		leave()
	}()
	runErr := member.run(memberCtx)
	leave()
	err = <-watched
	// Revoked by run, normally; whatever is left (run failed) stops here.
	c.revoked(o, nil, false)
	select {
	case <-c.failed:
		// A partition may have failed while the membership was ending
		// for another reason: report it now, not one join later.
		err = c.failErr
	default:
	}
	if err == nil && runErr != nil && ctx.Err() == nil {
		err = fmt.Errorf("kafkaesk: %s: %w", c.sub, runErr)
	}
	return err
}

// assigned starts consuming parts, each on a goroutine of its own that
// revoked stops.
func (c *consumer) assigned(o *offsets, parts []assignedPartition) {
	if m := c.app.metrics; m != nil {
		for _, a := range parts {
			m.rebalanced(c.sub.Group, "assigned", a.partition)
		}
	}
	for _, a := range parts {
		p := o.add(a)
		p.metrics = c.app.metrics.partition(a.topic, a.partition, c.sub.Group)
		// fetchCtx stops the partition's goroutine; cancelled by
		// revoked (or the membership's end, when transactional), never
		// by a handler.
		fetchCtx, stop := context.WithCancel(o.partitionParent)
		p.stop = stop
		go func() {
			defer close(p.done)
			// Closed as soon as it is not read any more (a transactional
			// member waits for that), and again by revoked.
			defer p.fetch.close()
			c.consumePartition(fetchCtx, p)
		}()
	}
}

// revoked stops consuming tps (every partition, for nil): it waits for
// their handlers in flight, and commits what finished unless the
// partitions were lost.
func (c *consumer) revoked(o *offsets, tps []topicPartition, lost bool) {
	ps := o.take(tps)
	if len(ps) == 0 {
		return
	}
	for _, p := range ps {
		p.stop()
	}
	for _, p := range ps {
		<-p.done
		p.fetch.close()
		c.app.metrics.rebalanced(c.sub.Group, "revoked", p.partition)
	}
	if !lost {
		o.commitFinished("generation end", ps)
	}
	o.remove(ps)
}

// watch commits on the interval and returns when the membership must
// end: nil when ctx ends, errTopicsChanged, or the failure.
func (c *consumer) watch(ctx context.Context, topics []string, o *offsets) error {
	commit := time.NewTicker(orDefault(c.sub.opts.CommitInterval, c.app.cfg.CommitInterval))
	defer commit.Stop()
	discover := time.NewTicker(c.interval)
	defer discover.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.failed:
			return c.failErr
		case <-commit.C:
			o.commitFinished("interval", nil)
		case <-discover.C:
			now, err := c.matchedTopics(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("kafkaesk: listing topics", "err", err)
				}
				continue
			}
			if !slices.Equal(now, topics) {
				c.log.Info("kafkaesk: matched topics changed", "was", topics, "now", now)
				return errTopicsChanged
			}
		}
	}
}

// fail records the subscription's failure and ends its membership.
func (c *consumer) fail(err error) {
	c.failOnce.Do(func() {
		c.failErr = err
		close(c.failed)
	})
}

// consumePartition fetches one partition and handles its messages in
// offset order, until fetchCtx ends or the subscription fails.
func (c *consumer) consumePartition(fetchCtx context.Context, p *partitionOffsets) {
	backoff := fetchBackoff{min: 50 * time.Millisecond, max: 5 * time.Second}
	defer p.metrics.endBatch()
	var start time.Time // of the fetch; with metrics only
	for {
		if p.metrics != nil {
			// The end of the last handling, or now: one clock read a
			// record between them.
			start = p.metrics.lastEnd()
		}
		rec, err := p.fetch.next(fetchCtx)
		if err != nil {
			if fetchCtx.Err() != nil {
				return
			}
			wait := backoff.next()
			c.log.Warn("kafkaesk: fetch failed; retrying", "topic", p.topic, "partition", p.partition, "backoff", wait, "err", err)
			if !sleepCtx(fetchCtx, wait) {
				return
			}
			continue
		}
		backoff.reset()
		if rec.control {
			// A transaction's marker (franz-go hands them out): nothing
			// to handle, but the partition's position moves past it, so
			// that a group at the end commits the end and has no lag.
			p.finished(rec.Offset, rec.HighWaterMark)
			continue
		}
		if p.metrics != nil {
			now := time.Now()
			p.metrics.fetched(now.Sub(start), now)
		}
		select {
		case c.sem <- struct{}{}:
		case <-fetchCtx.Done():
			return // fetched, not handled: not committed, redelivered
		}
		if fetchCtx.Err() != nil {
			// The stop began while the message was fetched or a token was
			// awaited, and select chose at random: start no new handler.
			<-c.sem
			return
		}
		finished, fatal := c.handle(fetchCtx, &rec, p)
		<-c.sem
		if fatal != nil {
			c.fail(fatal)
			return
		}
		if !finished {
			return // interrupted by a stop: redelivered
		}
		p.finished(rec.Offset, rec.HighWaterMark)
	}
}

// handle runs the handler on one message under the subscription's error
// policy. finished reports whether the message is done with (handled,
// skipped, dead-lettered); fatal is the subscription's failure.
func (c *consumer) handle(fetchCtx context.Context, m *Record, p *partitionOffsets) (finished bool, fatal error) {
	policy := c.sub.opts.OnError
	var pm *partitionMetrics // nil without metrics
	if p != nil {
		pm = p.metrics
	}
	backoff := orDefault(policy.Backoff, 100*time.Millisecond)
	maxBackoff := orDefault(policy.MaxBackoff, 10*time.Second)
	for attempt := 0; ; attempt++ {
		err := c.call(m, p)
		var derr *decodeError
		switch {
		case err == nil:
			c.sub.handled.Add(1)
			pm.handled(m, "none")
			return true, nil
		case errors.As(err, &derr), errors.Is(err, ErrSkip):
			c.sub.skipped.Add(1)
			pm.handled(m, skipClass(err))
			c.log.Warn("kafkaesk: message skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			return true, nil
		case c.handlerCtx.Err() != nil:
			pm.handled(m, "cancelled")
			// A stop's deadline cancelled the handler: the message was not
			// handled. The policy must not skip or dead-letter (and so
			// commit) it, nor fail a graceful stop; it is redelivered.
			c.log.Warn("kafkaesk: handler interrupted by the stop; the message will be redelivered",
				"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			return false, nil
		}
		if attempt < policy.Retries || policy.Retries == RetryForever {
			c.sub.retried.Add(1)
			c.log.Warn("kafkaesk: handler failed; retrying", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset,
				"attempt", attempt+1, "retries", policy.Retries, "backoff", backoff, "err", err)
			select {
			case <-time.After(backoff):
			case <-fetchCtx.Done():
				return false, nil
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		pm.handled(m, errorClass(err))
		switch policy.Then {
		case ActionSkip:
			c.sub.failed.Add(1)
			c.log.Error("kafkaesk: handler failed; message skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			return true, nil
		case ActionDeadLetter:
			if derr := c.deadLetter(m, err); derr != nil {
				return false, derr
			}
			c.sub.deadLettered.Add(1)
			c.log.Warn("kafkaesk: handler failed; message dead-lettered", "topic", m.Topic, "partition", m.Partition,
				"offset", m.Offset, "stream", policy.DeadLetterStream, "err", err)
			return true, nil
		}
		return false, &HandlerError{Group: c.sub.Group, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Err: err}
	}
}

// call runs the handler once, with the subscription's timeout, turning a
// panic into an error.
//
// The handler's ctx carries the trace context of m's headers, and m's
// process span when there is a tracer (see traceProcess), which ends
// with the call, panics included.
func (c *consumer) call(m *Record, p *partitionOffsets) (err error) {
	ctx := c.handlerCtx
	if t := c.sub.opts.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	ctx, span := c.app.traceProcess(ctx, m, c.sub.Group)
	if span != nil {
		defer func() { endProcess(span, err) }() // after the recover below
	}
	var tx *Tx
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
		if err != nil && tx != nil {
			tx.discard()
		}
	}()
	commit := func(ctx context.Context) error { return p.commit(ctx, m.Offset) }
	if c.sub.opts.Transactional {
		tx = &Tx{app: c.app, prod: p.o.member.txn(), staging: true}
	}
	if err := c.sub.handle(ctx, c.sub, c.app, m, commit, tx); err != nil {
		return err
	}
	if tx != nil {
		// It fails only on an ended context: the call's may end now.
		return tx.release(context.WithoutCancel(ctx))
	}
	return nil
}

// transactionalID is the subscription's transactional id: none unless
// it is transactional.
func (c *consumer) transactionalID() string {
	if !c.sub.opts.Transactional {
		return ""
	}
	return c.app.cfg.TransactionalID + "." + c.sub.Group
}

func (c *consumer) deadLetter(m *Record, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.handlerCtx), c.app.cfg.RequestTimeout)
	defer cancel()
	if err := c.app.deadLetter(ctx, c.sub.opts.OnError.DeadLetterStream, m, c.sub.Group, cause.Error()); err != nil {
		return fmt.Errorf("kafkaesk: %s: %w", c.sub, err)
	}
	return nil
}

// deadLetter publishes rec to stream with DeadLetterHeaders, and waits
// until it is safe: acknowledged, or, with a spool, written to the spool
// (which delivers it), so that the consumed record may be committed.
func (a *Application) deadLetter(ctx context.Context, stream string, rec *Record, group, why string) error {
	opts := []PublishOption{Key(rec.Key), Headers(DeadLetterHeaders(rec, group, why)...)}
	var err error
	if a.producer.spool == nil {
		if err := a.EnsureStream(ctx, stream, 0); err != nil {
			return fmt.Errorf("dead-letter stream: %w", err)
		}
		err = a.RawPublish(ctx, stream, rec.Value, opts...)
	} else {
		// The producer creates the stream when it sends: a broker that
		// is away does not keep the dead letter from the spool.
		err = a.publishSpooled(ctx, stream, rec.Value, opts...)
	}
	if err != nil {
		return fmt.Errorf("dead-letter %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return nil
}

// publishSpooled is RawPublish for an application with a spool: it
// returns once the message is acknowledged or written to the spool, or
// ctx ends.
func (a *Application) publishSpooled(ctx context.Context, stream string, value []byte, opts ...PublishOption) error {
	done := make(chan error, 1)
	if err := a.RawPublishAsync(ctx, stream, value, func(err error) { done <- err }, opts...); err != nil {
		return err
	}
	select {
	case err := <-done:
		if err == ErrSpooled {
			return nil
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DeadLetterHeaders returns the headers of rec's dead-lettered copy:
// rec's own, then HeaderError (why), HeaderGroup, HeaderTopic,
// HeaderPartition and HeaderOffset. The slice is new; rec is not changed.
func DeadLetterHeaders(rec *Record, group, why string) []Header {
	return append(append(make([]Header, 0, len(rec.Headers)+5), rec.Headers...),
		Header{Key: HeaderError, Value: []byte(why)},
		Header{Key: HeaderGroup, Value: []byte(group)},
		Header{Key: HeaderTopic, Value: []byte(rec.Topic)},
		Header{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
		Header{Key: HeaderOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
	)
}

// HandlerError is a subscription's failure: a handler error that its
// ErrorPolicy did not absorb. Nothing at or past Offset on that partition
// was committed.
type HandlerError struct {
	Group     string
	Topic     string
	Partition int
	Offset    int64
	Err       error
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("kafkaesk: group %s: handler failed on %s/%d at offset %d: %v", e.Group, e.Topic, e.Partition, e.Offset, e.Err)
}

func (e *HandlerError) Unwrap() error { return e.Err }

// fetchBackoff is the wait between failed fetches: min, doubled on each
// failure in a row, up to max.
type fetchBackoff struct {
	min, max, cur time.Duration
}

func (b *fetchBackoff) next() time.Duration {
	b.cur = min(max(2*b.cur, b.min), b.max)
	return b.cur
}

func (b *fetchBackoff) reset() { b.cur = 0 }

// sleepCtx waits d, and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// listTopics returns the names of every topic in the cluster, asking a
// broker directly (no cached metadata), so that a new topic is seen at the
// next poll.
func (a *Application) listTopics(ctx context.Context) ([]string, error) {
	return a.driver.listTopics(ctx)
}
