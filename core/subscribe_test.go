package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// fastConsumerConfig keeps group timing short, so that tests see
// rebalances and stops quickly, on kfake and on real Kafka alike.
func fastConsumerConfig() core.Config {
	return core.Config{
		HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout:    6 * time.Second, // the least real Kafka and kfake accept
		CommitInterval:    100 * time.Millisecond,
		MetadataMaxAge:    500 * time.Millisecond,
	}
}

// running is an Application.Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func startRun(t *testing.T, app *core.Application) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- app.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

// stop cancels Run and waits for it, failing the test after 15 s.
func (r *running) stop(t *testing.T) error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if !ok {
			return nil
		}
		close(r.done)
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return 15 s after its context ended")
		return nil
	}
}

// collector gathers what handlers received.
type collector[T any] struct {
	mu   sync.Mutex
	got  []T
	more chan struct{}
}

func newCollector[T any]() *collector[T] { return &collector[T]{more: make(chan struct{}, 1)} }

func (c *collector[T]) add(v T) {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *collector[T]) items() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.got...)
}

// waitFor waits until n items arrived, failing the test after timeout.
func (c *collector[T]) waitFor(t *testing.T, n int, timeout time.Duration) []T {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := c.items(); len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("received %d of %d messages in %v", len(c.items()), n, timeout)
		}
	}
}

func TestConsumeTenPublishedAfterStart(t *testing.T) {
	app, _ := newTestApp(t, fastConsumerConfig())
	core.MustRegister[Foo](app, nil)
	got := newCollector[Foo]()
	_, err := core.Subscribe(app, "foo.bar", "group", func(ctx context.Context, m *core.Message[Foo]) error {
		got.add(m.Data)
		return nil
	}, nil)
	require.NoError(t, err)
	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "foo.bar", 0))
	run := startRun(t, app)
	for i := range 10 {
		require.NoError(t, app.Publish(ctx, "foo.bar", Foo{Bar: strconvItoa(i)}))
	}
	assert.Len(t, got.waitFor(t, 10, 20*time.Second), 10)
	require.NoError(t, run.stop(t))
}

func strconvItoa(i int) string { return string(rune('0' + i)) }

// Bad SubscribeOptions are refused at Subscribe, each error naming the
// field and its value; RetryForever is the one negative Retries allowed.
func TestSubscribeOptionsNameTheFieldAtFault(t *testing.T) {
	handler := func(context.Context, *core.Message[[]byte]) error { return nil }
	for _, tt := range []struct {
		name    string
		opts    core.SubscribeOptions
		wantErr string // "" for accepted
	}{
		{"zero value", core.SubscribeOptions{}, ""},
		{"retry forever", core.SubscribeOptions{OnError: core.ErrorPolicy{Retries: core.RetryForever}}, ""},
		{"retries below forever", core.SubscribeOptions{OnError: core.ErrorPolicy{Retries: -2}}, "OnError.Retries -2 is negative (RetryForever is -1)"},
		{"commit interval", core.SubscribeOptions{CommitInterval: 250 * time.Millisecond}, ""},
		{"negative commit interval", core.SubscribeOptions{CommitInterval: -time.Second}, "CommitInterval -1s is negative"},
		// A nanosecond passed validation and committed in a busy loop.
		{"commit interval below 1ms", core.SubscribeOptions{CommitInterval: time.Microsecond}, "CommitInterval 1µs is less than allowed 1ms"},
		{"commit interval of 1ms", core.SubscribeOptions{CommitInterval: time.Millisecond}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := core.Subscribe(core.NewRouter(), "orders", "g", handler, &tt.opts)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, sub)
				return
			}
			assert.Nil(t, sub)
			assert.EqualError(t, err, `kafkaesk: subscription "orders" (group g): `+tt.wantErr)
		})
	}
}

// A subscription commits on its own CommitInterval; left zero, on the
// application's Config.CommitInterval.
func TestCommitIntervalDefaultsToTheApplications(t *testing.T) {
	for _, tt := range []struct {
		name     string
		app, sub time.Duration
		want     bool // an interval commit within a few seconds
	}{
		{"the subscription's", time.Hour, 50 * time.Millisecond, true},
		{"the application's by default", 50 * time.Millisecond, 0, true},
		{"the application's hour by default", time.Hour, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fastConsumerConfig()
			cfg.CommitInterval = tt.app
			app, _ := newTestApp(t, cfg)
			handled := make(chan struct{}, 1)
			commits := make(chan string, 100)
			_, err := core.Subscribe(app, "stream", app.Topic("group"), func(context.Context, *core.Message[[]byte]) error {
				handled <- struct{}{}
				return nil
			}, &core.SubscribeOptions{
				CommitInterval: tt.sub,
				AfterCommit: func(c core.Commit) {
					if c.Err == nil {
						commits <- c.Reason
					}
				},
			})
			require.NoError(t, err)
			require.NoError(t, app.RawPublish(testContext(t), "stream", []byte(`{}`)))
			run := startRun(t, app)
			select {
			case <-handled:
			case <-time.After(20 * time.Second):
				t.Fatal("the message was not handled")
			}

			wait := 5 * time.Second
			if !tt.want {
				wait = time.Second // twenty of the short intervals
			}
			select {
			case reason := <-commits:
				assert.True(t, tt.want, "committed (%s) before an hour's interval", reason)
				assert.Equal(t, "interval", reason)
			case <-time.After(wait):
				assert.False(t, tt.want, "no commit within %v", wait)
			}
			require.NoError(t, run.stop(t))
		})
	}
}
