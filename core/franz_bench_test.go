package core_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// The raw franz-go references: the same bytes and batch settings as core
// gives kgo, without core. Compare with the client=franz-go rows.
//
//	go test -run '^$' -bench 'Raw' ./core/

// benchKgo returns a kgo client producing as core's franz-go client does:
// idempotent, acks all, murmur2 keys, the default linger, batch bytes and
// compression (none).
func benchKgo(b *testing.B, brokers []string, more ...kgo.Opt) *kgo.Client {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(core.DefaultBatchTimeout),
		kgo.ProducerBatchMaxBytes(core.DefaultBatchBytes),
		kgo.MaxBufferedRecords(core.DefaultMaxBufferedMessages),
		// core's default; kgo's own is snappy, which squeezes these
		// identical values to next to nothing for the broker.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}, more...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl
}

// BenchmarkRawFranzGoProduceSync: benchParallelism × GOMAXPROCS goroutines,
// each waiting for its record's acknowledgement (as BenchmarkPublish).
func BenchmarkRawFranzGoProduceSync(b *testing.B) {
	app, brokers := benchApp(b, core.ClientFranzGo)
	cl := benchKgo(b, brokers)
	value := benchEnvelope(b)
	topic := app.Topic("requests")
	runParallelPublish(b, func(ctx context.Context) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).FirstErr()
	})
}

// BenchmarkRawFranzGoProduceAsync: one goroutine producing flat out, then
// a Flush (as BenchmarkPublishAsync).
func BenchmarkRawFranzGoProduceAsync(b *testing.B) {
	app, brokers := benchApp(b, core.ClientFranzGo)
	cl := benchKgo(b, brokers)
	value := benchEnvelope(b)
	topic := app.Topic("requests")
	ctx := context.Background()
	var failed atomic.Int64
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d records failed", n)
	}
	reportRate(b)
}

// BenchmarkRawFranzGoConsumer: a kgo group consumer on the same data as
// BenchmarkConsume, PollFetches and a synchronous commit per 1000 records.
func BenchmarkRawFranzGoConsumer(b *testing.B) {
	app, brokers := fillTopic(b, b.N, core.ClientFranzGo)
	cl := benchKgo(b, brokers,
		kgo.ConsumerGroup("bench-raw"),
		kgo.ConsumeTopics(app.Topic("requests")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	ctx := context.Background()
	b.ResetTimer()
	n, uncommitted := 0, 0
	for n < b.N {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			b.Fatal(err)
		}
		fetches.EachRecord(func(*kgo.Record) {
			n++
			uncommitted++
		})
		if uncommitted >= 1000 || n >= b.N {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				b.Fatal(err)
			}
			uncommitted = 0
		}
	}
	b.StopTimer()
	reportRate(b)
}
