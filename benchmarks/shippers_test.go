package benchmarks_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	slogkafka "github.com/samber/slog-kafka"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesk-go/kafkaesk/benchmarks"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// The shippers: each gets the shared event from the program to the broker
// its own way, onto a topic of its own with the same partitions.
const (
	nameKafkaGo     = "kafka-go-raw"         // the baseline: raw async Writer, pre-encoded bytes
	nameSloghandler = "sloghandler"          // on core's default client, kafka-go
	nameSlogFranz   = "sloghandler-franz-go" // on core's franz-go client
	nameSlogKafka   = "slog-kafka"
	nameKgo         = "franz-go-kgo"
	nameHandBuilt   = "hand-built" // slog.JSONHandler into a raw async kafka-go Writer

	partitions = 4
)

type shipper struct {
	name string
	// open starts the shipper on the topic prefix+name, already created;
	// the cleanup of tb closes everything it started.
	open func(tb testing.TB, brokers []string, prefix string) shipment
}

// shipment is an open shipper.
type shipment struct {
	// send ships one event. It is called from several goroutines at once.
	send func()
	// settle waits until each of the n events sent is acknowledged or has
	// failed, or ctx ends, and counts them.
	settle func(ctx context.Context, n int64) (tally, error)
}

// tally counts the outcomes of the events sent. unknown is sloghandler's
// only: events given up on while a request carried them (they may be in
// the topic).
type tally struct{ acked, failed, unknown, dropped int64 }

// The order is the order of the sub-benchmarks: the baseline first.
var shippers = []shipper{
	{nameKafkaGo, openKafkaGo},
	{nameSloghandler, func(tb testing.TB, brokers []string, prefix string) shipment {
		return openSloghandler(tb, brokers, prefix, nameSloghandler, core.ClientKafkaGo)
	}},
	{nameSlogFranz, func(tb testing.TB, brokers []string, prefix string) shipment {
		return openSloghandler(tb, brokers, prefix, nameSlogFranz, core.ClientFranzGo)
	}},
	{nameSlogKafka, openSlogKafka},
	{nameKgo, openKgo},
	{nameHandBuilt, openHandBuilt},
}

// openKafkaGo: the raw kafka-go async Writer with exactly the settings of
// core's producer (core/producer.go), sending the bytes and the key that
// sloghandler sends: the ceiling for our client.
func openKafkaGo(tb testing.TB, brokers []string, prefix string) shipment {
	acks := new(ackCounter)
	w := rawWriter(tb, kafka.TCP(brokers...), nil, "", acks)
	msg := kafka.Message{Topic: prefix + nameKafkaGo, Key: benchmarks.Key(), Value: benchmarks.Encoded()}
	ctx := context.Background()
	return shipment{
		send: func() {
			if err := w.WriteMessages(ctx, msg); err != nil {
				acks.add(1, err)
			}
		},
		settle: closeAndWait(w, acks),
	}
}

// openSloghandler: our handler with its defaults on core's client, to
// the stream name, except that a full queue makes the caller wait
// instead of dropping (Block): the benchmark measures what is delivered,
// and counts drops should there be any.
func openSloghandler(tb testing.TB, brokers []string, prefix, name, client string) shipment {
	app, err := core.New(core.Config{
		Brokers:     brokers,
		TopicPrefix: prefix,
		Partitions:  partitions,
		Client:      client,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := sloghandler.New(app, name, &sloghandler.Options{
		WhenFull:     sloghandler.Block,
		BlockTimeout: time.Minute,
		Warnings:     io.Discard, // delivery problems show in Stats
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Close(ctx)
		app.Close(ctx)
	})
	l := benchmarks.NewLogger(h)
	return shipment{
		send: func() { benchmarks.Log(l) },
		settle: func(ctx context.Context, _ int64) (tally, error) {
			err := h.Flush(ctx)
			s := h.Stats()
			return tally{acked: s.Published, failed: s.Failed, unknown: s.Unknown, dropped: s.Dropped}, err
		},
	}
}

// rawWriter returns an async kafka-go Writer with exactly the settings of
// core's producer (core/producer.go) to addr, on transport (nil: a new
// kafka.Transport), writing to topic (empty: each message's), counting
// its completions in acks (nil: none). The cleanup of tb closes it.
func rawWriter(tb testing.TB, addr net.Addr, transport kafka.RoundTripper, topic string, acks *ackCounter) *kafka.Writer {
	tr := &kafka.Transport{}
	w := &kafka.Writer{
		Addr:         addr,
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		BatchSize:    core.DefaultBatchSize,
		BatchBytes:   core.DefaultBatchBytes,
		BatchTimeout: core.DefaultBatchTimeout,
		ReadTimeout:  core.DefaultRequestTimeout,
		WriteTimeout: core.DefaultRequestTimeout,
		RequiredAcks: kafka.RequireAll,
		Transport:    cmp.Or[kafka.RoundTripper](transport, tr),
		Async:        true,
	}
	if acks != nil {
		w.Completion = func(msgs []kafka.Message, err error) { acks.add(len(msgs), err) }
	}
	tb.Cleanup(func() {
		w.Close()
		tr.CloseIdleConnections()
	})
	return w
}

// openHandBuilt: what a user writes in twenty lines instead of a
// library: slog.JSONHandler writing each record's JSON line into a raw
// async kafka-go Writer with core's producer settings, the hostname as
// the key. It encodes less than sloghandler (no kafkaesk envelope, no
// log model's fields merged, no Python level names) and keeps no
// accounting of its own: the bar sloghandler must not be slower than.
func openHandBuilt(tb testing.TB, brokers []string, prefix string) shipment {
	acks := new(ackCounter)
	w := rawWriter(tb, kafka.TCP(brokers...), nil, prefix+nameHandBuilt, acks)
	h := slog.NewJSONHandler(kafkaLines{w: w, key: benchmarks.Key()}, nil)
	l := benchmarks.NewLogger(errHook{h, func(err error) { acks.add(1, err) }})
	return shipment{
		send:   func() { benchmarks.Log(l) },
		settle: closeAndWait(w, acks),
	}
}

// kafkaLines is the hand-built shipper's io.Writer: each Write, one JSON
// line from slog.JSONHandler, becomes a message. The handler reuses its
// buffer, so the line is copied.
type kafkaLines struct {
	w   *kafka.Writer
	key []byte
}

func (k kafkaLines) Write(p []byte) (int, error) {
	if err := k.w.WriteMessages(context.Background(), kafka.Message{Key: k.key, Value: bytes.Clone(p)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// openSlogKafka: samber/slog-kafka set up as its README shows, on an
// async kafka-go Writer built by kafka.NewWriter (the README's loggers,
// which print every batch, left out). Its Completion counts the
// acknowledgements, and Handle's errors (dropped by slog.Logger) count as
// failures.
func openSlogKafka(tb testing.TB, brokers []string, prefix string) shipment {
	acks := new(ackCounter)
	w := kafka.NewWriter(kafka.WriterConfig{
		Brokers:     brokers,
		Topic:       prefix + nameSlogKafka,
		Dialer:      &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true},
		Async:       true,
		Balancer:    &kafka.Hash{},
		MaxAttempts: 3,
	})
	w.Completion = func(msgs []kafka.Message, err error) { acks.add(len(msgs), err) }
	tb.Cleanup(func() { w.Close() })
	h := slogkafka.Option{Level: slog.LevelDebug, KafkaWriter: w}.NewKafkaHandler()
	l := benchmarks.NewLogger(errHook{h, func(err error) { acks.add(1, err) }})
	return shipment{
		send:   func() { benchmarks.Log(l) },
		settle: closeAndWait(w, acks),
	}
}

// openKgo: franz-go's producer with its defaults (idempotent, acks from
// all in-sync replicas, 10ms linger) but no compression, as the kafka-go
// writers (its default, snappy, would put fewer bytes on the wire); the
// same bytes and key as sloghandler; Produce with a promise, and Flush.
func openKgo(tb testing.TB, brokers []string, prefix string) shipment {
	acks := new(ackCounter)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(prefix+nameKgo),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	key, value := benchmarks.Key(), benchmarks.Encoded()
	promise := func(_ *kgo.Record, err error) { acks.add(1, err) }
	ctx := context.Background()
	return shipment{
		// A record belongs to the client until its promise runs.
		send: func() { cl.Produce(ctx, &kgo.Record{Key: key, Value: value}, promise) },
		// Flush returns once every promise has run.
		settle: func(ctx context.Context, n int64) (tally, error) {
			if err := cl.Flush(ctx); err != nil {
				t, _ := acks.settled(n)
				return t, err
			}
			return acks.settled(n)
		},
	}
}

// closeAndWait settles a kafka-go Writer's shipment: Close sends the
// partial batches at once (rather than after BatchTimeout, one second in
// slog-kafka's README setup), as kgo's Flush does, and returns once every
// batch's Completion has run.
func closeAndWait(w *kafka.Writer, acks *ackCounter) func(context.Context, int64) (tally, error) {
	return func(_ context.Context, n int64) (tally, error) {
		w.Close()
		return acks.settled(n)
	}
}

// ackCounter counts the outcomes the producers report from their own
// goroutines.
type ackCounter struct {
	acked, failed atomic.Int64
	errMu         sync.Mutex
	firstErr      error // guarded by errMu
}

func (a *ackCounter) add(n int, err error) {
	if err == nil {
		a.acked.Add(int64(n))
		return
	}
	a.errMu.Lock()
	if a.firstErr == nil {
		a.firstErr = err
	}
	a.errMu.Unlock()
	a.failed.Add(int64(n))
}

// settled returns the count of n events whose producer has reported them
// all (closed or flushed), and the first error reported.
func (a *ackCounter) settled(n int64) (tally, error) {
	t := tally{acked: a.acked.Load(), failed: a.failed.Load()}
	a.errMu.Lock()
	defer a.errMu.Unlock()
	if a.firstErr != nil {
		return t, a.firstErr
	}
	if t.acked+t.failed != n {
		return t, fmt.Errorf("the producer reported %d outcomes for %d events", t.acked+t.failed, n)
	}
	return t, nil
}

// errHook passes each error its Handler's Handle returns, which
// slog.Logger drops, to onErr.
type errHook struct {
	slog.Handler
	onErr func(error)
}

func (h errHook) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if err != nil {
		h.onErr(err)
	}
	return err
}

func (h errHook) WithAttrs(attrs []slog.Attr) slog.Handler {
	return errHook{h.Handler.WithAttrs(attrs), h.onErr}
}

func (h errHook) WithGroup(name string) slog.Handler {
	return errHook{h.Handler.WithGroup(name), h.onErr}
}

// createTopic creates topic with the shippers' partitions. On a real
// cluster (KAFKA_BROKERS) the topic is deleted when tb ends.
func createTopic(tb testing.TB, brokers []string, topic string) {
	tb.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	ctx := context.Background()
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
	if kafkaesktest.RealBrokers() != nil {
		tb.Cleanup(func() {
			client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
		})
	}
}

// storedEvents returns how many records the broker holds in topic.
func storedEvents(tb testing.TB, brokers []string, topic string) int64 {
	tb.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	var reqs []kafka.OffsetRequest
	for p := range partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: reqs},
	})
	if err != nil {
		tb.Fatalf("list offsets of %s: %v", topic, err)
	}
	var n int64
	var errs []error
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", p.Partition, p.Error))
		}
		n += p.LastOffset - p.FirstOffset
	}
	if len(resp.Topics[topic]) != partitions {
		errs = append(errs, fmt.Errorf("%d partitions listed, want %d", len(resp.Topics[topic]), partitions))
	}
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("list offsets of %s: %v", topic, err)
	}
	return n
}
