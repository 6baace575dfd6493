package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// producer is one kafka-go async Writer shared by every publishing
// goroutine, so that their messages fill the same per-partition batches.
// Each message carries its completion in Message.WriterData; the writer's
// Completion callback runs it once the batch is acknowledged or fails.
type producer struct {
	w     *kafka.Writer
	slots chan struct{}         // one token per buffered message; cap MaxBufferedMessages
	idle  inflight              // messages handed to w and not completed
	spare chan *[]kafka.Message // message slices of finished batch hand-overs, for the next ones
}

// spareMessages is how many message slices the producer keeps for batch
// hand-overs: a free list that, unlike a sync.Pool, the garbage collector
// does not empty, so that a batch does not allocate its slice after every
// collection. maxSpareMessages caps the length of a slice kept.
const (
	spareMessages    = 4
	maxSpareMessages = 1 << 14
)

// messages returns an empty slice with room for n messages.
func (p *producer) messages(n int) *[]kafka.Message {
	select {
	case s := <-p.spare:
		if cap(*s) >= n {
			return s
		}
	default:
	}
	s := make([]kafka.Message, 0, n)
	return &s
}

// recycleMessages keeps s for a later batch. The writer copied the
// messages, so s holds nothing anyone uses.
func (p *producer) recycleMessages(s *[]kafka.Message) {
	if cap(*s) > maxSpareMessages {
		return
	}
	clear(*s) // drop the references to values
	*s = (*s)[:0]
	select {
	case p.spare <- s:
	default:
	}
}

// Delivery is called once with the outcome of an asynchronous publish:
// nil when the broker acknowledged the message, else a *PublishError.
// It runs on the producer's goroutine and must not block.
type Delivery func(err error)

// BatchDelivery is called once per message of RawPublishBatchAsync with
// the message's value and its outcome: nil when the broker acknowledged
// it, else a *PublishError. It runs on the producer's goroutine and must
// not block.
type BatchDelivery func(value []byte, err error)

// waiter turns a completion into a result for a blocking Publish.
type waiter struct{ done chan error }

var waiterPool = sync.Pool{New: func() any { return &waiter{done: make(chan error, 1)} }}

func newProducer(cfg *Config, transport *kafka.Transport) (*producer, error) {
	compression, err := cfg.Compression.kafka()
	if err != nil {
		return nil, err
	}
	p := &producer{slots: make(chan struct{}, cfg.MaxBufferedMessages), spare: make(chan *[]kafka.Message, spareMessages)}
	p.w = &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Balancer:     &kafka.Murmur2Balancer{}, // Java-compatible key hashing, as kafkaesk (aiokafka)
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: cfg.BatchTimeout,
		ReadTimeout:  cfg.RequestTimeout,
		WriteTimeout: cfg.RequestTimeout,
		RequiredAcks: cfg.RequiredAcks.kafka(),
		Compression:  compression,
		Transport:    newMetadataCache(transport, min(time.Second, cfg.MetadataMaxAge)),
		Async:        true,
		// Topics are created by Publish; RawPublish relies on the broker's
		// auto-creation, as kafkaesk's raw_publish does. This also makes the
		// writer refresh its metadata for a topic it has not seen yet.
		AllowAutoTopicCreation: true,
		Completion:             p.complete,
	}
	return p, nil
}

// send hands msg to the writer. It waits for a buffer slot while
// MaxBufferedMessages are outstanding, until ctx ends or, when ctx has no
// deadline, for at most maxWait. It returns an error (and never calls the
// completion) when msg could not be handed over.
func (p *producer) send(ctx context.Context, msg kafka.Message, maxWait time.Duration) error {
	if err := p.acquire(ctx, 1, maxWait); err != nil {
		return &PublishError{Topic: msg.Topic, Err: err}
	}
	p.idle.add(1)
	if err := p.w.WriteMessages(ctx, msg); err != nil {
		p.release(1)
		return &PublishError{Topic: msg.Topic, Err: describeWriteError(err)}
	}
	return nil
}

// sendBatch is send for many messages: all handed over, or none (and no
// completion called).
func (p *producer) sendBatch(ctx context.Context, msgs []kafka.Message, maxWait time.Duration) error {
	if len(msgs) > cap(p.slots) {
		return &PublishError{Topic: msgs[0].Topic, Err: fmt.Errorf("batch of %d messages is larger than the producer's buffer (MaxBufferedMessages %d)", len(msgs), cap(p.slots))}
	}
	if err := p.acquire(ctx, len(msgs), maxWait); err != nil {
		return &PublishError{Topic: msgs[0].Topic, Err: err}
	}
	p.idle.add(len(msgs))
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		p.release(len(msgs))
		return &PublishError{Topic: msgs[0].Topic, Err: describeWriteError(err)}
	}
	return nil
}

// acquire takes n buffer slots, waiting as send says; on an error it
// holds none.
func (p *producer) acquire(ctx context.Context, n int, maxWait time.Duration) error {
	taken := 0
	for ; taken < n; taken++ {
		select {
		case p.slots <- struct{}{}:
			continue
		default:
		}
		break
	}
	if taken == n {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, maxWait)
		defer cancel()
	}
	for ; taken < n; taken++ {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			for range taken {
				<-p.slots
			}
			return fmt.Errorf("waiting for producer buffer space (%d messages unacknowledged): %w", cap(p.slots), ctx.Err())
		}
	}
	return nil
}

// release gives back n slots of messages that were not handed over.
func (p *producer) release(n int) {
	for range n {
		<-p.slots
	}
	p.idle.add(-n)
}

// complete is the writer's Completion callback, called once per batch.
func (p *producer) complete(msgs []kafka.Message, err error) {
	for i := range msgs {
		var perr error
		if err != nil {
			perr = &PublishError{Topic: msgs[i].Topic, Err: err}
		}
		switch d := msgs[i].WriterData.(type) {
		case *waiter:
			d.done <- perr
		case Delivery:
			d(perr)
		case BatchDelivery:
			d(msgs[i].Value, perr)
		}
		<-p.slots
	}
	p.idle.add(-len(msgs))
}

// flush waits until every message handed over so far has completed.
func (p *producer) flush(ctx context.Context) error {
	return p.idle.wait(ctx)
}

// close closes the writer. kafka-go's Close retries what is still
// buffered and can take seconds against a dead cluster, so it runs on its
// own goroutine and close gives up when ctx ends; that goroutine then
// finishes in the background (bounded by the writer's retry budget).
func (p *producer) close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- p.w.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("writer still closing: %w", ctx.Err())
	}
}

func describeWriteError(err error) error {
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("message of %d bytes is larger than the batch limit (BatchBytes): %w", len(tooLarge.Message.Key)+len(tooLarge.Message.Value), err)
	}
	return err
}

// inflight counts outstanding work and lets waiters block until it is zero.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0; nil while n is 0
}

func (f *inflight) add(d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 && d > 0 {
		f.zero = make(chan struct{})
	}
	f.n += d
	if f.n == 0 && f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
}

func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	zero := f.zero
	f.mu.Unlock()
	if zero == nil {
		return nil
	}
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
