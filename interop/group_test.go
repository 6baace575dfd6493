package interop_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// handledBy is one message handled by one worker of a mixed group.
type handledBy struct {
	Worker    string `json:"worker"`
	ID        string `json:"id"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Python kafkaesk workers (aiokafka, whose only assignor is roundrobin)
// and Go workers (core's eager groups offer range and roundrobin, on
// either client) join one consumer group on one topic: the group agrees
// on roundrobin, every member gets partitions, and in a clean run every
// message is handled exactly once, some by each language. Both ways
// round: with a Python member leading the group (it assigns the Go
// members' partitions) and with a Go member leading.
func TestMixedConsumerGroup(t *testing.T) {
	t.Parallel()
	for _, leader := range []string{"python", "go"} {
		t.Run(leader+" leads", func(t *testing.T) {
			t.Parallel()
			testMixedGroup(t, leader)
		})
	}
}

// mixedGroup is one mixed group's members and what they handled.
type mixedGroup struct {
	e      *env
	cfg    core.Config
	group  string
	goRuns []*running
	pys    []*pyProcess
	goGot  *received[handledBy]
}

func testMixedGroup(t *testing.T, leader string) {
	const partitions, messages = 6, 120
	e := newEnv(t)
	cfg := e.config()
	cfg.Partitions = partitions
	producer := e.app(t, cfg)
	ctx := testContext(t)
	require.NoError(t, producer.EnsureStream(ctx, "work", 0))
	g := &mixedGroup{e: e, cfg: cfg, group: e.group("workers"), goGot: newReceived[handledBy]()}
	adm := e.admin(t)

	// The leader joins alone; the three others join it at once.
	if leader == "python" {
		g.startPython(t, "py-1")
	} else {
		g.startGo(t, "go-1")
	}
	waitStable(t, adm, g.group, 1, partitions)
	if leader == "python" {
		g.startGo(t, "go-1")
	} else {
		g.startPython(t, "py-1")
	}
	g.startPython(t, "py-2")
	g.startGo(t, "go-2")
	described := waitStable(t, adm, g.group, 4, partitions)
	assert.Equal(t, "roundrobin", described.Protocol, "the assignor the group agreed on")
	assert.Equal(t, "consumer", described.ProtocolType)

	for i := range messages {
		id := fmt.Sprintf("n-%03d", i)
		require.NoError(t, producer.Publish(ctx, "work", Note{ID: id, By: "go"}, core.Key([]byte(id))))
	}
	deadline := time.Now().Add(45 * time.Second)
	for len(distinctIDs(g.handled(t))) < messages {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of %d messages in 45 s: %s", len(distinctIDs(g.handled(t))), messages, perWorker(g.handled(t)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a message handled twice would show by now
	g.stop(t)

	all := g.handled(t)
	t.Logf("%s leading, handled per worker: %s", leader, perWorker(all))
	counts := map[string]int{}
	for _, h := range all {
		counts[h.ID]++
	}
	for i := range messages {
		id := fmt.Sprintf("n-%03d", i)
		assert.Equal(t, 1, counts[id], "times message %s was handled", id)
	}
	assert.Len(t, counts, messages, "no message the test did not publish")
	byLang := map[string]int{}
	owner := map[int]string{}
	for _, h := range all {
		byLang[h.Worker[:2]]++
		if o, ok := owner[h.Partition]; ok && o != h.Worker {
			t.Errorf("partition %d handled by %s and %s in a run without rebalances", h.Partition, o, h.Worker)
		}
		owner[h.Partition] = h.Worker
	}
	assert.NotZero(t, byLang["py"], "messages the Python workers handled")
	assert.NotZero(t, byLang["go"], "messages the Go workers handled")
}

// startGo starts a Go worker: an Application subscribed to the stream in
// the group, handling Notes.
func (g *mixedGroup) startGo(t *testing.T, name string) {
	app := g.e.app(t, g.cfg)
	_, err := core.Subscribe(app, "work", g.group, func(_ context.Context, m *core.Message[Note]) error {
		g.goGot.add(handledBy{Worker: name, ID: m.Data.ID, Partition: m.Record.Partition, Offset: m.Record.Offset})
		return nil
	}, nil)
	require.NoError(t, err)
	g.goRuns = append(g.goRuns, startRun(t, app))
}

// startPython starts a Python worker, group_worker.py.
func (g *mixedGroup) startPython(t *testing.T, name string) {
	g.pys = append(g.pys, startPython(t, g.e, "group_worker.py", map[string]any{"stream": "work", "group": g.group, "worker": name}))
}

// handled returns what every worker handled so far.
func (g *mixedGroup) handled(t *testing.T) []handledBy {
	out := g.goGot.items()
	for _, p := range g.pys {
		for _, line := range p.output() {
			out = append(out, decodeLines[handledBy](t, p.script, line, p.errors())...)
		}
	}
	return out
}

// stop stops every worker at once, as a deployment's rollout might: the
// Python ones with SIGTERM (they must exit 0), the Go ones by ending Run.
func (g *mixedGroup) stop(t *testing.T) {
	var wg sync.WaitGroup
	for _, p := range g.pys {
		wg.Go(func() { assert.NoError(t, p.stop()) })
	}
	for _, r := range g.goRuns {
		wg.Go(func() { assert.NoError(t, r.stop(t)) })
	}
	wg.Wait()
}

// waitStable waits until group is Stable with n members, each assigned
// at least one partition and all partitions assigned once, and returns
// its description. It fails the test after 45 s with the last one seen.
func waitStable(t *testing.T, adm *kadm.Client, group string, n, partitions int) kadm.DescribedGroup {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	last := "not described yet"
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		groups, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			if d, ok := groups[group]; ok && d.Err == nil {
				var assigned []string
				ok := d.State == "Stable" && len(d.Members) == n
				for _, m := range d.Members {
					a, isConsumer := m.Assigned.AsConsumer()
					mine := 0
					if isConsumer {
						for _, tp := range a.Topics {
							mine += len(tp.Partitions)
							for _, p := range tp.Partitions {
								assigned = append(assigned, fmt.Sprintf("%s/%d", tp.Topic, p))
							}
						}
					}
					ok = ok && mine > 0
				}
				slices.Sort(assigned)
				ok = ok && len(slices.Compact(slices.Clone(assigned))) == partitions && len(assigned) == partitions
				last = fmt.Sprintf("state %s, %d members, protocol %q, partitions assigned %v", d.State, len(d.Members), d.Protocol, assigned)
				if ok {
					return d
				}
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not stable with %d members sharing %d partitions in 45 s; last seen: %s", group, n, partitions, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// distinctIDs returns the set of message ids handled.
func distinctIDs(hs []handledBy) map[string]bool {
	out := map[string]bool{}
	for _, h := range hs {
		out[h.ID] = true
	}
	return out
}

// perWorker describes how many messages, of which partitions, each worker
// handled.
func perWorker(hs []handledBy) string {
	n := map[string]int{}
	parts := map[string]map[int]bool{}
	for _, h := range hs {
		n[h.Worker]++
		if parts[h.Worker] == nil {
			parts[h.Worker] = map[int]bool{}
		}
		parts[h.Worker][h.Partition] = true
	}
	var out []string
	for w, c := range n {
		var ps []int
		for p := range parts[w] {
			ps = append(ps, p)
		}
		sort.Ints(ps)
		out = append(out, fmt.Sprintf("%s %d (partitions %v)", w, c, ps))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
