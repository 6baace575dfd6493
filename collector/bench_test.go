package collector_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/collector"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// BenchmarkCollect: events per second from Kafka to a JSON-lines file.
// b.N log events (~330 bytes, as sloghandler writes them) are produced
// first, with a plain writer, to a 4-partition stream on the embedded
// broker, or on the cluster in KAFKA_BROKERS when it is set (under a
// topic prefix of its own). The timer covers the collector reading all
// of them, from the earliest offset, writing them to the file and
// committing.
//
// It reports events/s; cpu-ns/event, the process's CPU time (user and
// system) per event over the timed part; and how much the live heap (as
// marked by each GC) grew while collecting. An embedded broker is in
// this process and holds every event: the growth is what the collector
// keeps, and it must not depend on b.N.
//
// With the embedded broker, events/s, cpu-ns/event and the allocations
// (B/op, allocs/op) cover both sides, the collector and the broker
// serving its fetches, sharing the machine's cores. The collector's goroutines (its client's included)
// carry the pprof label side=collector, so a CPU profile splits them:
//
//	go test -run '^$' -bench 'Collect$' -benchtime 1000000x -cpuprofile c.prof ./collector/
//	go tool pprof -tagfocus side=collector -top collector.test c.prof
//
// BenchmarkHandle is the collector's own work per event, without Kafka.
func BenchmarkCollect(b *testing.B) {
	benchCollect(b, kafkaesktest.Brokers(b), nil)
}

// BenchmarkCollectBrokerApart is BenchmarkCollect with the embedded
// broker in a process of its own, so that the figures of this process
// are the collector's alone: cpu-ns/event is the collector's CPU (its
// client, core's consumer, the output and the GC included) and
// broker-cpu-ns/event the broker's, over the timed part; the heap growth
// and the allocations hold nothing of the broker. events/s is still bounded by both
// sharing the machine's cores.
func BenchmarkCollectBrokerApart(b *testing.B) {
	p := startBrokerProcess(b)
	benchCollect(b, []string{p.addr}, p.cpuTime)
}

// benchCollect runs BenchmarkCollect against brokers. brokerCPU, when
// not nil, returns the CPU time the brokers have used.
func benchCollect(b *testing.B, brokers []string, brokerCPU func(*testing.B) time.Duration) {
	prefix := kafkaesktest.TopicPrefix(b)
	app, err := core.New(core.Config{
		Brokers:     brokers,
		TopicPrefix: prefix,
		Partitions:  4,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close(context.Background()) })
	ctx := context.Background()
	if err := app.EnsureStream(ctx, "logs.api", 0); err != nil {
		b.Fatal(err)
	}
	values := make([][]byte, b.N)
	for i := range values {
		values[i] = fmt.Appendf(nil, `{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T10:00:00.123456Z",`+
			`"logger":"http","severity":"INFO","level":20,"message":"request handled","exception":null,"trace":null,"stack":null,`+
			`"hostname":"api-7d9f8-xk2p9","service":"api","namespace":null,"cluster":null,"method":"GET","path":"/orders/%d","status":200,"duration_ms":1.25}}`, i)
	}
	testutil.Produce(b, brokers, prefix+"logs.api", values)
	values = nil

	out, err := collector.CreateJSONLines(filepath.Join(b.TempDir(), "events.jsonl"), nil)
	if err != nil {
		b.Fatal(err)
	}
	c, err := collector.New(app, collector.Options{Patterns: []string{"logs.*"}, Group: "bench", Outputs: []collector.Output{out}})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	runtime.GC()
	base := heapNow()
	peak := sampleHeap(runCtx)
	b.ReportAllocs()
	cpu0 := collector.CPUTime(b)
	var brokerCPU0 time.Duration
	if brokerCPU != nil {
		brokerCPU0 = brokerCPU(b)
	}
	b.ResetTimer()
	go pprof.Do(runCtx, pprof.Labels("side", "collector"), func(ctx context.Context) { runErr <- c.Run(ctx) })
	deadline := time.After(5 * time.Minute)
	for c.Stats().Written < int64(b.N) {
		select {
		case err := <-runErr:
			b.Fatalf("Run returned early: %v", err)
		case <-deadline:
			b.Fatalf("wrote %d of %d", c.Stats().Written, b.N)
		case <-time.After(time.Millisecond):
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(collector.CPUTime(b)-cpu0)/float64(b.N), "cpu-ns/event")
	if brokerCPU != nil {
		b.ReportMetric(float64(brokerCPU(b)-brokerCPU0)/float64(b.N), "broker-cpu-ns/event")
	}
	stop()
	if err := <-runErr; err != nil {
		b.Fatal(err)
	}
	// An embedded broker is in this process and holds every event: what
	// the collector adds is the peak over the heap before it started.
	b.ReportMetric(float64(peak()-min(base, peak()))/(1<<20), "MiB-heap-growth")
}

func heapNow() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap samples the live heap every 10ms until ctx ends; the
// returned func gives the peak seen.
func sampleHeap(ctx context.Context) func() uint64 {
	var mu sync.Mutex
	var peak uint64
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				metrics.Read(s)
				mu.Lock()
				peak = max(peak, s[0].Value.Uint64())
				mu.Unlock()
			}
		}
	}()
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
