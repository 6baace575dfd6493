package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// safeAbortWait is how long abort lets franz-go fail records at safe
// points (never sent, or sent and answered) before it abandons the rest.
const safeAbortWait = 300 * time.Millisecond

// franzProduceClient is the producer's client on franz-go: one kgo client
// that batches per partition, retries every retriable failure itself
// until DeliveryTimeout, and reports each record once through its
// promise. The producer above therefore never retries what it reports
// (every failure is a *finalError).
//
// With RequiredAcks AcksAll it is franz-go's idempotent producer: a retry
// never writes a record twice, and franz-go fails a record only when that
// is safe for its sequence numbers (never sent, or sent and answered), so
// its failures are reported as not written (*notSentError) until abort
// gives up on records in flight. AcksLeader and AcksNone need the
// idempotent producer off: then a failure may follow a request that
// carried the record, and classify decides, conservatively.
//
// It creates missing topics before their first record (kgo's own
// auto-creation is off), and isolates the culprit of a batch the broker
// refuses as too large by sending halves of it on a second client.
// Config.BatchSize has no franz-go equivalent: batches are bounded by
// BatchBytes only.
type franzProduceClient struct {
	d        *franzDriver
	cfg      *Config
	opts     []kgo.Opt // cl's, for the isolating client
	cl       *kgo.Client
	topics   *topicManager
	complete completeFunc

	idempotent bool
	promiseFn  func(*kgo.Record, error) // c.promise, bound once
	one        [1]*Record               // the promise's; kgo runs one promise at a time
	sendOne    [1]*Record               // send's

	ctx    context.Context // ends when abort abandons what is left, or close begins
	cancel context.CancelFunc

	// unsafe is set when abort abandons the records in flight, or close
	// begins: a failure reported after may follow a request that carried
	// the record, so it is reported as possibly written.
	unsafe      atomic.Bool
	outstanding sync.WaitGroup // records handed to cl whose promise has not returned

	mu        sync.Mutex
	refused   []*Record   // refused by cl in a too-large batch, for the isolator; guarded by mu
	isolating bool        // the isolator goroutine runs; guarded by mu
	iso       *kgo.Client // the isolating client, made by the first isolation; guarded by mu
	isolator  sync.WaitGroup

	abortOnce, closeOnce sync.Once
	closing              atomic.Bool // abort or close began: aborted records are theirs, not the doctor's
}

// newProduceClient returns the franz-go produce client, reporting
// through complete. It connects at the first record. Only close ends the
// goroutines of the clients it makes.
func (d *franzDriver) newProduceClient(topics *topicManager, complete completeFunc) (produceClient, error) {
	opts, err := d.produceOptions()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: franz-go producer for %s: %w", d.brokers(), err)
	}
	c := &franzProduceClient{d: d, cfg: d.cfg, opts: opts, cl: cl, topics: topics, complete: complete, idempotent: d.cfg.RequiredAcks == AcksAll}
	c.promiseFn = c.promise
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if d.doc != nil {
		d.doc.onMisconfigured(c.abortMisconfigured)
	}
	return c, nil
}

// produceOptions are the producing clients' options, from Config.
func (d *franzDriver) produceOptions() ([]kgo.Opt, error) {
	cfg := d.cfg
	codec, err := cfg.Compression.franz()
	if err != nil {
		return nil, err
	}
	batch := int32(min(max(cfg.BatchBytes, 512), 1<<30)) // kgo allows 512 B to 1 GiB
	opts := d.options(
		kgo.DisableClientMetrics(), // nothing to push at Close, which must be quick
		kgo.RequiredAcks(cfg.RequiredAcks.franz()),
		// murmur2 of the key, as the Java client, kafkaesk and
		// kafka-go's Murmur2Balancer; sticky batches without a key.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(min(cfg.BatchTimeout, time.Minute)),
		kgo.ProducerBatchMaxBytes(batch),
		kgo.BrokerMaxWriteBytes(max(batch, 100<<20)),
		kgo.ProducerBatchCompression(codec),
		// Never reached: the producer holds at most MaxBufferedMessages,
		// and the slack covers records whose promise is running, so that
		// Produce never blocks the sender.
		kgo.MaxBufferedRecords(cfg.MaxBufferedMessages+maxHandOver),
		kgo.ProduceRequestTimeout(min(max(cfg.RequestTimeout, 100*time.Millisecond), time.Duration(math.MaxInt32)*time.Millisecond)),
		// franz-go retries until DeliveryTimeout; the producer does not.
		kgo.RecordRetries(math.MaxInt),
		// The producer creates topics before their first record, so an
		// unknown topic is metadata catching up (or a deleted topic,
		// given up on at DeliveryTimeout).
		kgo.UnknownTopicRetries(-1),
	)
	if cfg.RequiredAcks != AcksAll {
		// The idempotent producer needs acks from every in-sync replica.
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts, nil
}

func (a Acks) franz() kgo.Acks {
	switch a {
	case AcksLeader:
		return kgo.LeaderAck()
	case AcksNone:
		return kgo.NoAck()
	}
	return kgo.AllISRAcks()
}

func (c Compression) franz() (kgo.CompressionCodec, error) {
	switch strings.ToLower(string(c)) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q is not one of none, gzip, snappy, lz4, zstd", string(c))
}

// franzRecord is a kgo.Record handed to franz-go with the Record it
// carries. It is its own record's Context (a background one), so that
// the promise finds the Record without a lookup or an allocation; the
// pool makes a hand-over allocation-free on our side.
type franzRecord struct {
	context.Context
	kr      kgo.Record
	rec     *Record
	headers []kgo.RecordHeader // kr.Headers' array, kept for reuse
	ho      *handOver          // the hand-over it came in
}

// handOver bounds the delivery of the records of one send by their
// DeliveryTimeout: franz-go fails them (at safe points only, as
// idempotence requires) when its context's deadline passes. franz-go's
// own RecordDeliveryTimeout would not do: it counts from the record's
// timestamp, which a caller may set in the past. The context's timer is
// released when the last of its records is settled.
type handOver struct {
	ctx    context.Context
	cancel context.CancelFunc
	n      atomic.Int64 // its records not settled yet
}

// done settles one of ho's records.
func (ho *handOver) done() {
	if ho.n.Add(-1) == 0 {
		ho.cancel()
	}
}

var franzRecords = sync.Pool{New: func() any { return &franzRecord{Context: context.Background()} }}

// newFranzRecord returns a pooled franzRecord carrying r.
func newFranzRecord(r *Record) *franzRecord {
	fr := franzRecords.Get().(*franzRecord)
	fr.rec = r
	fr.headers = fr.headers[:0]
	for _, h := range r.Headers {
		fr.headers = append(fr.headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	fr.kr = kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Time, Context: fr}
	if len(fr.headers) > 0 {
		fr.kr.Headers = fr.headers
	}
	return fr
}

// release returns fr to the pool, keeping no reference to the record.
func (fr *franzRecord) release() {
	clear(fr.headers)
	fr.kr, fr.rec, fr.ho = kgo.Record{}, nil, nil
	franzRecords.Put(fr)
}

// send hands recs to franz-go. It is called by the producer's sender
// only, and reports through complete what cannot be handed over: a
// topic that cannot be created, a record larger than BatchBytes, and,
// once abort began, everything. It blocks only while it creates topics,
// for up to RequestTimeout; the outcomes of the others come through the
// promise, on franz-go's goroutine.
func (c *franzProduceClient) send(recs []*Record) {
	var ctx context.Context // for topic creation; made when needed
	var failed map[string]error
	var ho *handOver // made at the first record handed over
	for _, r := range recs {
		if c.ctx.Err() != nil {
			c.sendFailed(r, &notSentError{errAborted})
			continue
		}
		if err, seen := failed[r.Topic]; seen {
			c.sendFailed(r, err)
			continue
		}
		if !c.topics.isKnown(r.Topic) {
			if ctx == nil {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
				defer cancel()
			}
			if err := c.topics.ensure(ctx, r.Topic, r.produce.retention); err != nil {
				if failed == nil {
					failed = map[string]error{}
				}
				failed[r.Topic] = &notSentError{err}
				c.sendFailed(r, failed[r.Topic])
				continue
			}
		}
		if size := int64(len(r.Key) + len(r.Value) + headersSize(r.Headers)); size > c.cfg.BatchBytes {
			c.sendFailed(r, &notSentError{fmt.Errorf("%w: message of %d bytes is larger than the batch limit (BatchBytes %d)", ErrMessageTooLarge, size, c.cfg.BatchBytes)})
			continue
		}
		if ho == nil {
			ho = c.newHandOver(r.produce.deadline)
		}
		fr := newFranzRecord(r)
		fr.ho = ho
		ho.n.Add(1)
		c.outstanding.Add(1)
		c.cl.Produce(ho.ctx, &fr.kr, c.promiseFn)
	}
	if ho != nil {
		ho.done() // its own token: the last record settled releases it
	}
}

// newHandOver returns a hand-over whose records are given up on at
// deadline (accepted first, so the earliest); none for zero. It holds a
// token of its own until send has handed everything over.
func (c *franzProduceClient) newHandOver(deadline time.Time) *handOver {
	ho := &handOver{}
	if deadline.IsZero() {
		ho.ctx, ho.cancel = c.ctx, func() {}
	} else {
		ho.ctx, ho.cancel = context.WithDeadline(c.ctx, deadline)
	}
	ho.n.Store(1)
	return ho
}

// sendFailed reports r failed with err, from send.
func (c *franzProduceClient) sendFailed(r *Record, err error) {
	c.sendOne[0] = r
	c.complete(c.sendOne[:], err)
	c.sendOne[0] = nil
}

// promise is cl's promise for every record: franz-go calls it once per
// record, one call at a time.
func (c *franzProduceClient) promise(kr *kgo.Record, err error) {
	defer c.outstanding.Done()
	fr := kr.Context.(*franzRecord)
	r := fr.rec
	if fr.ho != nil {
		fr.ho.done()
	}
	if r.Time.IsZero() {
		r.Time = kr.Timestamp // a retry by the isolator keeps it
	}
	r.Partition = int(kr.Partition) // kgo's pick, set before a batch can fail too
	if err == nil {
		r.Offset = kr.Offset
	}
	fr.release()
	if err != nil && classify(err).tooLarge && !c.unsafe.Load() {
		c.refuse(r)
		return
	}
	c.one[0] = r
	c.complete(c.one[:], c.failure(err))
	c.one[0] = nil
}

// failure is the error a record that franz-go failed with err is
// reported with; nil for nil.
func (c *franzProduceClient) failure(err error) error {
	if err == nil {
		return nil
	}
	if v := c.misconfigured(err); v != nil {
		err = fmt.Errorf("%w; %w", v, err)
	}
	err = &finalError{franzOutcome(err, c.cfg.Brokers, c.cfg.DeliveryTimeout)}
	if c.idempotent && !c.unsafe.Load() {
		// franz-go failed it at a safe point: never sent, or sent and
		// answered with an error.
		err = &notSentError{err}
	}
	return err
}

// abortMisconfigured fails the records franz-go holds, at safe points,
// once the doctor found the connection settings at fault: franz-go
// would retry them until DeliveryTimeout. The client stays usable: it
// retries new records, and the doctor probes again.
func (c *franzProduceClient) abortMisconfigured(error) {
	if c.closing.Load() || c.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	_ = c.cl.AbortBufferedRecords(ctx)
}

// misconfigured returns the doctor's verdict when err is franz-go's
// abort of abortMisconfigured (not Close's), nil otherwise.
//
// Only a record franz-go failed at a safe point (the idempotent producer,
// not abandoned by Close) is known not to be written, and so may fail
// with the verdict; Close's abort is Close's.
func (c *franzProduceClient) misconfigured(err error) error {
	if c.d.doc == nil || c.closing.Load() || !c.idempotent || c.unsafe.Load() || !errors.Is(err, kgo.ErrAborting) {
		return nil
	}
	return c.d.doc.misconfigured()
}

// refuse hands r, failed as part of a batch the broker refused as too
// large, to the isolator, starting it when it does not run.
func (c *franzProduceClient) refuse(r *Record) {
	c.mu.Lock()
	c.refused = append(c.refused, r)
	start := !c.isolating
	if start {
		c.isolating = true
		c.isolator.Add(1) // before close waits: close waits for every promise first
	}
	c.mu.Unlock()
	if start {
		go c.isolate()
	}
}

// isolate is the isolator goroutine: it isolates the records refused so
// far, partition by partition, until none is left.
func (c *franzProduceClient) isolate() {
	defer c.isolator.Done()
	for {
		c.gatherRefused()
		c.mu.Lock()
		recs := c.refused
		c.refused = nil
		if len(recs) == 0 {
			c.isolating = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		slices.SortStableFunc(recs, func(a, b *Record) int {
			return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
		for len(recs) > 0 {
			n := 1
			for n < len(recs) && recs[n].Topic == recs[0].Topic && recs[n].Partition == recs[0].Partition {
				n++
			}
			if n == 1 {
				// Maybe refused alone, maybe with records whose
				// refusal comes later: it is sent alone once.
				c.failTooLarge(c.sendIsolated(recs[:1]))
			} else {
				c.split(recs[:n])
			}
			recs = recs[n:]
		}
	}
}

// gatherRefused waits, up to 100ms, until the refused records stop
// coming for 5ms: franz-go reports a refused batch one record's promise
// at a time, and a batch isolated in two takes would cost twice the
// round trips. Records refused as too large are rare; the wait is
// nothing beside the round trips it saves.
func (c *franzProduceClient) gatherRefused() {
	c.mu.Lock()
	n := len(c.refused)
	c.mu.Unlock()
	for range 20 {
		time.Sleep(5 * time.Millisecond)
		c.mu.Lock()
		now := len(c.refused)
		c.mu.Unlock()
		if now == n {
			return
		}
		n = now
	}
}

// split sends the halves of recs, records of one partition the broker
// refused together as too large, each as one batch, and halves again
// what is refused: the records the broker takes are delivered, and a
// culprit fails alone, in about 2·log₂(n) round trips. Meanwhile the
// partition's newer records go on: they may be written before these.
func (c *franzProduceClient) split(recs []*Record) {
	half := len(recs) / 2
	for _, part := range [2][]*Record{recs[:half], recs[half:]} {
		switch refused := c.sendIsolated(part); len(refused) {
		case 0:
		case 1:
			c.failTooLarge(refused) // refused in a batch of its own
		default:
			c.split(refused)
		}
	}
}

// failTooLarge reports recs, refused alone, failed as too large.
func (c *franzProduceClient) failTooLarge(recs []*Record) {
	for _, r := range recs {
		c.complete([]*Record{r}, &finalError{fmt.Errorf("%w: the broker refused it, alone in its batch", ErrMessageTooLarge)})
	}
}

// sendIsolated sends recs, of one partition, on the isolating client, in
// as few batches as BatchBytes allows, and waits for their outcomes. It
// reports every outcome but the refusals as too large, and returns the
// records refused so.
func (c *franzProduceClient) sendIsolated(recs []*Record) (refused []*Record) {
	cl, err := c.isolatingClient()
	if err != nil {
		// The broker refused the batch they were in: they are not in
		// the topic, and they will not be sent again.
		for _, r := range recs {
			c.complete([]*Record{r}, &notSentError{&finalError{err}})
		}
		return nil
	}
	errs := make([]error, len(recs))
	var done sync.WaitGroup
	for i, r := range recs {
		kr := kgoRecordOf(r)
		kr.Partition = int32(r.Partition) // the manual partitioner keeps it there
		done.Add(1)
		cl.Produce(c.ctx, kr, func(kr *kgo.Record, err error) {
			if err == nil {
				r.Offset = kr.Offset
			}
			errs[i] = err
			done.Done()
		})
	}
	_ = cl.Flush(c.ctx) // on abort, its promises come with abort's errors
	done.Wait()
	var ok []*Record
	for i, r := range recs {
		switch err := errs[i]; {
		case err == nil:
			ok = append(ok, r)
		case classify(err).tooLarge && !c.unsafe.Load():
			refused = append(refused, r)
		default:
			c.complete([]*Record{r}, c.failure(err))
		}
	}
	if len(ok) > 0 {
		c.complete(ok, nil)
	}
	return refused
}

// isolatingClient returns the client that sends halves of refused
// batches, making it at the first call: flushed by hand, so that a half
// goes as one batch, and partitioned by hand, so that it stays on its
// partition. It fails once abort or close began.
func (c *franzProduceClient) isolatingClient() (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return nil, fmt.Errorf("%w: Close gave up before it was sent again, apart from the batch the broker refused as too large: %w", ErrClosed, errAborted)
	}
	if c.iso == nil {
		cl, err := kgo.NewClient(slices.Concat(c.opts, []kgo.Opt{kgo.ManualFlushing(), kgo.RecordPartitioner(kgo.ManualPartitioner())})...)
		if err != nil {
			return nil, fmt.Errorf("%w: its batch was refused, and no client could send it apart: %w", ErrMessageTooLarge, err)
		}
		c.iso = cl
	}
	return c.iso, nil
}

// abort makes everything the clients still hold complete at once. For
// up to safeAbortWait, franz-go fails records at safe points (not
// written); then it abandons the rest, in flight or not, reported as
// possibly written (so is a record failed safely whose promise runs
// only after that: conservative), cuts the connections and sends
// nothing more. It returns within about safeAbortWait. Calling it again
// does nothing.
func (c *franzProduceClient) abort() {
	c.closing.Store(true)
	c.abortOnce.Do(func() {
		c.mu.Lock()
		clients := []*kgo.Client{c.cl, c.iso}
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), safeAbortWait)
		var safe sync.WaitGroup
		for _, cl := range clients {
			if cl != nil {
				safe.Go(func() { _ = cl.AbortBufferedRecords(ctx) })
			}
		}
		safe.Wait()
		cancel()

		c.unsafe.Store(true)
		c.mu.Lock()
		c.cancel() // no isolating client is made after this
		iso := c.iso
		c.mu.Unlock()
		c.cl.UnsafeAbortBufferedRecords()
		if iso != nil {
			iso.UnsafeAbortBufferedRecords()
		}
		c.d.dial.abort()
	})
}

// close closes the clients and returns once every record handed over
// has been reported: at once, after abort. It does not flush (the
// producer waited already): what is left fails, reported as possibly
// written. Calling it again does nothing.
func (c *franzProduceClient) close() error {
	c.closing.Store(true)
	c.closeOnce.Do(func() {
		c.unsafe.Store(true)
		c.mu.Lock()
		c.cancel()
		iso := c.iso
		c.mu.Unlock()
		c.cl.Close()
		c.outstanding.Wait() // every promise has run: no isolator starts after
		if iso != nil {
			iso.Close()
		}
		c.isolator.Wait()
	})
	return nil
}

// kgoRecordOf returns a new kgo record of r (topic, key, value, time,
// headers), for the clients that do not pool theirs: the isolating one
// and the transactional ones.
func kgoRecordOf(r *Record) *kgo.Record {
	kr := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Time}
	if len(r.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	return kr
}
