package core

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// The franz-go driver's tests share this: a broker, the driver on it, and
// a way to make topics and records.

// franzEnv is a broker, and a franz-go driver and an admin client on it.
type franzEnv struct {
	t       *testing.T
	brokers []string
	cfg     Config
	d       *franzDriver
	admin   *kgo.Client
	log     *franzTestLog
}

// newFranzEnv starts an embedded broker. Every goroutine started from
// here on must be gone when the test's cleanups ran.
func newFranzEnv(t *testing.T) *franzEnv {
	t.Helper()
	checkFranzLeaks(t)
	return franzEnvOn(t, kafkaesktest.New(t, nil).Brokers())
}

// checkFranzLeaks fails t if a goroutine started from now on is left
// when its cleanups ran (those registered after this call run first).
func checkFranzLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// franzEnvOn is the environment of the broker at brokers.
func franzEnvOn(t *testing.T, brokers []string) *franzEnv {
	t.Helper()
	cfg := Config{Brokers: brokers, HeartbeatInterval: 100 * time.Millisecond}.withDefaults()
	log := &franzTestLog{}
	cfg.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := newFranzDriver(&cfg, newAbortableDialer(cfg.DialTimeout), nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", log.String())
		}
	})
	return &franzEnv{t: t, brokers: brokers, cfg: cfg, d: d, admin: admin, log: log}
}

// franzTestLog collects the log of a test.
type franzTestLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *franzTestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *franzTestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (e *franzEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// createTopic creates topic with partitions.
func (e *franzEnv) createTopic(topic string, partitions int) {
	e.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, int32(partitions), 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(e.ctx(), e.admin)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		e.t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produce writes n records to each of topic's partitions, valued
// "p<partition>-<i>" with i counting from first, in one request.
func (e *franzEnv) produce(topic string, partitions, first, n int) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := range partitions {
		for i := first; i < first+n; i++ {
			recs = append(recs, &kgo.Record{
				Topic: topic, Partition: int32(p),
				Key: []byte("k"), Value: fmt.Appendf(nil, "p%d-%d", p, i),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}},
			})
		}
	}
	if err := cl.ProduceSync(e.ctx(), recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce to %s: %v", topic, err)
	}
}

// franzWaitFor waits until cond holds, failing the test after a while.
func franzWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
