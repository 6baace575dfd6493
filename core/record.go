package core

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// Record is a Kafka record: what a subscription's handler consumes, and
// what the producer sends (Application.Produce). The producer keeps
// bookkeeping of its own in unexported fields, so a *Record handed to
// Produce belongs to the producer until its Promise is called.
type Record struct {
	// Topic is the record's topic: the topic prefix and the stream.
	Topic string
	// Partition is the partition the record was read from, or written
	// to once acknowledged.
	Partition int
	// Offset is the record's offset in its partition: where it was read,
	// or, once acknowledged, written.
	Offset int64
	// HighWaterMark is the partition's end offset when the record was
	// fetched; 0 on produced records.
	HighWaterMark int64
	// Key picks the partition (murmur2, as the Java client and kafkaesk);
	// nil spreads records over the partitions.
	Key []byte
	// Value is the record's value: a kafkaesk envelope, or raw bytes.
	Value []byte
	// Headers are the record's headers, in order.
	Headers []Header
	// Time is the record's timestamp: set by the broker on consumed
	// records, and by the producer at hand-over when left zero.
	Time time.Time

	produce produceState // the producer's; zero outside it
	trace   sendTrace    // the send span, while the producer has it; zero outside
	control bool         // a transaction marker, fetched on franz-go; never handed to fn nor a handler
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// PublishOption sets a per-message option of the publishing methods.
// Most calls pass none.
type PublishOption interface{ apply(*Record) }

type publishOption func(*Record)

func (f publishOption) apply(r *Record) { f(r) }

// Key sets the record key, which picks the partition (murmur2, as the Java
// client and kafkaesk do). Default: no key, a random partition.
func Key(key []byte) PublishOption {
	return publishOption(func(r *Record) { r.Key = key })
}

// Headers adds record headers. kafkaesk adds none of its own.
func Headers(headers ...Header) PublishOption {
	return publishOption(func(r *Record) { r.Headers = append(r.Headers, headers...) })
}

// applyOptions applies opts to r. It is a function of its own so that
// only a publish with options pays for r's escape to the heap.
func applyOptions(r *Record, opts []PublishOption) {
	for _, o := range opts {
		o.apply(r)
	}
}

// recordOf returns the Record of a message kafka-go fetched.
func recordOf(m *kafka.Message) Record {
	r := Record{
		Topic:         m.Topic,
		Partition:     m.Partition,
		Offset:        m.Offset,
		HighWaterMark: m.HighWaterMark,
		Key:           m.Key,
		Value:         m.Value,
		Time:          m.Time,
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]Header, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = Header(h)
		}
	}
	return r
}

// kafkaHeaders returns h as kafka-go's headers; nil for none, so that a
// record without headers costs nothing.
func kafkaHeaders(h []Header) []kafka.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]kafka.Header, len(h))
	for i, x := range h {
		out[i] = kafka.Header(x)
	}
	return out
}
