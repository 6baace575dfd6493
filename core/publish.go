package core

import (
	"context"
	"fmt"
	"reflect"

	"github.com/segmentio/kafka-go"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonenc"
)

// Header is a Kafka record header.
type Header = kafka.Header

// PublishOption sets a per-message option of Publish, PublishAsync and
// RawPublish. Most calls pass none.
type PublishOption interface{ apply(*kafka.Message) }

type publishOption func(*kafka.Message)

func (f publishOption) apply(m *kafka.Message) { f(m) }

// Key sets the record key, which picks the partition (murmur2, as the Java
// client and kafkaesk do). Default: no key, a random partition.
func Key(key []byte) PublishOption {
	return publishOption(func(m *kafka.Message) { m.Key = key })
}

// Headers adds record headers. kafkaesk adds none of its own.
func Headers(headers ...Header) PublishOption {
	return publishOption(func(m *kafka.Message) { m.Headers = append(m.Headers, headers...) })
}

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
// Publish returns when the message is acknowledged, fails (a
// *PublishError naming the topic), or ctx ends; in the last case the
// message may still be delivered.
func (a *Application) Publish(ctx context.Context, stream string, value any, opts ...PublishOption) error {
	msg, err := a.prepare(ctx, stream, value)
	if err != nil {
		return err
	}
	return a.sendAndWait(ctx, msg, opts)
}

// PublishAsync is Publish without waiting for the acknowledgement: it
// returns once the message is validated and handed to the producer, and
// calls done (if not nil) with the outcome. It blocks only while the
// producer holds MaxBufferedMessages unacknowledged messages, or while the
// stream's topic is first created.
func (a *Application) PublishAsync(ctx context.Context, stream string, value any, done Delivery, opts ...PublishOption) error {
	msg, err := a.prepare(ctx, stream, value)
	if err != nil {
		return err
	}
	if done != nil {
		msg.WriterData = done
	}
	return a.send(ctx, msg, opts)
}

// RawPublish sends value, already encoded, to stream as it is: no
// envelope, no validation and no topic creation (the broker's
// auto-creation applies), as kafkaesk's raw_publish. It waits for the
// acknowledgement, as Publish does.
func (a *Application) RawPublish(ctx context.Context, stream string, value []byte, opts ...PublishOption) error {
	return a.sendAndWait(ctx, kafka.Message{Topic: a.Topic(stream), Value: value}, opts)
}

// RawPublishAsync is RawPublish without waiting: done (if not nil) is
// called with the outcome.
func (a *Application) RawPublishAsync(ctx context.Context, stream string, value []byte, done Delivery, opts ...PublishOption) error {
	msg := kafka.Message{Topic: a.Topic(stream), Value: value}
	if done != nil {
		msg.WriterData = done
	}
	return a.send(ctx, msg, opts)
}

// RawPublishBatchAsync is RawPublishAsync for many values at once, in
// order: one hand-over to the producer, far cheaper per message than one
// call each. done (if not nil) is called once per value with that value
// and its outcome, on the producer's goroutine, in no guaranteed order
// across partitions. opts apply to every message.
//
// The hand-over is all or nothing: on an error none of values was sent
// and done is never called. It blocks as RawPublishAsync does, while the
// producer's buffer has no room for all of values.
func (a *Application) RawPublishBatchAsync(ctx context.Context, stream string, values [][]byte, done BatchDelivery, opts ...PublishOption) error {
	if len(values) == 0 {
		return nil
	}
	if a.closed.Load() {
		return ErrClosed
	}
	topic := a.Topic(stream)
	msgs := a.producer.messages(len(values))
	defer a.producer.recycleMessages(msgs)
	var data any // a nil BatchDelivery must not make WriterData non-nil
	if done != nil {
		data = done
	}
	for _, v := range values {
		*msgs = append(*msgs, kafka.Message{Topic: topic, Value: v, WriterData: data})
		// Options apply in place: a message of its own, whose address an
		// option takes, would be allocated on the heap for each value.
		msg := &(*msgs)[len(*msgs)-1]
		for _, o := range opts {
			o.apply(msg)
		}
	}
	if a.topics.isKnown(topic) {
		return a.producer.sendBatch(ctx, *msgs, a.cfg.RequestTimeout)
	}
	rctx, cancel := a.requestContext(ctx)
	defer cancel()
	if err := a.producer.sendBatch(rctx, *msgs, a.cfg.RequestTimeout); err != nil {
		return err
	}
	a.topics.markKnown(topic)
	return nil
}

// prepare encodes and validates value, starts the application if needed
// and makes sure the stream's topic exists.
func (a *Application) prepare(ctx context.Context, stream string, value any) (kafka.Message, error) {
	if a.closed.Load() {
		return kafka.Message{}, ErrClosed
	}
	schema, err := a.schemaOf(value)
	if err != nil {
		return kafka.Message{}, err
	}
	envelope, err := encodeEnvelope(schema, value)
	if err != nil {
		return kafka.Message{}, err
	}
	topic := a.Topic(stream)
	if !a.started.Load() || !a.topics.isKnown(topic) {
		rctx, cancel := a.requestContext(ctx)
		defer cancel()
		if err := a.Start(rctx); err != nil {
			return kafka.Message{}, err
		}
		if err := a.topics.ensure(rctx, topic, schema.Retention); err != nil {
			return kafka.Message{}, err
		}
	}
	return kafka.Message{Topic: topic, Value: envelope}, nil
}

// send applies opts and hands msg to the producer. Only a topic not seen
// yet may need the network (metadata), so only then is the call bounded
// by RequestTimeout; a known topic is served from the metadata cache.
func (a *Application) send(ctx context.Context, msg kafka.Message, opts []PublishOption) error {
	if a.closed.Load() {
		return ErrClosed
	}
	if len(opts) > 0 {
		msg = withOptions(msg, opts)
	}
	if a.topics.isKnown(msg.Topic) {
		return a.producer.send(ctx, msg, a.cfg.RequestTimeout)
	}
	rctx, cancel := a.requestContext(ctx)
	defer cancel()
	if err := a.producer.send(rctx, msg, a.cfg.RequestTimeout); err != nil {
		return err
	}
	// The writer found the topic's partitions, so it exists.
	a.topics.markKnown(msg.Topic)
	return nil
}

// withOptions returns m with opts applied. It is a function of its own so
// that only a publish with options pays for the copy the options take
// the address of (which escapes to the heap).
func withOptions(m kafka.Message, opts []PublishOption) kafka.Message {
	for _, o := range opts {
		o.apply(&m)
	}
	return m
}

// sendAndWait sends msg and waits for its acknowledgement or ctx.
func (a *Application) sendAndWait(ctx context.Context, msg kafka.Message, opts []PublishOption) error {
	w := waiterPool.Get().(*waiter)
	msg.WriterData = w
	if err := a.send(ctx, msg, opts); err != nil {
		waiterPool.Put(w)
		return err
	}
	select {
	case err := <-w.done:
		waiterPool.Put(w)
		return err
	case <-ctx.Done():
		// w is abandoned: the completion still writes to its buffer.
		return &PublishError{Topic: msg.Topic, Err: fmt.Errorf("waiting for acknowledgement: %w", ctx.Err())}
	}
}

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
