package collector

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// BenchmarkHandle is the collector's own work per event, without Kafka:
// the handler that the consumer calls on each record (scan, filters,
// the JSON-lines output), on as many goroutines as partitions of
// BenchmarkCollect, with a flush every 10,000 events as commits make.
// What it leaves out is the client's fetching and core's consume loop.
//
//	go test -run '^$' -bench Handle ./collector/
func BenchmarkHandle(b *testing.B) {
	app, err := core.New(core.Config{
		Brokers: []string{"127.0.0.1:1"}, // never dialled: the app is not run
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close(context.Background()) })
	out, err := CreateJSONLines(filepath.Join(b.TempDir(), "events.jsonl"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	c, err := New(app, Options{Patterns: []string{"logs.*"}, Group: "bench", Outputs: []Output{out}})
	if err != nil {
		b.Fatal(err)
	}
	values := make([][]byte, 1024)
	for i := range values {
		values[i] = fmt.Appendf(nil, benchValue, i)
	}
	var part atomic.Int64
	b.SetParallelism(2) // 4 goroutines on 2 cores, as 4 partitions
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		p := int(part.Add(1))
		rec := &core.Record{Topic: "logs.api", Partition: p}
		m := &core.Message[[]byte]{Record: rec}
		for i := 0; pb.Next(); i++ {
			rec.Offset = int64(i)
			rec.Value = values[i%len(values)]
			m.Data = rec.Value
			if err := c.handle(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
			if i%10000 == 0 {
				if err := c.flush(); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/event")
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchValue is BenchmarkCollect's event, ~330 bytes as sloghandler
// writes it.
const benchValue = `{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T10:00:00.123456Z",` +
	`"logger":"http","severity":"INFO","level":20,"message":"request handled","exception":null,"trace":null,"stack":null,` +
	`"hostname":"api-7d9f8-xk2p9","service":"api","namespace":null,"cluster":null,"method":"GET","path":"/orders/%d","status":200,"duration_ms":1.25}}`

// CPUTime is cpuTime, for BenchmarkCollect in package collector_test.
var CPUTime = cpuTime
