package core_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// A consumer that buffers what it handles flushes in BeforeCommit; what is
// committed must never run ahead of what BeforeCommit made durable.
func TestBeforeCommitRunsBeforeEveryCommitAndCoversIt(t *testing.T) {
	const partitions, perPartition = 2, 200
	e := newDvEnv(t)
	cfg := func(c *core.Config) { c.Partitions = partitions; c.CommitInterval = 20 * time.Millisecond }
	pub := e.app(cfg)
	keys := dvKeys(partitions, 1)
	var items []dvItem
	for n := range perPartition {
		for p := range partitions {
			items = append(items, dvItem{Key: keys[p][0], N: n})
		}
	}
	require.NoError(t, pub.EnsureStream(testContext(t), "stream", 0))
	dvPublish(t, pub, "stream", items...)

	var (
		mu       sync.Mutex
		buffered = map[int]int64{} // partition → one past the last handled
		durable  = map[int]int64{} // what the last BeforeCommit flushed
		failNext atomic.Bool
		commits  []core.Commit
	)
	failNext.Store(true) // the first flush fails: that commit must not happen
	w := e.app(cfg)
	log := newDvLog()
	sub, err := core.Subscribe(w, "stream", e.group, func(ctx context.Context, m *core.Message[dvItem]) error {
		mu.Lock()
		buffered[m.Record.Partition] = m.Record.Offset + 1
		mu.Unlock()
		log.add(m)
		time.Sleep(100 * time.Microsecond)
		return nil
	}, &core.SubscribeOptions{
		Concurrency: partitions,
		BeforeCommit: func(ctx context.Context) error {
			if failNext.Swap(false) {
				return errors.New("disk full")
			}
			mu.Lock()
			for p, off := range buffered {
				durable[p] = off
			}
			mu.Unlock()
			return nil
		},
		AfterCommit: func(c core.Commit) {
			mu.Lock()
			defer mu.Unlock()
			commits = append(commits, c)
			if c.Err != nil {
				return
			}
			for _, parts := range c.Offsets {
				for p, next := range parts {
					assert.LessOrEqual(t, next, durable[p], "partition %d committed past what was flushed", p)
				}
			}
		},
	})
	require.NoError(t, err)
	run := startRun(t, w)
	log.waitN(t, len(items), 30*time.Second)

	// Partitions shows every assigned partition caught up, without lag.
	require.Eventually(t, func() bool {
		states := sub.Partitions()
		if len(states) != partitions {
			return false
		}
		for _, s := range states {
			if s.Finished != perPartition || s.HighWaterMark != perPartition || s.Lag() != 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "partitions: %+v", sub.Partitions())
	require.NoError(t, run.stop(t))
	assert.Nil(t, sub.Partitions(), "no partitions once stopped")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, commits)
	assert.ErrorContains(t, commits[0].Err, "disk full", "the failed flush is reported and that commit skipped")
	last := commits[len(commits)-1]
	assert.NoError(t, last.Err)
	assert.Equal(t, dvCommitted(t, e.brokers, e.group, pub.Topic("stream"), partitions), []int64{perPartition, perPartition})
}
