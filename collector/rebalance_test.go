package collector_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/collector"
)

// slow delays each write, so that a rebalance lands mid-stream.
type slow struct{ collector.Output }

func (s slow) Write(e *collector.Entry) error {
	time.Sleep(2 * time.Millisecond)
	return s.Output.Write(e)
}

// When a second collector joins the group, the first one flushes and
// commits what it wrote before giving partitions up: the two outputs
// together hold every event, and none twice.
func TestRebalanceCommitsWhatWasWritten(t *testing.T) {
	e := newEnv(t)
	const n = 600
	var vs [][]byte
	for i := range n {
		vs = append(vs, logEvent("api", "l", 20, i))
	}
	e.publish("logs.api", vs...)

	var bufA, bufB syncBuffer
	a, err := collector.New(e.app(), collector.Options{Patterns: []string{"logs.*"}, Group: e.group,
		Outputs: []collector.Output{slow{collector.NewJSONLines(&bufA)}}, Concurrency: 3})
	require.NoError(t, err)
	runA := start(t, a)
	waitFor(t, "a third written by A", func() bool { return a.Stats().Written >= n/3 })

	b, err := collector.New(e.app(), collector.Options{Patterns: []string{"logs.*"}, Group: e.group,
		Outputs: []collector.Output{slow{collector.NewJSONLines(&bufB)}}, Concurrency: 3})
	require.NoError(t, err)
	runB := start(t, b)
	waitFor(t, "every event written", func() bool { return a.Stats().Written+b.Stats().Written >= n })
	require.NoError(t, runA.stop(t))
	require.NoError(t, runB.stop(t))
	require.NotZero(t, b.Stats().Written, "B got partitions")

	seen := map[int]int{}
	for _, buf := range []*syncBuffer{&bufA, &bufB} {
		for line := range bytes.Lines(buf.bytes()) {
			var ev struct{ Seq int }
			require.NoError(t, json.Unmarshal(line, &ev))
			seen[ev.Seq]++
		}
	}
	assert.Len(t, seen, n)
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	assert.Zero(t, dups, "events written twice across the rebalance")
}
