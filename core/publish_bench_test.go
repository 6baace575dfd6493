package core_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// The publish benchmarks compare our typed Publish, on each client, with
// that client used raw (kafka-go's Writer, franz-go's kgo.Client) sending
// the same bytes with the same batch settings, against the embedded
// broker. Each reports msgs/s; compare the rows of one client.
//
//	go test -run '^$' -bench 'Publish|Raw' ./core/

// benchParallelism × GOMAXPROCS goroutines publish at once.
const benchParallelism = 32

// RequestLine is a ~300-byte event (the envelope is 300 bytes).
type RequestLine struct {
	Service  string   `json:"service"`
	Host     string   `json:"host"`
	Method   string   `json:"method"`
	Path     string   `json:"path"`
	Status   int      `json:"status"`
	Duration float64  `json:"duration_ms"`
	UserID   int64    `json:"user_id"`
	TraceID  string   `json:"trace_id"`
	Agent    string   `json:"user_agent"`
	Tags     []string `json:"tags"`
}

// CheckedRequestLine has constraint tags, so every publish runs the JSON
// Schema validator.
type CheckedRequestLine struct {
	Service  string   `json:"service" jsonschema:"minLength=1"`
	Host     string   `json:"host"`
	Method   string   `json:"method" jsonschema:"enum=GET,enum=POST,enum=PUT,enum=DELETE"`
	Path     string   `json:"path"`
	Status   int      `json:"status" jsonschema:"minimum=100,maximum=599"`
	Duration float64  `json:"duration_ms"`
	UserID   int64    `json:"user_id"`
	TraceID  string   `json:"trace_id"`
	Agent    string   `json:"user_agent"`
	Tags     []string `json:"tags"`
}

var benchLine = RequestLine{
	Service: "checkout", Host: "checkout-7d9f8-xk2p9", Method: "POST", Path: "/api/v1/orders/12345/items",
	Status: 201, Duration: 12.75, UserID: 4242424242, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	Agent: "Mozilla/5.0 (X11; Linux) Gecko", Tags: []string{"web", "eu-west-1", "canary"},
}

// benchWriter gives the raw writer exactly the settings core uses. It is
// closed, with its transport, when the benchmark ends.
func benchWriter(b *testing.B, brokers []string, async bool, completion func([]kafka.Message, error)) *kafka.Writer {
	tr := &kafka.Transport{}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		BatchSize:    core.DefaultBatchSize,
		BatchBytes:   core.DefaultBatchBytes,
		BatchTimeout: core.DefaultBatchTimeout,
		RequiredAcks: kafka.RequireAll,
		Async:        async,
		Completion:   completion,
		Transport:    tr,
	}
	b.Cleanup(func() {
		w.Close()
		tr.CloseIdleConnections()
	})
	return w
}

// benchClients are the clients every core benchmark runs on, each as a
// sub-benchmark "client=...".
var benchClients = []string{core.ClientKafkaGo, core.ClientFranzGo}

// forEachClient runs bench once per client, as sub-benchmarks.
func forEachClient(b *testing.B, bench func(b *testing.B, client string)) {
	for _, c := range benchClients {
		b.Run("client="+c, func(b *testing.B) { bench(b, c) })
	}
}

// metricsModes are the "metrics=" sub-benchmarks of the benchmarks that
// measure what metrics cost: off (Config.Metrics nil) and on (a registry).
var metricsModes = []string{"off", "on"}

// forEachMetrics runs bench once per metrics mode, as sub-benchmarks,
// with the registerer to configure (nil for off).
func forEachMetrics(b *testing.B, bench func(b *testing.B, reg prometheus.Registerer)) {
	for _, m := range metricsModes {
		b.Run("metrics="+m, func(b *testing.B) {
			var reg prometheus.Registerer
			if m == "on" {
				reg = prometheus.NewRegistry()
			}
			bench(b, reg)
		})
	}
}

func benchApp(b *testing.B, client string) (*core.Application, []string) {
	return benchAppWith(b, client, nil)
}

func benchAppWith(b *testing.B, client string, metrics prometheus.Registerer) (*core.Application, []string) {
	broker := kafkaesktest.New(b, nil)
	app, err := core.New(core.Config{Brokers: broker.Brokers(), TopicPrefix: "bench.", Client: client, Metrics: metrics})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close(context.Background()) })
	if err := app.EnsureStream(context.Background(), "requests", 0); err != nil {
		b.Fatal(err)
	}
	return app, broker.Brokers()
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPublish: many goroutines, each waiting for its acknowledgement.
func BenchmarkPublish(b *testing.B) {
	forEachClient(b, func(b *testing.B, client string) {
		b.Run("schema=by-construction", func(b *testing.B) {
			app, _ := benchApp(b, client)
			core.MustRegister[RequestLine](app, nil)
			runParallelPublish(b, func(ctx context.Context) error { return app.Publish(ctx, "requests", benchLine) })
		})
		b.Run("schema=validated", func(b *testing.B) {
			app, _ := benchApp(b, client)
			core.MustRegister[CheckedRequestLine](app, nil)
			line := CheckedRequestLine(benchLine)
			runParallelPublish(b, func(ctx context.Context) error { return app.Publish(ctx, "requests", line) })
		})
	})
}

// BenchmarkRawKafkaGoWriter: the same goroutines writing the same bytes
// through a synchronous kafka-go Writer, one message per call.
func BenchmarkRawKafkaGoWriter(b *testing.B) {
	app, brokers := benchApp(b, core.ClientKafkaGo)
	w := benchWriter(b, brokers, false, nil)
	value := benchEnvelope(b)
	topic := app.Topic("requests")
	runParallelPublish(b, func(ctx context.Context) error {
		return w.WriteMessages(ctx, kafka.Message{Topic: topic, Value: value})
	})
}

// BenchmarkPublishAsync: one goroutine publishing flat out, then a Flush;
// with metrics off and on.
func BenchmarkPublishAsync(b *testing.B) {
	forEachClient(b, func(b *testing.B, client string) {
		forEachMetrics(b, func(b *testing.B, reg prometheus.Registerer) {
			app, _ := benchAppWith(b, client, reg)
			core.MustRegister[RequestLine](app, nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := app.PublishAsync(ctx, "requests", benchLine, nil); err != nil {
					b.Fatal(err)
				}
			}
			if err := app.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			reportRate(b)
		})
	})
}

// BenchmarkRawPublishAsync: one goroutine publishing ready bytes (the
// envelope BenchmarkPublishAsync's values encode to) flat out, then a
// Flush: core's producer alone, against the raw clients' Async rows.
func BenchmarkRawPublishAsync(b *testing.B) {
	forEachClient(b, func(b *testing.B, client string) {
		app, _ := benchApp(b, client)
		value := benchEnvelope(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := app.RawPublishAsync(ctx, "requests", value, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := app.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		reportRate(b)
	})
}

// BenchmarkRawKafkaGoWriterAsync: the same bytes through an async kafka-go
// Writer, flat out, then waiting for every completion.
func BenchmarkRawKafkaGoWriterAsync(b *testing.B) {
	app, brokers := benchApp(b, core.ClientKafkaGo)
	var mu sync.Mutex
	var acked int
	allAcked := make(chan struct{})
	target := -1
	w := benchWriter(b, brokers, true, func(msgs []kafka.Message, err error) {
		mu.Lock()
		defer mu.Unlock()
		acked += len(msgs)
		if acked == target {
			close(allAcked)
		}
	})
	value := benchEnvelope(b)
	topic := app.Topic("requests")
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := w.WriteMessages(ctx, kafka.Message{Topic: topic, Value: value}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	mu.Lock()
	target = n
	done := acked == n
	mu.Unlock()
	if !done {
		select {
		case <-allAcked:
		case <-time.After(time.Minute):
			b.Fatal("writer did not acknowledge every message")
		}
	}
	reportRate(b)
}

func runParallelPublish(b *testing.B, publish func(context.Context) error) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := publish(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// benchEnvelope is exactly what Publish sends for benchLine.
func benchEnvelope(b *testing.B) []byte {
	data, err := json.Marshal(benchLine)
	if err != nil {
		b.Fatal(err)
	}
	v := core.AppendEnvelope(nil, "RequestLine:1", data)
	if len(v) < 280 || len(v) > 320 {
		b.Fatalf("bench envelope is %d bytes, want about 300", len(v))
	}
	return v
}
