package core_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// The consume benchmarks read the same b.N pre-produced ~300-byte
// envelopes from a 4-partition topic on the embedded broker, from the
// earliest offset, with commits; each reports msgs/s.
//
//	go test -run '^$' -bench 'Consume|RawKafkaGoReader' ./core/

const benchPartitions = 4

// fillTopic produces n copies of the bench envelope to a new topic and
// returns the application (closed at the end) and the stream.
func fillTopic(b *testing.B, n int, client string) (*core.Application, []string) {
	return fillTopicWith(b, n, client, nil)
}

// fillTopicWith is fillTopic with an application registering its metrics
// in metrics (nil: none).
func fillTopicWith(b *testing.B, n int, client string, metrics prometheus.Registerer) (*core.Application, []string) {
	b.Helper()
	broker := kafkaesktest.New(b, nil)
	cfg := core.Config{
		Brokers:        broker.Brokers(),
		TopicPrefix:    "bench.",
		Partitions:     benchPartitions,
		CommitInterval: time.Second,
		Logger:         slog.New(slog.DiscardHandler),
		Client:         client,
		Metrics:        metrics,
	}
	app, err := core.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close(context.Background()) })
	ctx := context.Background()
	if err := app.EnsureStream(ctx, "requests", 0); err != nil {
		b.Fatal(err)
	}
	value := benchEnvelope(b)
	for range n {
		if err := app.RawPublishAsync(ctx, "requests", value, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := app.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return app, broker.Brokers()
}

// BenchmarkConsume: a typed subscription (decode into RequestLine, no-op
// handler) with auto-commit, one handler per partition at a time.
func BenchmarkConsume(b *testing.B) {
	forEachClient(b, func(b *testing.B, client string) {
		for _, registered := range []bool{false, true} {
			name := "schema=none"
			if registered {
				name = "schema=validated"
			}
			b.Run(name, func(b *testing.B) {
				forEachMetrics(b, func(b *testing.B, reg prometheus.Registerer) {
					app, _ := fillTopicWith(b, b.N, client, reg)
					if registered {
						core.MustRegister[RequestLine](app, nil)
					}
					benchRun[RequestLine](b, app)
				})
			})
		}
	})
}

// BenchmarkConsumeBytes: the same engine with a []byte handler, no
// decoding: what the subscription machinery itself costs.
func BenchmarkConsumeBytes(b *testing.B) {
	forEachClient(b, func(b *testing.B, client string) {
		app, _ := fillTopic(b, b.N, client)
		benchRun[[]byte](b, app)
	})
}

// benchRun subscribes a no-op handler of T to the filled stream and times
// Run until it has handled b.N messages, then stops it gracefully.
func benchRun[T any](b *testing.B, app *core.Application) {
	var handled atomic.Int64
	done := make(chan struct{})
	_, err := core.Subscribe(app, "requests", "bench", func(_ context.Context, _ *core.Message[T]) error {
		if handled.Add(1) == int64(b.N) {
			close(done)
		}
		return nil
	}, &core.SubscribeOptions{Concurrency: benchPartitions})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	b.ResetTimer()
	go func() { runErr <- app.Run(ctx) }()
	select {
	case <-done:
	case err := <-runErr:
		b.Fatalf("Run returned early: %v", err)
	case <-time.After(5 * time.Minute):
		b.Fatalf("handled %d of %d", handled.Load(), b.N)
	}
	b.StopTimer()
	reportRate(b)
	cancel()
	if err := <-runErr; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRawKafkaGoReader: kafka-go's group Reader on the same data,
// FetchMessage and a CommitMessages per 1000 messages.
func BenchmarkRawKafkaGoReader(b *testing.B) {
	app, brokers := fillTopic(b, b.N, core.ClientKafkaGo)
	tr := &kafka.Transport{}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     brokers,
		GroupID:     "bench-raw",
		GroupTopics: []string{app.Topic("requests")},
		MinBytes:    1,
		MaxBytes:    4 << 20,
		MaxWait:     250 * time.Millisecond,
		StartOffset: kafka.FirstOffset,
	})
	b.Cleanup(func() {
		r.Close()
		tr.CloseIdleConnections()
	})
	ctx := context.Background()
	batch := make([]kafka.Message, 0, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, m)
		if len(batch) == cap(batch) || i == b.N-1 {
			if err := r.CommitMessages(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.StopTimer()
	reportRate(b)
}
