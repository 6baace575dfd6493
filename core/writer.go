package core

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// writerClient is the producer's client on kafka-go: an async Writer
// that batches per partition and sends one batch at a time to each
// partition, with kafka-go's own retries off (MaxAttempts 1), so that
// the producer's are the only ones. It creates missing topics before
// their first message, and isolates the culprit of a batch the broker
// refuses as too large by sending halves of it.
type writerClient struct {
	cfg    *Config
	w      *kafka.Writer
	raw    *kafka.Client // single produce requests, to isolate oversized messages
	topics *topicManager
	dial   *abortableDialer

	// complete reports the outcome of one attempt at recs (the
	// producer's completed). It does not keep recs.
	complete func(recs []*Record, err error)

	msgs []kafka.Message // the sender's, reused for every hand-over
	ok   []*Record       // likewise

	ctx    context.Context // ends when abort is called
	cancel context.CancelFunc

	isolating sync.WaitGroup // goroutines sending halves of refused batches
}

func newWriterClient(cfg *Config, transport *kafka.Transport, dial *abortableDialer, topics *topicManager) (*writerClient, error) {
	compression, err := cfg.Compression.kafka()
	if err != nil {
		return nil, err
	}
	c := &writerClient{cfg: cfg, topics: topics, dial: dial}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.raw = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.RequestTimeout}
	c.w = &kafka.Writer{
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
		// One attempt: the producer retries, with its own accounting of
		// what may have been written. kafka-go's retries would hide
		// that, and stack on the producer's.
		MaxAttempts: 1,
		// The producer creates topics before their first message; this
		// also makes the writer ask again for a topic it has not seen.
		AllowAutoTopicCreation: true,
		Completion:             c.completion,
	}
	return c, nil
}

// notSentError marks a failure before any request carried the message:
// whatever its cause, the broker has not written it.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// send hands recs to the writer. It is called by the producer's sender
// only, and reports through complete what cannot be handed over.
func (c *writerClient) send(recs []*Record) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	ok := c.ok[:0]
	var failed map[string]error // topics that could not be created
	for _, r := range recs {
		if err, seen := failed[r.Topic]; seen {
			c.complete([]*Record{r}, err)
			continue
		}
		if !c.topics.isKnown(r.Topic) {
			if err := c.topics.ensure(ctx, r.Topic, r.produce.retention); err != nil {
				if failed == nil {
					failed = map[string]error{}
				}
				failed[r.Topic] = &notSentError{err}
				c.complete([]*Record{r}, failed[r.Topic])
				continue
			}
		}
		if size := int64(len(r.Key) + len(r.Value) + headersSize(r.Headers)); size > c.cfg.BatchBytes {
			c.complete([]*Record{r}, &notSentError{fmt.Errorf("%w: message of %d bytes is larger than the batch limit (BatchBytes %d)", ErrMessageTooLarge, size, c.cfg.BatchBytes)})
			continue
		}
		ok = append(ok, r)
	}
	msgs := c.msgs[:0]
	for _, r := range ok {
		msgs = append(msgs, kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: kafkaHeaders(r.Headers), Time: r.Time, WriterData: r})
	}
	if len(msgs) > 0 {
		if err := c.w.WriteMessages(ctx, msgs...); err != nil {
			// Nothing was handed over: the writer looks up every
			// message's partition before it batches any.
			c.complete(ok, &notSentError{err})
		}
	}
	clear(msgs) // no references to values left behind
	clear(ok)
	c.msgs, c.ok = msgs[:0], ok[:0]
}

func headersSize(h []Header) int {
	n := 0
	for _, x := range h {
		n += len(x.Key) + len(x.Value)
	}
	return n
}

var recordSlices = sync.Pool{New: func() any { return new([]*Record) }}

// completion is the writer's Completion callback: one per batch, on the
// partition's own goroutine.
func (c *writerClient) completion(msgs []kafka.Message, err error) {
	if err != nil && classify(err).tooLarge {
		if len(msgs) > 1 {
			part := append([]kafka.Message(nil), msgs...)
			c.isolating.Go(func() { c.isolate(part) })
			return
		}
		err = fmt.Errorf("%w: the broker refused it: %w", ErrMessageTooLarge, err)
	}
	s := recordSlices.Get().(*[]*Record)
	recs := (*s)[:0]
	for i := range msgs {
		r := msgs[i].WriterData.(*Record)
		if err == nil {
			r.Partition, r.Offset = msgs[i].Partition, msgs[i].Offset
		}
		recs = append(recs, r)
	}
	c.complete(recs, err)
	clear(recs)
	*s = recs[:0]
	recordSlices.Put(s)
}

// isolate sends the halves of a batch the broker refused as too large,
// each in a request of its own, halving again what is refused: the
// messages the broker takes are delivered, and a culprit fails alone,
// in about 2·log₂(n) round trips. Meanwhile the partition's newer
// messages go on: they may be written before these.
func (c *writerClient) isolate(msgs []kafka.Message) {
	if len(msgs) == 1 {
		c.complete([]*Record{msgs[0].WriterData.(*Record)}, fmt.Errorf("%w: the broker refused it: %w", ErrMessageTooLarge, kafka.MessageSizeTooLarge))
		return
	}
	half := len(msgs) / 2
	for _, part := range [2][]kafka.Message{msgs[:half], msgs[half:]} {
		base, err := c.produce(part)
		if err != nil && classify(err).tooLarge {
			c.isolate(part)
			continue
		}
		recs := make([]*Record, len(part))
		for i := range part {
			recs[i] = part[i].WriterData.(*Record)
			if err == nil {
				recs[i].Partition, recs[i].Offset = part[i].Partition, base+int64(i)
			}
		}
		c.complete(recs, err)
	}
}

// produce sends msgs, all of one partition, in one request.
func (c *writerClient) produce(msgs []kafka.Message) (baseOffset int64, err error) {
	records := make([]kafka.Record, len(msgs))
	for i, m := range msgs {
		records[i] = kafka.Record{Time: m.Time, Key: kafka.NewBytes(m.Key), Value: kafka.NewBytes(m.Value), Headers: m.Headers}
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.raw.Produce(ctx, &kafka.ProduceRequest{
		Topic:        msgs[0].Topic,
		Partition:    msgs[0].Partition,
		RequiredAcks: c.w.RequiredAcks,
		Compression:  c.w.Compression,
		Records:      kafka.NewRecordReader(records...),
	})
	if err != nil {
		return 0, err
	}
	if resp.Error != nil {
		return 0, resp.Error
	}
	return resp.BaseOffset, nil
}

// abort makes everything the client still holds fail at once: no new
// connection is made, the open ones are closed (a request on them gets
// an error, and its messages ErrOutcomeUnknown), and the isolating
// requests are cancelled.
func (c *writerClient) abort() {
	c.cancel()
	c.dial.abort()
}

// close closes the writer: it waits for the batches it holds (quickly
// after abort) and for the isolating goroutines.
func (c *writerClient) close() error {
	err := c.w.Close()
	c.isolating.Wait()
	c.cancel()
	return err
}

// abortableDialer dials the brokers for the application's transport and
// keeps the connections, so that Close, when its deadline has passed,
// can cut every request still in flight instead of waiting it out.
type abortableDialer struct {
	d net.Dialer

	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	aborted bool
}

func newAbortableDialer(timeout time.Duration) *abortableDialer {
	return &abortableDialer{d: net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}, conns: map[*trackedConn]struct{}{}}
}

func (a *abortableDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if a.isAborted() {
		return nil, errAborted
	}
	conn, err := a.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, owner: a}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.aborted {
		conn.Close()
		return nil, errAborted
	}
	a.conns[tc] = struct{}{}
	return tc, nil
}

func (a *abortableDialer) isAborted() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.aborted
}

func (a *abortableDialer) abort() {
	a.mu.Lock()
	a.aborted = true
	conns := a.conns
	a.conns = map[*trackedConn]struct{}{}
	a.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

// trackedConn forgets itself when closed.
type trackedConn struct {
	net.Conn
	owner *abortableDialer
}

func (c *trackedConn) Close() error {
	c.owner.mu.Lock()
	delete(c.owner.conns, c)
	c.owner.mu.Unlock()
	return c.Conn.Close()
}
