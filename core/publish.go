package core

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonenc"
)

// Publish sends value to stream in the kafkaesk envelope and waits for the
// broker's acknowledgement. value is a struct (or a pointer to one); its
// schema key is the one registered for its type, or "TypeName:1" for an
// unregistered type, as kafkaesk does.
//
// Before anything is sent, the data is validated against the registered
// JSON schema; a value that fails gets a *ValidationError naming each
// failing field. The stream's topic (prefix + stream) is created on first
// use, with the schema's retention. Many goroutines publishing at once
// share producer batches.
//
// Publish returns when the message is acknowledged, fails for good (a
// *PublishError naming the topic; retriable failures are retried by the
// producer first, for up to Config.DeliveryTimeout), or ctx ends. When
// ctx ends first, a message that is not on its way to the broker is
// taken back and reported failed (it is not in the topic); one that a
// request carries gets an error wrapping ErrOutcomeUnknown, and may
// still be delivered.
func (a *Application) Publish(ctx context.Context, stream string, value any, opts ...PublishOption) error {
	rec, err := a.prepare(ctx, stream, value)
	if err != nil {
		return err
	}
	applyOptions(rec, opts)
	return a.produceAndWait(ctx, rec)
}

// PublishAsync is Publish without waiting for the acknowledgement: it
// returns once the message is validated and accepted by the producer, and
// calls done (if not nil) with the outcome. It waits only while the
// producer's buffer is full (MaxBufferedMessages messages whose outcome
// is not known), until ctx ends or, when ctx has no deadline, for at most
// RequestTimeout; then it returns an error wrapping ErrBufferFull. The
// first publish of an application also runs Start (its hooks, and the
// creation of its schemas' streams), bounded the same way.
func (a *Application) PublishAsync(ctx context.Context, stream string, value any, done Delivery, opts ...PublishOption) error {
	rec, err := a.prepare(ctx, stream, value)
	if err != nil {
		return err
	}
	rec.produce.done = callback(done)
	applyOptions(rec, opts)
	return a.produce(ctx, rec)
}

// RawPublish sends value, already encoded, to stream as it is: no
// envelope and no validation, as kafkaesk's raw_publish. The stream's
// topic is created on first use, as by Publish. It waits for the
// acknowledgement, as Publish does.
func (a *Application) RawPublish(ctx context.Context, stream string, value []byte, opts ...PublishOption) error {
	rec := &Record{Topic: a.Topic(stream), Value: value}
	applyOptions(rec, opts)
	return a.produceAndWait(ctx, rec)
}

// RawPublishAsync is RawPublish without waiting: done (if not nil) is
// called with the outcome. It waits as PublishAsync does.
func (a *Application) RawPublishAsync(ctx context.Context, stream string, value []byte, done Delivery, opts ...PublishOption) error {
	rec := &Record{Topic: a.Topic(stream), Value: value}
	rec.produce.done = callback(done)
	applyOptions(rec, opts)
	return a.produce(ctx, rec)
}

// RawPublishBatchAsync is RawPublishAsync for many values at once, in
// order: one hand-over to the producer, far cheaper per message than one
// call each (one allocation for the whole batch). done (if not nil) is
// called once per value with that value and its outcome, on a producer
// goroutine, in no guaranteed order across partitions. opts apply to
// every message.
//
// The hand-over is all or nothing: on an error none of values was
// accepted and done is never called. It waits as PublishAsync does, while
// the producer's buffer has no room for all of values.
func (a *Application) RawPublishBatchAsync(ctx context.Context, stream string, values [][]byte, done BatchDelivery, opts ...PublishOption) error {
	if len(values) == 0 {
		return nil
	}
	if a.closed.Load() {
		return ErrClosed
	}
	topic := a.Topic(stream)
	recs := make([]Record, len(values))
	ptrs := a.recordPointers(len(values))
	defer a.recyclePointers(ptrs)
	for i, v := range values {
		r := &recs[i]
		r.Topic, r.Value = topic, v
		r.produce.done = callback(done)
		// Options apply in place: a record of its own, whose address an
		// option takes, would be allocated on the heap for each value.
		applyOptions(r, opts)
		*ptrs = append(*ptrs, r)
	}
	start := a.metrics.now()
	var err error
	if a.spools((*ptrs)[0]) {
		err = a.acceptOrSpool(ctx, start, *ptrs...)
	} else if err = a.producer.acquire(ctx, len(values)); err != nil {
		err = &PublishError{Topic: topic, Err: err}
	} else {
		err = a.accept(ctx, start, *ptrs...)
	}
	a.metrics.enqueuedN(topic, start, len(values), err)
	return err
}

// Produce hands rec to the producer and returns at once, as franz-go's
// Produce does: promise (if not nil) is called with rec and its outcome
// once the broker acknowledged it, or it failed for good after the
// producer's retries. rec.Topic is the whole topic name (see
// Application.Topic); Key, Value, Headers and Time are sent as they are,
// and the topic is created on first use. rec belongs to the producer
// until promise is called: it must not be changed or handed over again
// meanwhile.
//
// When ctx carries a trace (Config.Propagator), its context is appended
// to rec.Headers, as by every publishing call, except for a key rec
// already has: a record produced again keeps the trace context it got
// the first time.
//
// Produce waits only while the producer's buffer is full, as
// PublishAsync does; TryProduce never waits.
func (a *Application) Produce(ctx context.Context, rec *Record, promise Promise) error {
	rec.produce.done = callback(promise)
	return a.produce(ctx, rec)
}

// TryProduce is Produce that never waits: when the producer's buffer is
// full it returns an error wrapping ErrBufferFull at once, and promise is
// not called. Having no context, it adds no trace context and starts no
// span.
func (a *Application) TryProduce(rec *Record, promise Promise) error {
	if a.closed.Load() {
		return ErrClosed
	}
	rec.produce.done = callback(promise)
	start := a.metrics.now()
	var err error
	if a.spools(rec) {
		err = a.producer.acceptOrSpool(start, rec)
		if errors.Is(err, ErrBufferFull) {
			err = &PublishError{Topic: rec.Topic, Err: err}
		}
	} else if !a.producer.tryAcquire(1) {
		err = &PublishError{Topic: rec.Topic, Err: ErrBufferFull}
	} else {
		err = a.producer.accept(start, rec)
	}
	a.metrics.enqueuedN(rec.Topic, start, 1, err)
	return err
}

// ProduceToSpool is TryProduce for a caller whose own bound on memory is
// reached (sloghandler's queue): with a spool (Config.Spool), rec goes to
// the spool whatever room the buffer has, and the messages handed over
// after it follow it there until the spool is empty again; promise gets
// ErrSpooled once it is written. Without a spool, or when the spool is
// full, it returns an error wrapping ErrBufferFull. It never waits.
func (a *Application) ProduceToSpool(rec *Record, promise Promise) error {
	if a.closed.Load() {
		return ErrClosed
	}
	rec.produce.done = callback(promise)
	if a.producer.spool == nil {
		return &PublishError{Topic: rec.Topic, Err: fmt.Errorf("%w: no spool (Config.Spool)", ErrBufferFull)}
	}
	start := a.metrics.now()
	err := a.producer.spoolNow(start, rec)
	if errors.Is(err, ErrBufferFull) {
		err = &PublishError{Topic: rec.Topic, Err: err}
	}
	a.metrics.enqueuedN(rec.Topic, start, 1, err)
	return err
}

// callback returns f as the producer keeps it: nil for none, so that a
// nil func is never stored in the interface as a non-nil value.
func callback[F Promise | Delivery | BatchDelivery](f F) any {
	if f == nil {
		return nil
	}
	return f
}

// ProducerStats returns the counters of the application's producer.
func (a *Application) ProducerStats() ProducerStats { return a.producer.stats() }

// prepare encodes and validates value, starts the application if needed,
// and returns its record, with the retention the topic gets should the
// producer create it.
func (a *Application) prepare(ctx context.Context, stream string, value any) (*Record, error) {
	if a.closed.Load() {
		return nil, ErrClosed
	}
	schema, err := a.schemaOf(value)
	if err != nil {
		return nil, err
	}
	envelope, err := encodeEnvelope(schema, value)
	if err != nil {
		return nil, err
	}
	if !a.started.Load() {
		rctx, cancel := a.requestContext(ctx)
		defer cancel()
		if err := a.Start(rctx); err != nil {
			return nil, err
		}
	}
	rec := &Record{Topic: a.Topic(stream), Value: envelope}
	rec.produce.retention = schema.Retention
	return rec, nil
}

// produce waits for room and hands rec to the producer, with the trace
// context of ctx in its headers and its send span started (see
// traceSend): every publishing call but TryProduce and the batch goes
// through here.
func (a *Application) produce(ctx context.Context, rec *Record) error {
	if a.closed.Load() {
		return ErrClosed
	}
	start := a.metrics.now()
	var err error
	if a.spools(rec) {
		err = a.acceptOrSpool(ctx, start, rec)
	} else if err = a.producer.acquire(ctx, 1); err != nil {
		err = &PublishError{Topic: rec.Topic, Err: err}
	} else {
		err = a.accept(ctx, start, rec)
	}
	a.metrics.enqueuedN(rec.Topic, start, 1, err)
	return err
}

// spools reports whether rec, and the records of its call, go through
// the producer's spool: there is one, and the call does not wait for the
// outcome. The producer then takes them without waiting for room (see
// SpoolConfig).
func (a *Application) spools(rec *Record) bool {
	return a.producer.spool != nil && spoolable(rec)
}

// acceptOrSpool is accept for records that spools accepted: no slots are
// held, and producer.acceptOrSpool puts them in memory or in the spool.
func (a *Application) acceptOrSpool(ctx context.Context, start time.Time, recs ...*Record) error {
	started := false
	if traceable(ctx) {
		for _, r := range recs {
			started = a.traceSend(ctx, r) || started
		}
	}
	err := a.producer.acceptOrSpool(start, recs...)
	if err != nil && started {
		for _, r := range recs {
			endRecordSpan(r, err)
		}
	}
	if errors.Is(err, ErrBufferFull) {
		err = &PublishError{Topic: recs[0].Topic, Err: err}
	}
	return err
}

// accept hands recs, for which slots are held, to the producer, with
// the trace context of ctx in their headers and their send spans started
// (see traceSend); spans of records the producer refuses end at once.
// Outside a trace it is producer.accept. start is as for producer.accept.
func (a *Application) accept(ctx context.Context, start time.Time, recs ...*Record) error {
	if !traceable(ctx) {
		return a.producer.accept(start, recs...)
	}
	started := false
	for _, r := range recs {
		started = a.traceSend(ctx, r) || started
	}
	err := a.producer.accept(start, recs...)
	if err != nil && started {
		for _, r := range recs {
			endRecordSpan(r, err)
		}
	}
	return err
}

// produceAndWait hands rec to the producer and waits for its outcome or
// ctx. When ctx ends first, a message not yet sent (or waiting to be
// sent again) is taken back and reported failed, with the last attempt's
// error; one that a request carries stays in the producer's hands, and
// the error wraps ErrOutcomeUnknown.
func (a *Application) produceAndWait(ctx context.Context, rec *Record) error {
	w := waiterPool.Get().(*waiter)
	rec.produce.done = w
	if err := a.produce(ctx, rec); err != nil {
		waiterPool.Put(w)
		return err
	}
	select {
	case err := <-w.done:
		waiterPool.Put(w)
		return err
	case <-ctx.Done():
		if a.producer.withdraw(rec, ctx.Err()) {
			err := <-w.done
			waiterPool.Put(w)
			return err
		}
		// A request carries it: w is abandoned, and the outcome still
		// goes to its buffer.
		return &PublishError{Topic: rec.Topic, Err: fmt.Errorf("%w: stopped waiting for the acknowledgement: %w", ErrOutcomeUnknown, ctx.Err())}
	}
}

// recordPointers returns an empty slice with room for n record pointers,
// from a small free list that, unlike a sync.Pool, the garbage collector
// does not empty.
func (a *Application) recordPointers(n int) *[]*Record {
	select {
	case s := <-a.spare:
		if cap(*s) >= n {
			return s
		}
	default:
	}
	s := make([]*Record, 0, n)
	return &s
}

func (a *Application) recyclePointers(s *[]*Record) {
	if cap(*s) > maxSpareRecords {
		return
	}
	clear(*s)
	*s = (*s)[:0]
	select {
	case a.spare <- s:
	default:
	}
}

// spareRecords is how many pointer slices of batch hand-overs are kept;
// maxSpareRecords caps the length of one kept.
const (
	spareRecords    = 4
	maxSpareRecords = 1 << 14
)

// requestContext bounds ctx by RequestTimeout when it has no deadline, so
// that an unreachable broker is an error, never a hang.
func (a *Application) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, a.cfg.RequestTimeout)
}

// schemaOf returns the schema of value's type: registered, or ad hoc.
func (a *Application) schemaOf(value any) (*Schema, error) {
	t := reflect.TypeOf(value)
	if t == nil {
		return nil, fmt.Errorf("kafkaesk: cannot publish a nil value")
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s := a.reg.schemaFor(t); s != nil {
		return s, nil
	}
	if s, ok := a.adHoc.Load(t); ok {
		return s.(*Schema), nil
	}
	s, err := adHocSchema(t)
	if err != nil {
		return nil, err
	}
	actual, _ := a.adHoc.LoadOrStore(t, s)
	return actual.(*Schema), nil
}

// encodeEnvelope encodes value's data, validates it unless its type is
// valid by construction, and returns the envelope in a new slice (kafka-go
// holds it until the write completes).
func encodeEnvelope(s *Schema, value any) ([]byte, error) {
	// encoding/json, HTML escaping off: segmentio/encoding is twice as fast
	// but writes time.Duration as a string and leaves json.RawMessage
	// uncompacted (TestFastJSONWritesDifferently), and the envelope is a
	// byte-for-byte contract.
	e := jsonenc.Get()
	defer jsonenc.Put(e)
	data, err := e.Encode(value)
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: encode %s: %w", s.key, err)
	}
	if string(data) == "null" {
		return nil, fmt.Errorf("kafkaesk: cannot publish a nil %T as %s: data must be a JSON object", value, s.key)
	}
	if !s.byConstruction {
		if err := s.Validate(data); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, len(`{"schema":"","data":}`)+len(s.key)+len(data))
	return AppendEnvelope(out, s.key, data), nil
}

// SpoolStats returns the counters of the producer's disk spool; the zero
// SpoolStats without one (Config.Spool).
func (a *Application) SpoolStats() SpoolStats {
	if a.producer.spool == nil {
		return SpoolStats{}
	}
	return a.producer.spool.stats()
}
