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

	"github.com/segmentio/kafka-go"
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
func (c *consumer) run(ctx context.Context) error {
	c.sub.running.Store(true)
	defer c.sub.running.Store(false)
	for {
		topics, err := c.waitForTopics(ctx)
		if err != nil {
			return nil // ctx ended while waiting
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
// topics.
func (c *consumer) waitForTopics(ctx context.Context) ([]string, error) {
	for {
		if topics, err := c.matchedTopics(ctx); err != nil {
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
	all, err := c.app.listTopics(lctx)
	if err != nil {
		return nil, err
	}
	return c.match.match(all), nil
}

// consumeGroup joins the group on topics and consumes generation after
// generation. It returns nil when ctx ends, errTopicsChanged when the
// matched set changed, or the subscription's failure.
func (c *consumer) consumeGroup(ctx context.Context, topics []string) error {
	cfg := &c.app.cfg
	dialer, err := cfg.dialer()
	if err != nil {
		return err
	}
	start := kafka.FirstOffset
	if c.sub.opts.StartFromLatest {
		start = kafka.LastOffset
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     c.sub.Group,
		Brokers:                cfg.Brokers,
		Dialer:                 dialer,
		Topics:                 topics,
		HeartbeatInterval:      cfg.HeartbeatInterval,
		SessionTimeout:         cfg.SessionTimeout,
		RebalanceTimeout:       cfg.SessionTimeout,
		JoinGroupBackoff:       500 * time.Millisecond,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: c.interval,
		StartOffset:            start,
		Timeout:                cfg.RequestTimeout,
		ErrorLogger:            kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("kafkaesk: %s: %w", c.sub, err)
	}
	defer group.Close()
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Rebalances and coordinator changes: kafka-go backs off and
			// rejoins by itself.
			c.log.Debug("kafkaesk: joining group", "err", err)
			continue
		}
		if err := c.runGeneration(ctx, group, gen, topics); err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// runGeneration consumes every partition of one generation until it ends:
// by a rebalance, by ctx, by a failure, or because the matched topics
// changed. In-flight handlers finish and finished offsets are committed
// before it returns.
func (c *consumer) runGeneration(ctx context.Context, group *kafka.ConsumerGroup, gen *kafka.Generation, topics []string) error {
	offsets := newOffsets(c, gen)
	c.sub.current.Store(offsets)
	defer c.sub.current.Store(nil)
	// fetchCtx stops the partition readers; cancelled by the lifetime
	// goroutine below, never by a handler.
	fetchCtx, stopFetching := context.WithCancel(context.Background())
	defer stopFetching()

	var partitions sync.WaitGroup
	for topic, assigned := range gen.Assignments {
		for _, pa := range assigned {
			p := offsets.add(topic, pa.ID, pa.Offset)
			partitions.Add(1)
			gen.Start(func(context.Context) {
				defer partitions.Done()
				c.consumePartition(fetchCtx, p)
			})
		}
	}

	result := make(chan error, 1)
	gen.Start(func(gctx context.Context) {
		err := c.watchGeneration(ctx, gctx, topics, offsets)
		if err != nil || ctx.Err() != nil {
			// This member is leaving the group (stop, failure, new topics).
			// Close it now, while the generation lives: once the generation
			// ended, kafka-go would rejoin first, and a JoinGroup blocks
			// until the group's rebalance completes (seconds, when the whole
			// group stops at once). Close waits for this function, so it
			// runs on its own goroutine; consumeGroup's Close waits for it.
			go group.Close()
		}
		stopFetching()
		partitions.Wait()
		offsets.commitFinished("generation end")
		// A partition may have failed while the generation was ending for
		// another reason: report it now, not one generation later.
		select {
		case <-c.failed:
			err = c.failErr
		default:
		}
		result <- err
	})
	return <-result
}

// watchGeneration commits on the interval and returns when the generation
// must end: nil on a rebalance or ctx, errTopicsChanged, or the failure.
func (c *consumer) watchGeneration(ctx, gctx context.Context, topics []string, offsets *offsets) error {
	commit := time.NewTicker(orDefault(c.sub.opts.CommitInterval, c.app.cfg.CommitInterval))
	defer commit.Stop()
	discover := time.NewTicker(c.interval)
	defer discover.Stop()
	for {
		select {
		case <-gctx.Done():
			return nil
		case <-ctx.Done():
			return nil
		case <-c.failed:
			return c.failErr
		case <-commit.C:
			offsets.commitFinished("interval")
		case <-discover.C:
			now, err := c.matchedTopics(ctx)
			if err != nil {
				c.log.Warn("kafkaesk: listing topics", "err", err)
				continue
			}
			if !slices.Equal(now, topics) {
				c.log.Info("kafkaesk: matched topics changed", "was", topics, "now", now)
				return errTopicsChanged
			}
		}
	}
}

// fail records the subscription's failure and ends its generation.
func (c *consumer) fail(err error) {
	c.failOnce.Do(func() {
		c.failErr = err
		close(c.failed)
	})
}

// consumePartition fetches one partition and handles its messages in
// offset order, until fetchCtx ends or the subscription fails.
func (c *consumer) consumePartition(fetchCtx context.Context, p *partitionOffsets) {
	dialer, _ := c.app.cfg.dialer() // validated in New
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.app.cfg.Brokers,
		Topic:     p.topic,
		Partition: p.partition,
		Dialer:    dialer,
		MinBytes:  1,
		MaxBytes:  4 << 20,
		// Close waits for a fetch in flight: a short MaxWait keeps a stop
		// fast (kafka-go's default of 10s would hold it for 10s).
		MaxWait:        250 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	defer r.Close()
	if err := r.SetOffset(p.start); err != nil {
		c.fail(fmt.Errorf("kafkaesk: %s: seek %s/%d to %d: %w", c.sub, p.topic, p.partition, p.start, err))
		return
	}
	backoff := fetchBackoff{min: 50 * time.Millisecond, max: 5 * time.Second}
	for {
		m, err := r.FetchMessage(fetchCtx)
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
		rec := recordOf(&m)
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
	backoff := orDefault(policy.Backoff, 100*time.Millisecond)
	maxBackoff := orDefault(policy.MaxBackoff, 10*time.Second)
	for attempt := 0; ; attempt++ {
		err := c.call(m, p)
		var derr *decodeError
		switch {
		case err == nil:
			c.sub.handled.Add(1)
			return true, nil
		case errors.As(err, &derr), errors.Is(err, ErrSkip):
			c.sub.skipped.Add(1)
			c.log.Warn("kafkaesk: message skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			return true, nil
		case c.handlerCtx.Err() != nil:
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
func (c *consumer) call(m *Record, p *partitionOffsets) (err error) {
	ctx := c.handlerCtx
	if t := c.sub.opts.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	commit := func(ctx context.Context) error { return p.commit(ctx, m.Offset) }
	return c.sub.handle(ctx, c.sub, c.app, m, commit)
}

func (c *consumer) deadLetter(m *Record, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.handlerCtx), c.app.cfg.RequestTimeout)
	defer cancel()
	if err := c.app.deadLetter(ctx, c.sub.opts.OnError.DeadLetterStream, m, c.sub.Group, cause.Error()); err != nil {
		return fmt.Errorf("kafkaesk: %s: %w", c.sub, err)
	}
	return nil
}

// deadLetter publishes rec to stream with DeadLetterHeaders.
func (a *Application) deadLetter(ctx context.Context, stream string, rec *Record, group, why string) error {
	if err := a.EnsureStream(ctx, stream, 0); err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	if err := a.RawPublish(ctx, stream, rec.Value, Key(rec.Key), Headers(DeadLetterHeaders(rec, group, why)...)); err != nil {
		return fmt.Errorf("dead-letter %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return nil
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
