package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// env is one test's cluster and topic prefix, shared by its Go
// applications and its Python programs.
type env struct {
	brokers []string
	prefix  string
}

// newEnv returns the test's env: the embedded broker (or KAFKA_BROKERS)
// and a random topic prefix.
func newEnv(t *testing.T) *env {
	return &env{brokers: kafkaesktest.Brokers(t), prefix: kafkaesktest.TopicPrefix(t)}
}

// group returns a consumer group name of the test's own.
func (e *env) group(name string) string { return e.prefix + name }

// config is the Config of the test's Go applications: its cluster and
// prefix, the client under test, and the short intervals of
// interop/python/common.py (commits every 100 ms, heartbeats every 200 ms,
// topics seen within 500 ms).
func (e *env) config() core.Config {
	return core.Config{
		Brokers:           e.brokers,
		TopicPrefix:       e.prefix,
		Client:            clientUnderTest(),
		HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout:    6 * time.Second, // the least real Kafka and kfake accept
		CommitInterval:    100 * time.Millisecond,
		MetadataMaxAge:    500 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	}
}

// app returns a new Application with cfg, closed when the test ends.
func (e *env) app(t *testing.T, cfg core.Config) *core.Application {
	t.Helper()
	app, err := core.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, app.Close(ctx))
	})
	return app
}

// admin returns a franz-go admin client of the test's cluster, closed
// when the test ends: it reads what neither kafkaesk exposes (topic
// configs, group members).
func (e *env) admin(t *testing.T) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// testContext returns a context ending with the test, or after 60 s.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// running is an Application.Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startRun runs app's subscriptions until stop, or the test's end.
func startRun(t *testing.T, app *core.Application) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- app.Run(ctx) }()
	t.Cleanup(func() { assert.NoError(t, r.stop(t)) })
	return r
}

// stop ends Run and returns its error, failing the test if Run does not
// return within 20 s.
func (r *running) stop(t *testing.T) error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return 20 s after its context ended")
		}
	})
	return r.err
}

// received gathers what Go handlers got, from any goroutine.
type received[T any] struct {
	mu   sync.Mutex
	got  []T
	more chan struct{}
}

func newReceived[T any]() *received[T] { return &received[T]{more: make(chan struct{}, 1)} }

func (r *received[T]) add(v T) {
	r.mu.Lock()
	r.got = append(r.got, v)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

func (r *received[T]) items() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.got...)
}

// waitFor waits until n items arrived and returns them. It fails the
// test after timeout, or as soon as sub skips a message (one that could
// not be decoded into the handler's type: every test here expects none).
func (r *received[T]) waitFor(t *testing.T, n int, timeout time.Duration, sub *core.Subscription) []T {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if got := r.items(); len(got) >= n {
			return got
		}
		if s := sub.Stats(); s.Skipped > 0 {
			t.Fatalf("received %d of %d messages: the subscription skipped %d, which it could not decode into the handler's type",
				len(r.items()), n, s.Skipped)
		}
		select {
		case <-r.more:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("received %d of %d messages in %v; the subscription handled %d", len(r.items()), n, timeout, sub.Stats().Handled)
		}
	}
}

// jsonValue decodes JSON into a generic value, numbers kept exact as
// json.Number, so that two documents compare equal exactly when they hold
// the same JSON values (member order aside).
func jsonValue(t *testing.T, raw []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v), "JSON %s", raw)
	return v
}

// asJSON is v encoded by encoding/json and decoded by jsonValue: the JSON
// values a Go value stands for.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return jsonValue(t, b)
}
