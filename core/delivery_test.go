package core_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// Delivery, commit, ordering, error-policy and rebalance tests of the
// subscription engine. They run on the embedded broker, or on the cluster
// in KAFKA_BROKERS. Several *core.Application values sharing one topic
// prefix and one consumer group model several workers (processes) of a
// service.

// dvItem is the message type these tests publish: Key is the record key,
// N its sequence number within the key.
type dvItem struct {
	Key string `json:"key"`
	N   int    `json:"n"`
}

// dvPO is a (partition, offset) of the one topic a test consumes.
type dvPO struct {
	P int
	O int64
}

// dvSeen is one handler call.
type dvSeen struct {
	P   int
	O   int64
	Key string
	N   int
}

func (s dvSeen) po() dvPO { return dvPO{s.P, s.O} }

// dvEnv is one test's brokers, topic prefix and consumer group.
type dvEnv struct {
	t       *testing.T
	brokers []string
	prefix  string
	group   string
}

func newDvEnv(t *testing.T) *dvEnv {
	t.Helper()
	prefix := kafkaesktest.TopicPrefix(t)
	// Groups are cluster-wide: a group of its own per test, as topics.
	return &dvEnv{t: t, brokers: kafkaesktest.Brokers(t), prefix: prefix, group: prefix + "workers"}
}

// app returns a new worker: fastConsumerConfig on the env's brokers and
// prefix, changed by mod; closed when the test ends.
func (e *dvEnv) app(mod func(*core.Config)) *core.Application {
	e.t.Helper()
	cfg := fastConsumerConfig()
	cfg.Brokers = e.brokers
	cfg.TopicPrefix = e.prefix
	cfg.Logger = dvLogger()
	if mod != nil {
		mod(&cfg)
	}
	app, err := core.New(cfg)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { dvClose(e.t, app) })
	return app
}

func dvClose(t *testing.T, app *core.Application) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assert.NoError(t, app.Close(ctx))
}

// dvLogger keeps test output quiet: the engine's warnings (retries,
// skips) are expected here. With -v they go to stderr.
func dvLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("KAFKAESK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// dvKeys returns, for each of n partitions, perPartition keys that the
// producer's murmur2 balancer sends to that partition.
func dvKeys(n, perPartition int) [][]string {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	keys := make([][]string, n)
	bal := &kafka.Murmur2Balancer{}
	for i, missing := 0, n*perPartition; missing > 0; i++ {
		k := "key-" + strconv.Itoa(i)
		p := bal.Balance(kafka.Message{Key: []byte(k)}, ids...)
		if len(keys[p]) < perPartition {
			keys[p] = append(keys[p], k)
			missing--
		}
	}
	return keys
}

// dvPublish publishes items, each keyed by its Key, and waits until the
// broker acknowledged all of them.
func dvPublish(t *testing.T, app *core.Application, stream string, items ...dvItem) {
	t.Helper()
	ctx := testContext(t)
	var failed atomic.Int64
	for _, it := range items {
		require.NoError(t, app.PublishAsync(ctx, stream, it, func(err error) {
			if err != nil {
				failed.Add(1)
			}
		}, core.Key([]byte(it.Key))))
	}
	require.NoError(t, app.Flush(ctx))
	require.Zero(t, failed.Load(), "publish failures")
}

// dvRunReturns waits for Run to return by itself (a failure), failing the
// test after timeout.
func dvRunReturns(t *testing.T, r *running, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		close(r.done) // the cleanup's stop sees Run returned
		return err
	case <-time.After(timeout):
		t.Fatalf("Run did not return within %v", timeout)
		return nil
	}
}

// dvRunStillRunning fails the test if Run returns within d.
func dvRunStillRunning(t *testing.T, r *running, d time.Duration) {
	t.Helper()
	select {
	case err := <-r.done:
		close(r.done)
		t.Fatalf("Run returned (%v) while it should still run", err)
	case <-time.After(d):
	}
}

// dvClient is a plain kafka-go client on the brokers; close it with
// dvCloseClient.
func dvClient(brokers []string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}, Timeout: 10 * time.Second}
}

func dvCloseClient(c *kafka.Client) { c.Transport.(*kafka.Transport).CloseIdleConnections() }

// dvCommitted returns the group's committed offset of each partition of
// topic, as the broker has them (-1: none).
func dvCommitted(t *testing.T, brokers []string, group, topic string, partitions int) []int64 {
	t.Helper()
	c := dvClient(brokers)
	defer dvCloseClient(c)
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	ctx := testContext(t)
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	require.NoError(t, err)
	require.NoError(t, resp.Error)
	out := make([]int64, partitions)
	for i := range out {
		out[i] = -2 // not in the response
	}
	for _, p := range resp.Topics[topic] {
		require.NoError(t, p.Error)
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// dvEndOffsets returns the high-water mark of each partition of topic.
func dvEndOffsets(t *testing.T, brokers []string, topic string, partitions int) []int64 {
	t.Helper()
	c := dvClient(brokers)
	defer dvCloseClient(c)
	var req []kafka.OffsetRequest
	for p := range partitions {
		req = append(req, kafka.LastOffsetOf(p))
	}
	resp, err := c.ListOffsets(testContext(t), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	require.NoError(t, err)
	out := make([]int64, partitions)
	for _, po := range resp.Topics[topic] {
		require.NoError(t, po.Error)
		out[po.Partition] = po.LastOffset
	}
	return out
}

// dvWaitStable waits until the broker reports the group Stable with
// members members, and returns how long that took.
func dvWaitStable(t *testing.T, brokers []string, group string, members int, timeout time.Duration) time.Duration {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	start := time.Now()
	var state string
	var n int
	for time.Since(start) < timeout {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		described, err := adm.DescribeGroups(ctx, group)
		cancel()
		if g, ok := described[group]; err == nil && ok && g.Err == nil {
			state, n = g.State, len(g.Members)
			if state == "Stable" && n == members {
				return time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("group %s not Stable with %d members after %v: %s with %d", group, members, timeout, state, n)
	return 0
}

// dvLog records handler calls.
type dvLog struct {
	mu   sync.Mutex
	seen []dvSeen
	more chan struct{}
}

func newDvLog() *dvLog { return &dvLog{more: make(chan struct{}, 1)} }

func (l *dvLog) add(m *core.Message[dvItem]) {
	l.mu.Lock()
	l.seen = append(l.seen, dvSeen{P: m.Record.Partition, O: m.Record.Offset, Key: m.Data.Key, N: m.Data.N})
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
}

func (l *dvLog) all() []dvSeen {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

func (l *dvLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// waitFor waits until cond holds on the calls so far.
func (l *dvLog) waitFor(t *testing.T, what string, timeout time.Duration, cond func([]dvSeen) bool) []dvSeen {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if s := l.all(); cond(s) {
			return s
		}
		select {
		case <-l.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not within %v; %d handler calls: %v", what, timeout, l.len(), dvShort(l.all()))
		}
	}
}

// waitN waits for n handler calls.
func (l *dvLog) waitN(t *testing.T, n int, timeout time.Duration) []dvSeen {
	t.Helper()
	return l.waitFor(t, fmt.Sprintf("%d handler calls", n), timeout, func(s []dvSeen) bool { return len(s) >= n })
}

// dvShort abbreviates a long call list in failure messages.
func dvShort(s []dvSeen) any {
	if len(s) > 40 {
		return fmt.Sprintf("%v ... (%d more)", s[:40], len(s)-40)
	}
	return s
}

// dvPOs returns the (partition, offset) of each call, sorted.
func dvPOs(s []dvSeen) []dvPO {
	out := make([]dvPO, len(s))
	for i, x := range s {
		out[i] = x.po()
	}
	slices.SortFunc(out, dvComparePO)
	return out
}

func dvComparePO(a, b dvPO) int {
	if a.P != b.P {
		return a.P - b.P
	}
	return int(a.O - b.O)
}

// dvRange lists offsets from..to-1 of partition p.
func dvRange(p int, from, to int64) []dvPO {
	var out []dvPO
	for o := from; o < to; o++ {
		out = append(out, dvPO{p, o})
	}
	return out
}

// ---------------------------------------------------------------------------
// Order and concurrency

func TestOrderWithinPartitionUnderConcurrency(t *testing.T) {
	const partitions, keysPer, perKey = 4, 4, 25 // 400 messages, 100 a partition
	e := newDvEnv(t)
	app := e.app(func(c *core.Config) { c.Partitions = partitions })
	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "ordered", 0))

	var items []dvItem
	for n := range perKey {
		for _, keys := range dvKeys(partitions, keysPer) {
			for _, k := range keys {
				items = append(items, dvItem{Key: k, N: n})
			}
		}
	}
	// A backlog on every partition before the worker starts: all four are
	// fetched and handled at the same time.
	dvPublish(t, app, "ordered", items...)

	var inflight, maxInflight atomic.Int64
	log := newDvLog()
	_, err := core.Subscribe(app, "ordered", e.group, func(ctx context.Context, m *core.Message[dvItem]) error {
		n := inflight.Add(1)
		for {
			old := maxInflight.Load()
			if n <= old || maxInflight.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		log.add(m)
		inflight.Add(-1)
		return nil
	}, &core.SubscribeOptions{Concurrency: 8})
	require.NoError(t, err)
	start := time.Now()
	run := startRun(t, app)
	seen := log.waitN(t, len(items), 30*time.Second)
	elapsed := time.Since(start)
	require.NoError(t, run.stop(t))

	require.Len(t, seen, len(items), "each message handled exactly once")
	byPartition := map[int][]int64{}
	byKey := map[string][]int{}
	for _, s := range seen {
		byPartition[s.P] = append(byPartition[s.P], s.O)
		byKey[s.Key] = append(byKey[s.Key], s.N)
	}
	require.Len(t, byPartition, partitions)
	for p, offsets := range byPartition {
		want := make([]int64, keysPer*perKey)
		for i := range want {
			want[i] = int64(i)
		}
		assert.Equal(t, want, offsets, "partition %d handled in offset order", p)
	}
	require.Len(t, byKey, partitions*keysPer)
	for k, ns := range byKey {
		want := make([]int, perKey)
		for i := range want {
			want[i] = i
		}
		assert.Equal(t, want, ns, "key %s handled in publish order", k)
	}
	got := maxInflight.Load()
	t.Logf("%d messages over %d partitions in %v; at most %d handlers at once", len(items), partitions, elapsed.Round(time.Millisecond), got)
	assert.Greater(t, got, int64(1), "handlers of different partitions ran at once")
	assert.LessOrEqual(t, got, int64(partitions), "one handler at a time per partition")
}

// ---------------------------------------------------------------------------
// Commits and graceful stop

func TestGracefulStopCommitsWhatFinished(t *testing.T) {
	const partitions, perPartition = 3, 100
	e := newDvEnv(t)
	// An hour between interval commits: only the shutdown commit can save
	// what worker A handled.
	cfg := func(c *core.Config) { c.Partitions = partitions; c.CommitInterval = time.Hour }
	pub := e.app(cfg)
	ctx := testContext(t)
	require.NoError(t, pub.EnsureStream(ctx, "stream", 0))
	keys := dvKeys(partitions, 1)
	var items []dvItem
	for n := range perPartition {
		for p := range partitions {
			items = append(items, dvItem{Key: keys[p][0], N: n})
		}
	}
	dvPublish(t, pub, "stream", items...)
	topic := pub.Topic("stream")

	// Worker A handles a third of the backlog, slowly, and is stopped.
	a := e.app(cfg)
	logA := newDvLog()
	var started, finished atomic.Int64
	_, err := core.Subscribe(a, "stream", e.group, func(ctx context.Context, m *core.Message[dvItem]) error {
		started.Add(1)
		time.Sleep(5 * time.Millisecond)
		logA.add(m)
		finished.Add(1)
		return nil
	}, &core.SubscribeOptions{Concurrency: partitions})
	require.NoError(t, err)
	runA := startRun(t, a)
	logA.waitN(t, len(items)/3, 30*time.Second)
	inflight := started.Load() - finished.Load()
	stopStart := time.Now()
	require.NoError(t, runA.stop(t))
	stopTook := time.Since(stopStart)
	handledA := logA.all()
	assert.Equal(t, started.Load(), finished.Load(), "every handler in flight at the stop finished")
	assert.Less(t, len(handledA), len(items), "A was stopped mid-stream")

	// A handled each partition from offset 0 on, in order; the shutdown
	// commit covers exactly that.
	wantCommitted := make([]int64, partitions)
	count := make([]int64, partitions)
	for _, s := range handledA {
		require.Equal(t, count[s.P], s.O, "A handled partition %d in order", s.P)
		count[s.P]++
	}
	for p := range partitions {
		wantCommitted[p] = count[p]
		if count[p] == 0 {
			wantCommitted[p] = -1
		}
	}
	assert.Equal(t, wantCommitted, dvCommitted(t, e.brokers, e.group, topic, partitions), "committed offsets after A's stop")

	// Worker B, same group, gets exactly what A did not handle, then one
	// marker per partition published after it started.
	b := e.app(cfg)
	logB := newDvLog()
	_, err = core.Subscribe(b, "stream", e.group, func(ctx context.Context, m *core.Message[dvItem]) error {
		logB.add(m)
		return nil
	}, &core.SubscribeOptions{Concurrency: partitions})
	require.NoError(t, err)
	runB := startRun(t, b)
	logB.waitN(t, len(items)-len(handledA), 30*time.Second)
	var markers []dvItem
	for p := range partitions {
		markers = append(markers, dvItem{Key: keys[p][0], N: -1})
	}
	dvPublish(t, pub, "stream", markers...)
	handledB := logB.waitN(t, len(items)-len(handledA)+partitions, 30*time.Second)
	require.NoError(t, runB.stop(t))

	var want []dvPO
	for p := range partitions {
		want = append(want, dvRange(p, count[p], perPartition+1)...)
	}
	redelivered := 0
	inA := map[dvPO]bool{}
	for _, s := range handledA {
		inA[s.po()] = true
	}
	for _, s := range handledB {
		if inA[s.po()] {
			redelivered++
		}
	}
	t.Logf("A handled %d of %d (%d in flight at the stop); stop took %v; B redelivered %d", len(handledA), len(items), inflight, stopTook.Round(time.Millisecond), redelivered)
	assert.Equal(t, want, dvPOs(handledB), "B handles what A did not, each once, and nothing A handled")
	assert.Zero(t, redelivered, "nothing A finished is redelivered: in-flight handlers finish before the shutdown commit")
}

// dvBlocking is a handler that blocks on the message whose key is "block"
// until released or until its context ends, and records everything else.
type dvBlocking struct {
	log      *dvLog
	started  chan struct{} // closed when the blocking call starts
	release  chan struct{}
	ctxErr   chan error // the blocking call's ctx.Err() when it returned
	returnFn func(ctx context.Context) error
}

func newDvBlocking(returnFn func(ctx context.Context) error) *dvBlocking {
	return &dvBlocking{log: newDvLog(), started: make(chan struct{}), release: make(chan struct{}), ctxErr: make(chan error, 1), returnFn: returnFn}
}

func (h *dvBlocking) handle(ctx context.Context, m *core.Message[dvItem]) error {
	if m.Data.Key != "block" {
		h.log.add(m)
		return nil
	}
	close(h.started)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	h.ctxErr <- ctx.Err()
	return h.returnFn(ctx)
}

func TestShutdownLetsInFlightHandlerFinish(t *testing.T) {
	e := newDvEnv(t)
	cfg := func(c *core.Config) {
		c.Partitions = 1
		c.CommitInterval = time.Hour
		c.ShutdownTimeout = 10 * time.Second
	}
	pub := e.app(cfg)
	dvPublish(t, pub, "stream", dvItem{Key: "block"}, dvItem{Key: "after"})

	a := e.app(cfg)
	h := newDvBlocking(func(context.Context) error { return nil })
	_, err := core.Subscribe(a, "stream", e.group, h.handle, nil)
	require.NoError(t, err)
	runA := startRun(t, a)
	select {
	case <-h.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking handler did not start")
	}

	stopStart := time.Now()
	runA.cancel()
	dvRunStillRunning(t, runA, 700*time.Millisecond)
	close(h.release)
	require.NoError(t, dvRunReturns(t, runA, 5*time.Second), "a graceful stop returns nil")
	stopTook := time.Since(stopStart)
	assert.NoError(t, <-h.ctxErr, "the handler's context was not cancelled: it finished within ShutdownTimeout")
	assert.Empty(t, h.log.all(), "nothing is fetched after the stop began")
	assert.Equal(t, core.SubscriptionStats{Handled: 1}, a.Subscriptions()[0].Stats())
	assert.Equal(t, []int64{1}, dvCommitted(t, e.brokers, e.group, pub.Topic("stream"), 1), "the finished message was committed on shutdown")

	t.Logf("stop took %v with a handler in flight for 700ms of it", stopTook.Round(time.Millisecond))
	// The next worker starts after it.
	assert.Equal(t, []dvSeen{{P: 0, O: 1, Key: "after"}, {P: 0, O: 2, Key: "marker"}}, dvNextWorker(t, e, pub))
}

func TestShutdownTimeoutCancelsHandlerAndRedelivers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy core.ErrorPolicy
	}{
		{"fail", core.ErrorPolicy{}},
		{"retry", core.ErrorPolicy{Retries: 3, Backoff: 10 * time.Millisecond}},
		// A message interrupted by the stop was not handled: the error
		// policy must not skip or dead-letter it and commit it.
		{"skip", core.ErrorPolicy{Then: core.ActionSkip}},
		{"dead-letter", core.ErrorPolicy{Then: core.ActionDeadLetter, DeadLetterStream: "dead"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const shutdownTimeout = 300 * time.Millisecond
			e := newDvEnv(t)
			cfg := func(c *core.Config) {
				c.Partitions = 1
				c.CommitInterval = time.Hour
				c.ShutdownTimeout = shutdownTimeout
			}
			pub := e.app(cfg)
			dvPublish(t, pub, "stream", dvItem{Key: "block"})

			a := e.app(cfg)
			h := newDvBlocking(func(ctx context.Context) error { return ctx.Err() })
			_, err := core.Subscribe(a, "stream", e.group, h.handle, &core.SubscribeOptions{OnError: tc.policy})
			require.NoError(t, err)
			runA := startRun(t, a)
			select {
			case <-h.started:
			case <-time.After(30 * time.Second):
				t.Fatal("the blocking handler did not start")
			}
			stopStart := time.Now()
			require.NoError(t, runA.stop(t), "a graceful stop returns nil, even past its deadline")
			stopTook := time.Since(stopStart)
			var ctxErr error
			select {
			case ctxErr = <-h.ctxErr:
			default:
				t.Fatal("the handler had not returned when Run did")
			}
			assert.ErrorIs(t, ctxErr, context.Canceled, "the handler's context is cancelled at the deadline")
			assert.GreaterOrEqual(t, stopTook, shutdownTimeout, "the handler had ShutdownTimeout to finish")
			assert.Less(t, stopTook, shutdownTimeout+time.Second, "the stop ends soon after the deadline")
			assert.Equal(t, core.SubscriptionStats{}, a.Subscriptions()[0].Stats(), "the interrupted message is neither handled, failed nor dead-lettered")
			assert.Equal(t, []int64{-1}, dvCommitted(t, e.brokers, e.group, pub.Topic("stream"), 1), "nothing committed")

			t.Logf("ShutdownTimeout %v: stop took %v", shutdownTimeout, stopTook.Round(time.Millisecond))
			// The interrupted message goes to the next worker.
			assert.Equal(t, []dvSeen{{P: 0, O: 0, Key: "block"}, {P: 0, O: 1, Key: "marker"}}, dvNextWorker(t, e, pub), "redelivered")
		})
	}
}

// ---------------------------------------------------------------------------
// Error policies

var errDv = errors.New("cannot process item")

// dvFailing calls fail(m, attempt) for each message, attempt counting from
// 1 per (partition, offset), and records the calls and their times.
type dvFailing struct {
	mu    sync.Mutex
	calls map[dvPO][]time.Time
	log   *dvLog // messages handled (fail returned nil)
	fail  func(m *core.Message[dvItem], attempt int) error
}

func newDvFailing(fail func(m *core.Message[dvItem], attempt int) error) *dvFailing {
	return &dvFailing{calls: map[dvPO][]time.Time{}, log: newDvLog(), fail: fail}
}

func (h *dvFailing) handle(ctx context.Context, m *core.Message[dvItem]) error {
	po := dvPO{m.Record.Partition, m.Record.Offset}
	h.mu.Lock()
	h.calls[po] = append(h.calls[po], time.Now())
	attempt := len(h.calls[po])
	h.mu.Unlock()
	if err := h.fail(m, attempt); err != nil {
		return err
	}
	h.log.add(m)
	return nil
}

func (h *dvFailing) callTimes(po dvPO) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls[po])
}

// failBad fails every call on the message keyed "bad".
func failBad(m *core.Message[dvItem], _ int) error {
	if m.Data.Key == "bad" {
		return errDv
	}
	return nil
}

func dvPolicyApp(t *testing.T, e *dvEnv, h func(context.Context, *core.Message[dvItem]) error, opts *core.SubscribeOptions) (*core.Application, *core.Subscription) {
	t.Helper()
	app := e.app(func(c *core.Config) { c.Partitions = 1 })
	sub, err := core.Subscribe(app, "stream", e.group, h, opts)
	require.NoError(t, err)
	return app, sub
}

// dvNextWorker starts another worker of e's group on "stream" that handles
// everything, publishes a marker (key "marker", one partition) and returns
// what it handled up to and including the marker.
func dvNextWorker(t *testing.T, e *dvEnv, pub *core.Application) []dvSeen {
	t.Helper()
	b := e.app(func(c *core.Config) { c.Partitions = 1 })
	log := newDvLog()
	_, err := core.Subscribe(b, "stream", e.group, func(ctx context.Context, m *core.Message[dvItem]) error { log.add(m); return nil }, nil)
	require.NoError(t, err)
	run := startRun(t, b)
	dvPublish(t, pub, "stream", dvItem{Key: "marker"})
	got := log.waitFor(t, "the marker", 30*time.Second, func(s []dvSeen) bool {
		return len(s) > 0 && s[len(s)-1].Key == "marker"
	})
	require.NoError(t, run.stop(t))
	return got
}

func TestRetryWithBackoffThenSucceed(t *testing.T) {
	const backoff = 80 * time.Millisecond
	e := newDvEnv(t)
	h := newDvFailing(func(m *core.Message[dvItem], attempt int) error {
		if m.Data.Key == "flaky" && attempt <= 2 {
			return fmt.Errorf("attempt %d: %w", attempt, errDv)
		}
		return nil
	})
	app, sub := dvPolicyApp(t, e, h.handle, &core.SubscribeOptions{OnError: core.ErrorPolicy{Retries: 3, Backoff: backoff}})
	dvPublish(t, app, "stream", dvItem{Key: "flaky"}, dvItem{Key: "next"})
	run := startRun(t, app)
	got := h.log.waitN(t, 2, 30*time.Second)
	require.NoError(t, app.HealthCheck())
	require.NoError(t, run.stop(t))

	assert.Equal(t, []dvSeen{{P: 0, O: 0, Key: "flaky"}, {P: 0, O: 1, Key: "next"}}, got, "each handled once, in order")
	calls := h.callTimes(dvPO{0, 0})
	require.Len(t, calls, 3, "two failures, then success")
	first, second := calls[1].Sub(calls[0]), calls[2].Sub(calls[1])
	t.Logf("backoff %v: retried after %v, then %v", backoff, first.Round(time.Millisecond), second.Round(time.Millisecond))
	assert.GreaterOrEqual(t, first, backoff, "first retry after Backoff")
	assert.GreaterOrEqual(t, second, 2*backoff, "the backoff doubles")
	assert.Equal(t, core.SubscriptionStats{Handled: 2, Retried: 2}, sub.Stats())
	assert.Equal(t, []int64{2}, dvCommitted(t, e.brokers, e.group, app.Topic("stream"), 1))
}

func TestRetryExhaustedThenFails(t *testing.T) {
	e := newDvEnv(t)
	h := newDvFailing(failBad)
	app, sub := dvPolicyApp(t, e, h.handle, &core.SubscribeOptions{OnError: core.ErrorPolicy{Retries: 2, Backoff: 10 * time.Millisecond}})
	dvPublish(t, app, "stream", dvItem{Key: "ok"}, dvItem{Key: "bad"}, dvItem{Key: "after"})
	run := startRun(t, app)
	err := dvRunReturns(t, run, 30*time.Second)

	var he *core.HandlerError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, e.group, he.Group)
	assert.Equal(t, app.Topic("stream"), he.Topic)
	assert.Equal(t, 0, he.Partition)
	assert.Equal(t, int64(1), he.Offset)
	assert.ErrorIs(t, err, errDv)
	assert.Contains(t, err.Error(), "offset 1")
	assert.Len(t, h.callTimes(dvPO{0, 1}), 3, "tried 1 + Retries times, and not again")
	assert.Equal(t, []dvSeen{{P: 0, O: 0, Key: "ok"}}, h.log.all(), "nothing past the failed message is handled")
	assert.Equal(t, core.SubscriptionStats{Handled: 1, Retried: 2}, sub.Stats())
	assert.Error(t, app.HealthCheck(), "the failed subscription is not running")

	// Committed: what finished before the failure, nothing past it.
	assert.Equal(t, []int64{1}, dvCommitted(t, e.brokers, e.group, app.Topic("stream"), 1))
	assert.Equal(t, []dvSeen{{P: 0, O: 1, Key: "bad"}, {P: 0, O: 2, Key: "after"}, {P: 0, O: 3, Key: "marker"}},
		dvNextWorker(t, e, app), "the next worker starts at the failed message")
}

func TestRetryExhaustedThenSkip(t *testing.T) {
	e := newDvEnv(t)
	h := newDvFailing(failBad)
	app, sub := dvPolicyApp(t, e, h.handle, &core.SubscribeOptions{OnError: core.ErrorPolicy{Retries: 2, Backoff: 10 * time.Millisecond, Then: core.ActionSkip}})
	dvPublish(t, app, "stream", dvItem{Key: "ok"}, dvItem{Key: "bad"}, dvItem{Key: "after"})
	run := startRun(t, app)
	got := h.log.waitN(t, 2, 30*time.Second)
	require.NoError(t, app.HealthCheck(), "the subscription goes on")
	require.NoError(t, run.stop(t))

	assert.Equal(t, []dvSeen{{P: 0, O: 0, Key: "ok"}, {P: 0, O: 2, Key: "after"}}, got)
	assert.Len(t, h.callTimes(dvPO{0, 1}), 3, "tried 1 + Retries times")
	assert.Equal(t, core.SubscriptionStats{Handled: 2, Failed: 1, Retried: 2}, sub.Stats())
	assert.Equal(t, []int64{3}, dvCommitted(t, e.brokers, e.group, app.Topic("stream"), 1), "the skipped message is committed")
	assert.Equal(t, []dvSeen{{P: 0, O: 3, Key: "marker"}}, dvNextWorker(t, e, app), "nothing is redelivered")
}

func TestDeadLetterCarriesHeaders(t *testing.T) {
	e := newDvEnv(t)
	h := newDvFailing(failBad)
	var badValue []byte
	var mu sync.Mutex
	handle := func(ctx context.Context, m *core.Message[dvItem]) error {
		if m.Data.Key == "bad" {
			mu.Lock()
			badValue = slices.Clone(m.Record.Value)
			mu.Unlock()
		}
		return h.handle(ctx, m)
	}
	app, sub := dvPolicyApp(t, e, handle, &core.SubscribeOptions{OnError: core.ErrorPolicy{
		Retries: 1, Backoff: 10 * time.Millisecond, Then: core.ActionDeadLetter, DeadLetterStream: "stream.dead",
	}})
	ctx := testContext(t)
	headers := []core.Header{{Key: "trace-id", Value: []byte("abc123")}, {Key: "foo", Value: []byte("bar")}}
	require.NoError(t, app.Publish(ctx, "stream", dvItem{Key: "ok"}, core.Key([]byte("ok"))))
	require.NoError(t, app.Publish(ctx, "stream", dvItem{Key: "bad", N: 7}, core.Key([]byte("user-7")), core.Headers(headers...)))
	require.NoError(t, app.Publish(ctx, "stream", dvItem{Key: "after"}, core.Key([]byte("after"))))
	run := startRun(t, app)
	got := h.log.waitN(t, 2, 30*time.Second)
	require.NoError(t, app.HealthCheck(), "the subscription goes on")
	require.NoError(t, run.stop(t))

	assert.Equal(t, []dvSeen{{P: 0, O: 0, Key: "ok"}, {P: 0, O: 2, Key: "after"}}, got)
	assert.Len(t, h.callTimes(dvPO{0, 1}), 2, "tried 1 + Retries times")
	assert.Equal(t, core.SubscriptionStats{Handled: 2, Retried: 1, DeadLettered: 1}, sub.Stats())
	assert.Equal(t, []int64{3}, dvCommitted(t, e.brokers, e.group, app.Topic("stream"), 1), "the dead-lettered message is committed")

	dead := testutil.ReadTopic(t, e.brokers, app.Topic("stream.dead"), 1, 20*time.Second)
	require.Len(t, dead, 1)
	assert.Equal(t, "user-7", string(dead[0].Key), "key unchanged")
	assert.Equal(t, `{"schema":"dvItem:1","data":{"key":"bad","n":7}}`, string(dead[0].Value), "value unchanged")
	mu.Lock()
	assert.Equal(t, badValue, dead[0].Value, "value unchanged")
	mu.Unlock()
	assert.Equal(t, append(slices.Clone(headers),
		core.Header{Key: core.HeaderError, Value: []byte(errDv.Error())},
		core.Header{Key: core.HeaderGroup, Value: []byte(e.group)},
		core.Header{Key: core.HeaderTopic, Value: []byte(app.Topic("stream"))},
		core.Header{Key: core.HeaderPartition, Value: []byte("0")},
		core.Header{Key: core.HeaderOffset, Value: []byte("1")},
	), headersOf(dead[0]), "the record's headers, then kafkaesk's")
	assert.Equal(t, int64(1), testutil.MessageCount(t, e.brokers, app.Topic("stream.dead")), "dead-lettered once")
}

func TestPanicIsAnError(t *testing.T) {
	t.Run("fail", func(t *testing.T) {
		e := newDvEnv(t)
		h := newDvFailing(func(m *core.Message[dvItem], _ int) error {
			if m.Data.Key == "bad" {
				panic("kaboom")
			}
			return nil
		})
		app, sub := dvPolicyApp(t, e, h.handle, nil)
		dvPublish(t, app, "stream", dvItem{Key: "ok"}, dvItem{Key: "bad"}, dvItem{Key: "after"})
		run := startRun(t, app)
		err := dvRunReturns(t, run, 30*time.Second)

		var he *core.HandlerError
		require.ErrorAs(t, err, &he, "the panic is the subscription's failure, not a crash")
		assert.Equal(t, int64(1), he.Offset)
		assert.Equal(t, app.Topic("stream"), he.Topic)
		assert.Contains(t, err.Error(), "handler panicked: kaboom")
		assert.Len(t, h.callTimes(dvPO{0, 1}), 1)
		assert.Equal(t, core.SubscriptionStats{Handled: 1}, sub.Stats())
		assert.Equal(t, []int64{1}, dvCommitted(t, e.brokers, e.group, app.Topic("stream"), 1))
		// Still alive: the next worker of the group runs in this process.
		assert.Equal(t, []dvSeen{{P: 0, O: 1, Key: "bad"}, {P: 0, O: 2, Key: "after"}, {P: 0, O: 3, Key: "marker"}}, dvNextWorker(t, e, app))
	})
	t.Run("skip", func(t *testing.T) {
		e := newDvEnv(t)
		h := newDvFailing(func(m *core.Message[dvItem], _ int) error {
			if m.Data.Key == "bad" {
				panic(fmt.Errorf("wrapped %w", errDv))
			}
			return nil
		})
		app, sub := dvPolicyApp(t, e, h.handle, &core.SubscribeOptions{OnError: core.ErrorPolicy{Then: core.ActionSkip}})
		dvPublish(t, app, "stream", dvItem{Key: "ok"}, dvItem{Key: "bad"}, dvItem{Key: "after"})
		run := startRun(t, app)
		got := h.log.waitN(t, 2, 30*time.Second)
		require.NoError(t, app.HealthCheck())
		require.NoError(t, run.stop(t))
		assert.Equal(t, []dvSeen{{P: 0, O: 0, Key: "ok"}, {P: 0, O: 2, Key: "after"}}, got)
		assert.Equal(t, core.SubscriptionStats{Handled: 2, Failed: 1}, sub.Stats())
	})
}

func TestTimeoutIsAContextDeadline(t *testing.T) {
	const timeout = 100 * time.Millisecond
	type call struct {
		err         error
		start, done time.Time // when the handler began, and returned
		deadline    time.Time // its context's deadline
		hasDeadline bool
	}
	// "wait" waits for its context and returns its error; "ignore" outlives
	// the timeout, ignoring the context, and returns nil.
	handler := func(calls chan<- call, log *dvLog) core.Handler[dvItem] {
		return func(ctx context.Context, m *core.Message[dvItem]) error {
			start := time.Now()
			deadline, hasDeadline := ctx.Deadline()
			switch m.Data.Key {
			case "wait":
				<-ctx.Done()
				calls <- call{ctx.Err(), start, time.Now(), deadline, hasDeadline}
				return ctx.Err()
			case "ignore":
				time.Sleep(2 * timeout)
				calls <- call{ctx.Err(), start, time.Now(), deadline, hasDeadline}
			}
			log.add(m)
			return nil
		}
	}

	t.Run("skip", func(t *testing.T) {
		e := newDvEnv(t)
		calls := make(chan call, 10)
		log := newDvLog()
		app, sub := dvPolicyApp(t, e, handler(calls, log), &core.SubscribeOptions{Timeout: timeout, OnError: core.ErrorPolicy{Then: core.ActionSkip}})
		dvPublish(t, app, "stream", dvItem{Key: "wait"}, dvItem{Key: "ignore"}, dvItem{Key: "ok"})
		run := startRun(t, app)
		got := log.waitN(t, 2, 30*time.Second)
		require.NoError(t, app.HealthCheck())
		require.NoError(t, run.stop(t))

		wait, ignore := <-calls, <-calls
		took := wait.done.Sub(wait.start)
		t.Logf("Timeout %v: the waiting handler's context ended after %v", timeout, took.Round(time.Millisecond))
		require.True(t, wait.hasDeadline, "the timeout is a context deadline")
		// The deadline is set just before the handler is called.
		assert.WithinRange(t, wait.deadline, wait.start.Add(timeout-50*time.Millisecond), wait.start.Add(timeout))
		assert.False(t, wait.done.Before(wait.deadline), "the context ended at its deadline, not before")
		assert.ErrorIs(t, wait.err, context.DeadlineExceeded)
		assert.Less(t, took, timeout+time.Second)
		assert.ErrorIs(t, ignore.err, context.DeadlineExceeded, "its context ended too")
		assert.Equal(t, []dvSeen{{P: 0, O: 1, Key: "ignore"}, {P: 0, O: 2, Key: "ok"}}, got, "a handler that returns nil past the timeout handled its message")
		assert.Equal(t, core.SubscriptionStats{Handled: 2, Failed: 1}, sub.Stats())
		assert.Equal(t, []int64{3}, dvCommitted(t, e.brokers, e.group, app.Topic("stream"), 1))
	})
	t.Run("fail", func(t *testing.T) {
		e := newDvEnv(t)
		calls := make(chan call, 10)
		log := newDvLog()
		app, sub := dvPolicyApp(t, e, handler(calls, log), &core.SubscribeOptions{Timeout: timeout})
		dvPublish(t, app, "stream", dvItem{Key: "ok"}, dvItem{Key: "wait"}, dvItem{Key: "after"})
		run := startRun(t, app)
		err := dvRunReturns(t, run, 30*time.Second)
		var he *core.HandlerError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, int64(1), he.Offset)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, core.SubscriptionStats{Handled: 1}, sub.Stats())
		assert.Equal(t, []dvSeen{{P: 0, O: 0, Key: "ok"}}, log.all())
	})
}

// ---------------------------------------------------------------------------
// Manual commit

func TestManualCommit(t *testing.T) {
	const partitions, perPartition = 2, 5
	e := newDvEnv(t)
	cfg := func(c *core.Config) {
		c.Partitions = partitions
		c.DisableAutoCommit = true
		c.CommitInterval = 50 * time.Millisecond // would commit everything if it were on
	}
	pub := e.app(cfg)
	keys := dvKeys(partitions, 1)
	var items []dvItem
	for n := range perPartition {
		for p := range partitions {
			items = append(items, dvItem{Key: keys[p][0], N: n})
		}
	}
	dvPublish(t, pub, "stream", items...)
	topic := pub.Topic("stream")

	// Worker A commits messages 1 and 3 of partition 0's key, nothing of
	// partition 1's.
	a := e.app(cfg)
	logA := newDvLog()
	var commitErrs []error
	var mu sync.Mutex
	sub, err := core.Subscribe(a, "stream", e.group, func(ctx context.Context, m *core.Message[dvItem]) error {
		logA.add(m)
		if m.Data.Key == keys[0][0] && (m.Data.N == 1 || m.Data.N == 3) {
			err := m.Commit(ctx)
			mu.Lock()
			commitErrs = append(commitErrs, err)
			mu.Unlock()
		}
		return nil
	}, &core.SubscribeOptions{Concurrency: 2})
	require.NoError(t, err)
	runA := startRun(t, a)
	logA.waitN(t, len(items), 30*time.Second)
	time.Sleep(200 * time.Millisecond) // four CommitIntervals: nothing more may be committed
	require.NoError(t, runA.stop(t))
	mu.Lock()
	assert.Equal(t, []error{nil, nil}, commitErrs)
	mu.Unlock()
	assert.Equal(t, core.SubscriptionStats{Handled: int64(len(items))}, sub.Stats())
	assert.Equal(t, []int64{4, -1}, dvCommitted(t, e.brokers, e.group, topic, partitions), "only the handler's commits, on the broker")

	// Worker B gets exactly what was not committed, then a marker on each
	// partition.
	b := e.app(cfg)
	logB := newDvLog()
	_, err = core.Subscribe(b, "stream", e.group, func(ctx context.Context, m *core.Message[dvItem]) error {
		logB.add(m)
		return nil
	}, &core.SubscribeOptions{Concurrency: 2})
	require.NoError(t, err)
	runB := startRun(t, b)
	logB.waitN(t, 1+perPartition, 30*time.Second)
	dvPublish(t, pub, "stream", dvItem{Key: keys[0][0], N: -1}, dvItem{Key: keys[1][0], N: -1})
	got := logB.waitN(t, 1+perPartition+partitions, 30*time.Second)
	require.NoError(t, runB.stop(t))
	want := append(dvRange(0, 4, perPartition+1), dvRange(1, 0, perPartition+1)...)
	assert.Equal(t, want, dvPOs(got), "the uncommitted messages, each once")
	assert.Equal(t, []int64{4, -1}, dvCommitted(t, e.brokers, e.group, topic, partitions), "B committed nothing")
}

// ---------------------------------------------------------------------------
// Rebalance under load

func TestRebalanceUnderLoadLosesNothing(t *testing.T) {
	const workers, partitions, producers = 5, 8, 8
	const dwell = time.Second
	e := newDvEnv(t)
	pub := e.app(func(c *core.Config) { c.Partitions = partitions })
	ctx := testContext(t)
	require.NoError(t, pub.EnsureStream(ctx, "load", 0))
	topic := pub.Topic("load")
	testStart := time.Now()

	var mu sync.Mutex
	handled := map[dvPO]int{} // handler calls per (partition, offset)
	var calls atomic.Int64
	var perWorker [workers]atomic.Int64
	type worker struct {
		app *core.Application
		run *running
	}
	start := func(i int) worker {
		app := e.app(nil)
		_, err := core.Subscribe(app, "load", e.group, func(ctx context.Context, m *core.Message[dvItem]) error {
			time.Sleep(time.Millisecond) // some work
			mu.Lock()
			handled[dvPO{m.Record.Partition, m.Record.Offset}]++
			mu.Unlock()
			calls.Add(1)
			perWorker[i].Add(1)
			return nil
		}, &core.SubscribeOptions{Concurrency: 4})
		require.NoError(t, err)
		return worker{app, startRun(t, app)}
	}
	// consuming waits until the group is stable with n members and every
	// live worker handles messages in the new generation.
	consuming := func(live []int) time.Duration {
		t.Helper()
		began := time.Now()
		dvWaitStable(t, e.brokers, e.group, len(live), 30*time.Second)
		var base [workers]int64
		for _, i := range live {
			base[i] = perWorker[i].Load()
		}
		require.Eventually(t, func() bool {
			for _, i := range live {
				if perWorker[i].Load() <= base[i] {
					return false
				}
			}
			return true
		}, 30*time.Second, 10*time.Millisecond, "every worker consumes")
		return time.Since(began)
	}

	// The producer: synchronous publishes from a few goroutines, until told
	// to stop between two publishes, so that every acknowledged message is
	// counted and nothing is left half-sent.
	var stopProducing atomic.Bool
	var published, publishErrs atomic.Int64
	var producing sync.WaitGroup
	for g := range producers {
		producing.Go(func() {
			for n := 0; !stopProducing.Load(); n++ {
				pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := pub.Publish(pctx, "load", dvItem{Key: fmt.Sprintf("p%d-%d", g, n%64), N: n}, core.Key(fmt.Appendf(nil, "p%d-%d", g, n%64)))
				cancel()
				if err != nil {
					publishErrs.Add(1)
					t.Logf("publish: %v", err)
					continue
				}
				published.Add(1)
			}
		})
	}
	t.Cleanup(func() { stopProducing.Store(true); producing.Wait() })

	ws := make([]worker, workers)
	all := make([]int, workers)
	for i := range ws {
		ws[i] = start(i)
		all[i] = i
	}
	t.Logf("%d workers consuming after %v", workers, consuming(all).Round(time.Millisecond))

	var stops []time.Duration
	for i := range ws {
		began := time.Now()
		require.NoError(t, ws[i].run.stop(t))
		took := time.Since(began)
		stops = append(stops, took)
		assert.Less(t, took, time.Second, "worker %d stopped within 1 s", i)
		dvClose(t, ws[i].app)
		others := slices.DeleteFunc(slices.Clone(all), func(j int) bool { return j == i })
		without := consuming(others)
		ws[i] = start(i)
		with := consuming(all)
		time.Sleep(dwell) // the group under load for a while
		t.Logf("worker %d: stop %v; rebalanced without it in %v, with its successor in %v; %d published, %d handled",
			i, took.Round(time.Millisecond), without.Round(time.Millisecond), with.Round(time.Millisecond), published.Load(), calls.Load())
	}

	stopProducing.Store(true)
	producing.Wait()
	require.Zero(t, publishErrs.Load(), "publish errors")
	ends := dvEndOffsets(t, e.brokers, topic, partitions)
	var total int64
	for _, n := range ends {
		total += n
	}
	require.Equal(t, published.Load(), total, "every acknowledged publish is on the topic, once")

	missing := func() []dvPO {
		mu.Lock()
		defer mu.Unlock()
		var out []dvPO
		for p, end := range ends {
			for o := range end {
				if handled[dvPO{p, o}] == 0 {
					out = append(out, dvPO{p, o})
				}
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	lost := missing()
	if len(lost) > 10 {
		lost = lost[:10]
	}
	require.Empty(t, lost, "every published (partition, offset) is handled")

	// Then all workers at once.
	began := time.Now()
	for i := range ws {
		ws[i].run.cancel()
	}
	for i := range ws {
		require.NoError(t, ws[i].run.stop(t))
	}
	finalStop := time.Since(began)
	assert.Less(t, finalStop, time.Second, "all workers stopped at once within 1 s")

	mu.Lock()
	distinct, duplicates := int64(len(handled)), calls.Load()-int64(len(handled))
	mu.Unlock()
	assert.Equal(t, total, distinct, "nothing handled that was not published")
	t.Logf("%d published over %v; %d handler calls: %d distinct, %d duplicates; stops %v; all %d at once %v",
		total, time.Since(testStart).Round(time.Millisecond), calls.Load(), distinct, duplicates, dvRound(stops), workers, finalStop.Round(time.Millisecond))
}

func dvRound(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
