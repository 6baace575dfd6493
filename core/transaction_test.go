package core_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// Transactions run on franz-go whatever KAFKAESK_CLIENT says; on kafka-go
// every way to ask for them is a clear error that names the client.
func TestTransactionsOnKafkaGoAreAClearError(t *testing.T) {
	brokers := kafkaesktest.Brokers(t)
	_, err := core.New(core.Config{Brokers: brokers, Client: core.ClientKafkaGo, TransactionalID: "t"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TransactionalID needs Client franz-go: kafka-go has no transactional producer")

	app, _ := newTestApp(t, core.Config{Client: core.ClientKafkaGo})
	err = app.Transact(testContext(t), func(context.Context, *core.Tx) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.TransactionalID")

	for _, opts := range []core.SubscribeOptions{{Transactional: true}, {ReadCommitted: true}} {
		app, _ := newTestApp(t, core.Config{Client: core.ClientKafkaGo})
		require.NoError(t, app.EnsureStream(testContext(t), "in", 0))
		_, err := core.SubscribeStreams(app, []string{"in"}, "g", func(context.Context, *core.Message[[]byte]) error { return nil }, &opts)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = app.Run(ctx)
		cancel()
		require.Error(t, err, "%+v", opts)
		assert.Regexp(t, "needs? Client franz-go", err.Error(), "%+v", opts)
		assert.Contains(t, err.Error(), "kafka-go", "%+v", opts)
	}
}

// An aborted transaction's messages are written, and never seen by a
// read_committed reader or subscription; the committed ones are, once.
func TestAbortedTransactionIsNeverReadCommitted(t *testing.T) {
	prefix := kafkaesktest.TopicPrefix(t)
	app, _ := newTestApp(t, core.Config{Client: core.ClientFranzGo, TransactionalID: prefix + "tx", Partitions: 1})
	ctx := testContext(t)
	publish := func(values ...string) func(context.Context, *core.Tx) error {
		return func(ctx context.Context, tx *core.Tx) error {
			for _, v := range values {
				if err := tx.RawPublish(ctx, "out", []byte(v)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	require.NoError(t, app.Transact(ctx, publish("c1", "c2", "c3")))
	boom := errors.New("changed my mind")
	err := app.Transact(ctx, func(ctx context.Context, tx *core.Tx) error {
		require.NoError(t, publish("a1", "a2")(ctx, tx))
		require.NoError(t, tx.Flush(ctx)) // written, then aborted
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, app.Transact(ctx, publish("c4")))

	read := func(committed bool) []string {
		var got []string
		require.NoError(t, app.Read(ctx, "out", &core.ReadOptions{UntilEnd: true, ReadCommitted: committed}, func(_ context.Context, r *core.Record) error {
			got = append(got, string(r.Value))
			return nil
		}))
		return got
	}
	// The markers are written after the commit returns: the last stable
	// offset gets there a little later on a real broker.
	var got []string
	require.Eventually(t, func() bool { got = read(true); return len(got) >= 4 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"c1", "c2", "c3", "c4"}, got, "read_committed")
	assert.Equal(t, []string{"c1", "c2", "c3", "a1", "a2", "c4"}, read(false), "read_uncommitted sees the aborted ones: they were written")

	var mu sync.Mutex
	got = nil
	sub, err := core.SubscribeStreams(app, []string{"out"}, "g", func(_ context.Context, m *core.Message[[]byte]) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(m.Data))
		return nil
	}, &core.SubscribeOptions{ReadCommitted: true})
	require.NoError(t, err)
	r := startRun(t, app)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 4 }, 20*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)  // anything more would show
	require.Eventually(t, func() bool { // past the last marker: no lag
		ps := sub.Partitions()
		return len(ps) == 1 && ps[0].Lag() == 0 && ps[0].Finished == ps[0].HighWaterMark
	}, 10*time.Second, 10*time.Millisecond, "partitions: %+v", sub.Partitions())
	require.NoError(t, r.stop(t))
	mu.Lock()
	assert.Equal(t, []string{"c1", "c2", "c3", "c4"}, got, "a read_committed subscription")
	mu.Unlock()
}

// A Transact whose message fails (too large for the broker) aborts: the
// error wraps ErrTransactionAborted, and nothing of it is committed.
func TestTransactionWithAFailedMessageAborts(t *testing.T) {
	prefix := kafkaesktest.TopicPrefix(t)
	app, _ := newTestApp(t, core.Config{Client: core.ClientFranzGo, TransactionalID: prefix + "tx", Partitions: 1, BatchBytes: 8 << 20})
	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "out", 0))
	err := app.Transact(ctx, func(ctx context.Context, tx *core.Tx) error {
		if err := tx.RawPublish(ctx, "out", []byte("small")); err != nil {
			return err
		}
		return tx.RawPublish(ctx, "out", make([]byte, 2<<20)) // the broker's limit is 1 MiB
	})
	require.ErrorIs(t, err, core.ErrTransactionAborted)
	require.NoError(t, app.Transact(ctx, func(ctx context.Context, tx *core.Tx) error {
		return tx.RawPublish(ctx, "out", []byte("after"))
	}), "the producer goes on after an aborted transaction")
	var got []string
	require.Eventually(t, func() bool { // the markers come after the commit returns
		got = nil
		require.NoError(t, app.Read(ctx, "out", &core.ReadOptions{UntilEnd: true, ReadCommitted: true}, func(_ context.Context, r *core.Record) error {
			got = append(got, string(r.Value))
			return nil
		}))
		return len(got) > 0
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"after"}, got)
}

// The exactly-once copier the SIGKILL test runs as a child process:
// every message of stream "in" republished to "out" in the transaction
// that commits its offset.
const eosChildEnv = "KAFKAESK_TEST_EOS_CHILD"

func runEOSChild() {
	app, err := core.New(core.Config{
		Brokers:         []string{os.Getenv("KAFKAESK_TEST_BROKERS")},
		Client:          core.ClientFranzGo,
		TopicPrefix:     os.Getenv("KAFKAESK_TEST_PREFIX"),
		TransactionalID: os.Getenv("KAFKAESK_TEST_PREFIX") + "copier",
		SessionTimeout:  6 * time.Second, // the killed member leaves the group sooner
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_, err = core.SubscribeStreams(app, []string{"in"}, "copier", func(ctx context.Context, m *core.Message[[]byte]) error {
		time.Sleep(200 * time.Microsecond) // a kill lands mid-stream
		return m.Tx.RawPublish(ctx, "out", m.Record.Value, core.Key(m.Record.Key))
	}, &core.SubscribeOptions{Transactional: true})
	if err == nil {
		err = app.Run(context.Background())
	}
	fmt.Fprintln(os.Stderr, "copier:", err)
	os.Exit(1)
}

// A consume-process-publish loop killed with SIGKILL mid-stream, then
// started again, yields each input exactly once to read_committed
// readers of its output.
func TestTransactionalCopierKilledMidStreamYieldsEachMessageOnce(t *testing.T) {
	app, brokers := newTestApp(t, core.Config{Client: core.ClientFranzGo, Partitions: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	prefix := app.Config().TopicPrefix // the child's too
	const n = 6000
	require.NoError(t, app.EnsureStream(ctx, "out", 0))
	values := make([][]byte, n)
	for i := range values {
		values[i] = []byte(strconv.Itoa(i))
	}
	var failed int
	var mu sync.Mutex
	require.NoError(t, app.RawPublishBatchAsync(ctx, "in", values, func(_ []byte, err error) {
		if err != nil {
			mu.Lock()
			failed++
			mu.Unlock()
		}
	}))
	require.NoError(t, app.Flush(ctx))
	require.Zero(t, failed)

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), eosChildEnv+"=1", "KAFKAESK_TEST_BROKERS="+brokers[0], "KAFKAESK_TEST_PREFIX="+prefix)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		return cmd
	}
	written := func() int64 { // records in "out", committed or not
		var total int64
		require.NoError(t, app.Read(ctx, "out", &core.ReadOptions{UntilEnd: true}, func(context.Context, *core.Record) error {
			total++
			return nil
		}))
		return total
	}
	committed := func() map[string]int {
		seen := map[string]int{}
		require.NoError(t, app.Read(ctx, "out", &core.ReadOptions{UntilEnd: true, ReadCommitted: true}, func(_ context.Context, r *core.Record) error {
			seen[string(r.Value)]++
			return nil
		}))
		return seen
	}

	first := start()
	require.Eventually(t, func() bool { return written() >= n/4 }, 60*time.Second, 20*time.Millisecond, "the copier wrote a quarter")
	require.NoError(t, first.Process.Kill())
	_ = first.Wait()
	atKill := written()
	t.Logf("killed the copier with %d of %d records written (committed or not)", atKill, n)
	require.Less(t, atKill, int64(n), "killed mid-stream")

	second := start()
	defer func() {
		_ = second.Process.Kill()
		_ = second.Wait()
	}()
	var seen map[string]int
	require.Eventually(t, func() bool { seen = committed(); return len(seen) >= n }, 60*time.Second, 100*time.Millisecond, "every input copied")
	dups := 0
	for i := range n {
		switch c := seen[strconv.Itoa(i)]; {
		case c == 0:
			t.Errorf("input %d missing", i)
		case c > 1:
			dups += c - 1
		}
	}
	assert.Zero(t, dups, "inputs copied more than once, read committed")
	all := written()
	t.Logf("%d records in the output in all (the killed transaction's aborted ones included): %d committed", all, n)
	assert.Less(t, all, int64(n+atKill), "what the first copier committed was not copied again")
}

// In a transactional subscription, a handler attempt that fails leaves
// nothing in the transaction (its retry publishes once), and a handler
// failure that fails the subscription aborts the open transaction: the
// next run handles the failed message and those after it, and every
// input is in the output once.
func TestTransactionalSubscriptionFailuresPublishNothing(t *testing.T) {
	prefix := kafkaesktest.TopicPrefix(t)
	brokers := kafkaesktest.Brokers(t)
	const n = 20
	newApp := func() *core.Application { // two runs of one service: same topics, same transactional id
		app, err := core.New(core.Config{Brokers: brokers, TopicPrefix: prefix, Client: core.ClientFranzGo,
			TransactionalID: prefix + "tx", Partitions: 1, SessionTimeout: 6 * time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, app.Close(context.Background())) })
		return app
	}
	app := newApp()
	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "out", 0))
	for i := range n {
		require.NoError(t, app.RawPublish(ctx, "in", []byte(strconv.Itoa(i))))
	}

	copier := func(failAt, flakyAt string) core.Handler[[]byte] {
		var mu sync.Mutex
		attempts := map[string]int{}
		return func(ctx context.Context, m *core.Message[[]byte]) error {
			v := string(m.Record.Value)
			if err := m.Tx.RawPublish(ctx, "out", m.Record.Value); err != nil {
				return err
			}
			mu.Lock()
			attempts[v]++
			first := attempts[v] == 1
			mu.Unlock()
			switch {
			case v == flakyAt && first:
				return errors.New("flaky: published, then failed")
			case v == failAt:
				return errors.New("broken")
			}
			return nil
		}
	}
	opts := &core.SubscribeOptions{Transactional: true, OnError: core.ErrorPolicy{Retries: 1}}
	_, err := core.SubscribeStreams(app, []string{"in"}, "copier", copier("12", ""), opts)
	require.NoError(t, err)
	runErr := app.Run(ctx)
	var herr *core.HandlerError
	require.ErrorAs(t, runErr, &herr, "the subscription failed at 12")
	assert.Equal(t, int64(12), herr.Offset)

	app2 := newApp()
	_, err = core.SubscribeStreams(app2, []string{"in"}, "copier", copier("", "3"), opts)
	require.NoError(t, err)
	r := startRun(t, app2)
	var seen map[string]int
	require.Eventually(t, func() bool {
		seen = map[string]int{}
		require.NoError(t, app.Read(ctx, "out", &core.ReadOptions{UntilEnd: true, ReadCommitted: true}, func(_ context.Context, rec *core.Record) error {
			seen[string(rec.Value)]++
			return nil
		}))
		return len(seen) == n
	}, 20*time.Second, 50*time.Millisecond, "every input copied: %v", seen)
	require.NoError(t, r.stop(t))
	for i := range n {
		assert.Equal(t, 1, seen[strconv.Itoa(i)], "input %d, read committed", i)
	}
}
