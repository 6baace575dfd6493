package benchmarks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesk-go/kafkaesk/benchmarks"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// The benchmarks' code is tested: each shipper delivers 1000 events sent
// from several goroutines, all acknowledged, all on the broker, and each
// one the shared event.
func TestDeliverAll(t *testing.T) {
	const events = 1000
	brokers := kafkaesktest.Brokers(t)
	for _, s := range shippers {
		t.Run(s.name, func(t *testing.T) {
			prefix := kafkaesktest.TopicPrefix(t)
			topic := prefix + s.name
			createTopic(t, brokers, topic)
			sh := s.open(t, brokers, prefix)
			sendFrom(4, events, sh.send)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got, err := sh.settle(ctx, events)
			if err := checkDelivered(got, err, events); err != nil {
				t.Fatal(err)
			}
			if n := storedEvents(t, brokers, topic); n != events {
				t.Fatalf("the broker holds %d events, want %d", n, events)
			}
			values := consume(t, brokers, topic, events)
			for i, v := range values {
				if !json.Valid(v) || !bytes.Contains(v, []byte(`"request served"`)) {
					t.Fatalf("event %d is not the shared event: %s", i, v)
				}
			}
		})
	}
}

// sendFrom calls send n times from g goroutines.
func sendFrom(g, n int, send func()) {
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() {
			for range n/g + btoi(i < n%g) {
				send()
			}
		})
	}
	wg.Wait()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// consume reads the n records of topic from the start.
func consume(t *testing.T, brokers []string, topic string, n int) [][]byte {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var values [][]byte
	for len(values) < n {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d events back: %v", len(values), n, err)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) { values = append(values, r.Value) })
	}
	return values
}

// The shared event through sloghandler: a kafkaesk envelope of 400-560
// bytes (its base fields alone are about 270; slog.JSONHandler writes the
// same call in about 250, slog-kafka in about 300), with the log model's
// fields merged into the event.
func TestEvent(t *testing.T) {
	v := benchmarks.Encoded()
	if len(v) < 400 || len(v) > 560 {
		t.Errorf("the event is %d bytes, want 400-560: %s", len(v), v)
	}
	e, err := record.DecodeEvent(v)
	if err != nil {
		t.Fatal(err)
	}
	if e.Message != "request served" || string(e.Fields["path"]) != `"/api/v1/orders"` || string(e.Fields["user"]) != `"ana"` {
		t.Errorf("decoded %+v, want the shared event with its model merged", e)
	}
}

// Each per-call handler takes the shared call without an error, over
// bursts with its settles between them.
func TestPerCallHandlers(t *testing.T) {
	for _, h := range perCallHandlers {
		t.Run(h.name, func(t *testing.T) {
			var errs errCollector
			handler, settle := h.open(t, 3*perCallBurst)
			l := benchmarks.NewLogger(errHook{handler, errs.add})
			for i := range 3 * perCallBurst {
				if settle != nil && i%perCallBurst == 0 && i > 0 {
					settle(t)
				}
				benchmarks.Log(l)
			}
			if err := errs.first(); err != nil {
				t.Error(err)
			}
		})
	}
}

type errCollector struct {
	mu  sync.Mutex
	err error
}

func (c *errCollector) add(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *errCollector) first() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
