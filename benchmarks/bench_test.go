package benchmarks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	slogkafka "github.com/samber/slog-kafka"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"

	"github.com/kafkaesk-go/kafkaesk/benchmarks"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// BenchmarkPerCall times what the shared log call costs the goroutine that
// logs, for each handler: benchstat -col /h lines them up, cmd/ratios
// divides by slog.JSONHandler. A handler whose delivery cannot keep up
// with a tight loop of calls (sloghandler on a real producer: its queue
// would fill, and a full queue drops a call before encoding it, which is
// cheaper than a call) is given time to settle its events every
// perCallBurst calls, with the clock stopped, as a service's bursts are.
//
// Besides ns/op (wall time), it reports cpu-ns/op: the CPU time of the
// calling goroutine's own thread (locked to it) per call, settling left
// out. On two cores the two differ when a handler delivers in the
// background: its delivery competes with the caller for the cores and
// can take the caller's off it, which ns/op counts and cpu-ns/op does
// not. The garbage collector's work that the caller is made to do (its
// assists) counts in both.
func BenchmarkPerCall(b *testing.B) {
	for _, h := range perCallHandlers {
		b.Run("h="+h.name, func(b *testing.B) {
			handler, settle := h.open(b, b.N)
			l := benchmarks.NewLogger(handler)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			start, measured := threadCPU()
			for i := range b.N {
				if settle != nil && i%perCallBurst == 0 && i > 0 {
					b.StopTimer()
					now, _ := threadCPU()
					cpu += now - start
					settle(b)
					start, _ = threadCPU()
					b.StartTimer()
				}
				benchmarks.Log(l)
			}
			end, _ := threadCPU()
			b.StopTimer()
			if measured {
				cpu += end - start
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// perCallBurst is how many calls sloghandler takes between two settles in
// BenchmarkPerCall: as many as the warm-up settled, so that the calls
// find settled events to encode into (kept in a sync.Pool, which a
// garbage collection may empty: then a call allocates, and B/op shows
// it).
const perCallBurst = 1000

var perCallHandlers = []struct {
	name string
	// open returns the handler, ready for n calls, and what lets it
	// deliver what it holds between bursts (nil: nothing).
	open func(tb testing.TB, n int) (slog.Handler, func(testing.TB))
}{
	{"slog.JSONHandler", func(testing.TB, int) (slog.Handler, func(testing.TB)) {
		return slog.NewJSONHandler(io.Discard, nil), nil
	}},
	{nameSloghandler, perCallSloghandler},
	{nameSloghandler + "-cold", perCallSloghandlerCold},
	{nameSlogKafka, perCallSlogKafka},
	{nameHandBuilt, perCallHandBuilt},
	// The floors: a call slog drops at once (the level disabled), and one
	// whose record slog builds and hands to a handler that does nothing.
	{"slog.DiscardHandler", func(testing.TB, int) (slog.Handler, func(testing.TB)) { return slog.DiscardHandler, nil }},
	{"no-op handler", func(testing.TB, int) (slog.Handler, func(testing.TB)) { return noopHandler{}, nil }},
}

// noopHandler takes every record and does nothing with it.
type noopHandler struct{}

func (noopHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (noopHandler) Handle(context.Context, slog.Record) error { return nil }
func (h noopHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h noopHandler) WithGroup(string) slog.Handler           { return h }

// perCallHandBuilt is the hand-built shipper (openHandBuilt) on the
// async kafka-go Writer of perCallSlogKafka, whose transport answers
// without a network.
func perCallHandBuilt(tb testing.TB, _ int) (slog.Handler, func(testing.TB)) {
	const topic = "logs"
	w := rawWriter(tb, discardAddr, newDiscardTransport(topic), topic, nil)
	return slog.NewJSONHandler(kafkaLines{w: w, key: benchmarks.Key()}, nil), nil
}

// perCallSloghandler is sloghandler in the steady state of a service
// whose Kafka keeps up: with its defaults, on a broker that acknowledges
// every produce request at once (discardBroker), warmed up so that every
// call encodes into the buffer of an acknowledged event, and flushed
// between bursts (the settle it returns). The producer and the broker
// work on the other core during a burst. The cleanup fails the
// benchmark if any call was dropped or took the cold path.
func perCallSloghandler(tb testing.TB, _ int) (slog.Handler, func(testing.TB)) {
	app, err := core.New(core.Config{Brokers: discardBroker(tb, "logs"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := sloghandler.New(app, "logs", &sloghandler.Options{Warnings: io.Discard})
	if err != nil {
		tb.Fatal(err)
	}
	settle := func(tb testing.TB) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.Flush(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	l := benchmarks.NewLogger(h)
	for range 2 { // a running service's settled events
		for range perCallBurst {
			benchmarks.Log(l)
		}
		settle(tb)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			tb.Error(err)
		}
		app.Close(ctx)
		if s := h.Stats(); s.Dropped > 0 || s.Failed > 0 || s.Unknown > 0 {
			tb.Errorf("sloghandler: %+v: the numbers are not a call's cost", s)
		}
	})
	return h, settle
}

// perCallSloghandlerCold is set up as sloghandler's own cold BenchmarkHandle:
// its producer cannot reach Kafka and its queue has room for the n calls,
// so that every call takes the whole encode and enqueue path, into a new
// buffer (no acknowledged one to reuse), and none is dropped; the cleanup
// fails the benchmark if any was. The queue, and the application's producer
// buffer (MaxBufferedMessages), grow with n, which if
// anything costs the calls more (the GC's work).
func perCallSloghandlerCold(tb testing.TB, n int) (slog.Handler, func(testing.TB)) {
	app, err := core.New(core.Config{Brokers: []string{"127.0.0.1:1"}, MaxBufferedMessages: max(n, 1), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := sloghandler.New(app, "logs", &sloghandler.Options{QueueSize: max(n, 1), Warnings: io.Discard})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if s := h.Stats(); s.Dropped > 0 {
			tb.Errorf("sloghandler dropped %d of %d calls: the numbers are not a call's cost", s.Dropped, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		h.Close(ctx)
		app.Close(ctx)
	})
	return h, nil
}

// perCallSlogKafka is samber/slog-kafka's handler on the README's async
// kafka-go Writer whose transport answers without a network: each call
// runs what the handler does on the caller's goroutine (build a map,
// json.Marshal it, the key, and the Writer's WriteMessages, which picks a
// partition and appends to a batch) and the batches are thrown away. The
// metadata is served from a ready response with no copy, which is cheaper
// than kafka-go's cached lookup: if anything this flatters slog-kafka.
func perCallSlogKafka(tb testing.TB, _ int) (slog.Handler, func(testing.TB)) {
	const topic = "logs"
	w := kafka.NewWriter(kafka.WriterConfig{
		Brokers:     []string{discardAddr.String()},
		Topic:       topic,
		Dialer:      &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true},
		Async:       true,
		Balancer:    &kafka.Hash{},
		MaxAttempts: 3,
	})
	w.Transport = newDiscardTransport(topic)
	tb.Cleanup(func() { w.Close() })
	return slogkafka.Option{Level: slog.LevelDebug, KafkaWriter: w}.NewKafkaHandler(), nil
}

var discardAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}

// discardTransport is a kafka.RoundTripper standing for a one-broker
// cluster that acknowledges every produce request without reading it.
type discardTransport struct {
	metadata *metadataAPI.Response // of its one topic, with the shippers' partitions
}

func newDiscardTransport(topic string) *discardTransport {
	t := metadataAPI.ResponseTopic{Name: topic}
	for p := range partitions {
		t.Partitions = append(t.Partitions, metadataAPI.ResponsePartition{PartitionIndex: int32(p)})
	}
	return &discardTransport{metadata: &metadataAPI.Response{
		Brokers: []metadataAPI.ResponseBroker{{NodeID: 0, Host: discardAddr.IP.String(), Port: int32(discardAddr.Port)}},
		Topics:  []metadataAPI.ResponseTopic{t},
	}}
}

func (t *discardTransport) RoundTrip(_ context.Context, _ net.Addr, req protocol.Message) (protocol.Message, error) {
	switch req := req.(type) {
	case *metadataAPI.Request:
		return t.metadata, nil
	case *produceAPI.Request:
		resp := &produceAPI.Response{}
		for _, rt := range req.Topics {
			topic := produceAPI.ResponseTopic{Topic: rt.Topic}
			for _, rp := range rt.Partitions {
				topic.Partitions = append(topic.Partitions, produceAPI.ResponsePartition{Partition: rp.Partition})
			}
			resp.Topics = append(resp.Topics, topic)
		}
		return resp, nil
	default:
		return nil, fmt.Errorf("discardTransport: %T not supported", req)
	}
}

// senders × GOMAXPROCS goroutines log (or send) at once end to end.
const senders = 2

// BenchmarkEndToEnd ships b.N events through each shipper, from a few
// goroutines, and stops the clock when the broker has acknowledged them
// all; it fails unless every event was acknowledged and is on the broker.
// Each run has a broker of its own (or KAFKA_BROKERS) and a new topic, so
// that the embedded broker's data, in this process, does not weigh on the
// runs after it. cmd/ratios divides events/s by the raw kafka-go Writer's.
//
// B/op and allocs/op count the whole process per event, the embedded
// broker included.
func BenchmarkEndToEnd(b *testing.B) {
	for _, s := range shippers {
		b.Run("c="+s.name, func(b *testing.B) {
			brokers := kafkaesktest.Brokers(b)
			prefix := kafkaesktest.TopicPrefix(b)
			topic := prefix + s.name
			createTopic(b, brokers, topic)
			sh := s.open(b, brokers, prefix)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			runtime.GC()
			b.ReportAllocs()
			b.SetParallelism(senders)
			cpu := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					sh.send()
				}
			})
			got, err := sh.settle(ctx, int64(b.N))
			b.StopTimer()
			cpu = processCPU(b) - cpu
			if err := checkDelivered(got, err, int64(b.N)); err != nil {
				b.Fatalf("%s: %v", s.name, err)
			}
			if n := storedEvents(b, brokers, topic); n != int64(b.N) {
				b.Fatalf("%s: the broker holds %d events, want %d", s.name, n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/event")
			if s.name == nameSloghandler || s.name == nameSlogFranz {
				b.ReportMetric(float64(got.dropped), "drops")
			}
		})
	}
}

// checkDelivered says what is wrong unless all n events were acknowledged.
func checkDelivered(got tally, err error, n int64) error {
	if got.acked == n && got.failed == 0 && got.unknown == 0 && got.dropped == 0 {
		return nil
	}
	if err == nil {
		err = errors.New("no error reported")
	}
	return fmt.Errorf("%d of %d events acknowledged, %d failed, %d of unknown outcome, %d dropped: %w", got.acked, n, got.failed, got.unknown, got.dropped, err)
}

// processCPU returns the CPU time (user and system) the process has used:
// end to end, its difference over b.N is what an event costs the machine,
// the embedded broker included, however many cores are busy.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
