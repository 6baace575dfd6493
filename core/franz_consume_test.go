package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franzTestCore does what core does above the seam: a goroutine per
// assigned partition handles its records one by one; revoked stops them,
// waits, closes the fetchers and commits what they finished.
type franzTestCore struct {
	t      *testing.T
	name   string
	member groupMember
	delay  time.Duration // each record's handling

	mu        sync.Mutex
	parts     map[topicPartition]*franzTestPart
	delivered map[topicPartition][]int64 // offsets, in delivery order
	first     Record                     // the first record delivered
	events    []franzTestEvent
}

type franzTestPart struct {
	stop  context.CancelFunc
	done  chan struct{}
	fetch fetcher
	next  int64 // one past the last finished offset; -1 before any
}

type franzTestEvent struct {
	revoked bool
	lost    bool
	tps     []topicPartition
	err     error // the commit's, on a revocation
}

func (c *franzTestCore) String() string { return c.name }

// join makes a member of group on topic with the rebalance protocol and
// runs it until the returned stop is called; stop waits for run and
// fails the test if run took longer than within.
func (e *franzEnv) join(name, group, topic string, rebalance Rebalance, delay time.Duration) (c *franzTestCore, stop func(within time.Duration)) {
	e.t.Helper()
	c = &franzTestCore{t: e.t, name: name, delay: delay, parts: map[topicPartition]*franzTestPart{}, delivered: map[topicPartition][]int64{}}
	m, err := e.d.newGroupMember(groupSpec{
		group: group, topics: []string{topic}, rebalance: rebalance,
		log:      e.cfg.Logger.With("member", name),
		assigned: c.assigned,
		revoked:  c.revoked,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	c.member = m
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.run(ctx) }()
	var once sync.Once
	stop = func(within time.Duration) {
		once.Do(func() {
			start := time.Now()
			cancel()
			if err := <-ran; err != nil {
				e.t.Errorf("%s: run: %v", name, err)
			}
			if took := time.Since(start); took > within {
				e.t.Errorf("%s: run returned %v after ctx ended; want within %v", name, took, within)
			}
		})
	}
	e.t.Cleanup(func() { stop(time.Minute) })
	return c, stop
}

func (c *franzTestCore) assigned(parts []assignedPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var tps []topicPartition
	for _, a := range parts {
		tps = append(tps, a.topicPartition)
		if _, ok := c.parts[a.topicPartition]; ok {
			c.t.Errorf("%s: %v assigned twice", c, a.topicPartition)
			continue
		}
		if a.committed < -1 {
			c.t.Errorf("%s: %v assigned with committed %d; want the group's offset, or -1 for none", c, a.topicPartition, a.committed)
		}
		ctx, stop := context.WithCancel(context.Background())
		p := &franzTestPart{stop: stop, done: make(chan struct{}), fetch: a.fetch, next: -1}
		c.parts[a.topicPartition] = p
		go c.consume(ctx, a.topicPartition, p)
	}
	c.events = append(c.events, franzTestEvent{tps: tps})
}

func (c *franzTestCore) consume(ctx context.Context, tp topicPartition, p *franzTestPart) {
	defer close(p.done)
	for {
		rec, err := p.fetch.next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.t.Errorf("%s: %v: next: %v", c, tp, err)
			}
			return
		}
		if rec.Topic != tp.topic || rec.Partition != tp.partition {
			c.t.Errorf("%s: fetcher of %v returned a record of %s/%d", c, tp, rec.Topic, rec.Partition)
		}
		c.mu.Lock()
		if len(c.delivered) == 0 {
			c.first = rec
		}
		c.delivered[tp] = append(c.delivered[tp], rec.Offset)
		c.mu.Unlock()
		time.Sleep(c.delay) // a handler, not interrupted by revocations
		c.mu.Lock()
		p.next = rec.Offset + 1
		c.mu.Unlock()
	}
}

func (c *franzTestCore) revoked(tps []topicPartition, lost bool) {
	c.mu.Lock()
	var ps []*franzTestPart
	for _, tp := range tps {
		p, ok := c.parts[tp]
		if !ok {
			c.t.Errorf("%s: %v revoked but not assigned", c, tp)
			continue
		}
		delete(c.parts, tp)
		ps = append(ps, p)
	}
	c.mu.Unlock()
	for _, p := range ps {
		p.stop()
	}
	offsets := map[string]map[int]int64{}
	for i, p := range ps {
		<-p.done
		p.fetch.close()
		if p.next >= 0 {
			if offsets[tps[i].topic] == nil {
				offsets[tps[i].topic] = map[int]int64{}
			}
			offsets[tps[i].topic][tps[i].partition] = p.next
		}
	}
	ev := franzTestEvent{revoked: true, lost: lost, tps: tps}
	if !lost {
		ev.err = c.member.commit(context.Background(), offsets)
		if ev.err != nil {
			c.t.Errorf("%s: commit in revoked: %v", c, ev.err)
		}
	}
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
}

// count is how many records were delivered.
func (c *franzTestCore) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, offs := range c.delivered {
		n += len(offs)
	}
	return n
}

// owned is the partitions assigned and not revoked.
func (c *franzTestCore) owned() []topicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var tps []topicPartition
	for tp := range c.parts {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, franzTPCompare)
	return tps
}

func (c *franzTestCore) history() []franzTestEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// checkRevokedOnce checks that every assignment was revoked exactly once,
// not lost, and that nothing is assigned.
func (c *franzTestCore) checkRevokedOnce() {
	c.t.Helper()
	held := map[topicPartition]bool{}
	for _, ev := range c.history() {
		for _, tp := range ev.tps {
			switch {
			case !ev.revoked && held[tp]:
				c.t.Errorf("%s: %v assigned while assigned", c, tp)
			case ev.revoked && !held[tp]:
				c.t.Errorf("%s: %v revoked while not assigned", c, tp)
			case ev.revoked && ev.lost:
				c.t.Errorf("%s: %v lost; want revoked", c, tp)
			}
			held[tp] = !ev.revoked
		}
	}
	for tp, h := range held {
		if h {
			c.t.Errorf("%s: %v still assigned after run returned", c, tp)
		}
	}
}

// franzCheckDelivered checks that the cores delivered, together, offsets first
// to first+n-1 of each of topic's partitions exactly once, in increasing
// order at each core.
func franzCheckDelivered(t *testing.T, topic string, partitions int, first, n int64, cores ...*franzTestCore) {
	t.Helper()
	for p := range partitions {
		tp := topicPartition{topic: topic, partition: p}
		seen := map[int64]string{}
		for _, c := range cores {
			c.mu.Lock()
			offs := slices.Clone(c.delivered[tp])
			c.mu.Unlock()
			if !slices.IsSorted(offs) {
				t.Errorf("%s: %v delivered out of order: %v", c, tp, offs)
			}
			for _, o := range offs {
				if o < first {
					continue
				}
				if by, dup := seen[o]; dup {
					t.Errorf("%v offset %d delivered twice: by %s and %s", tp, o, by, c)
				}
				seen[o] = c.name
			}
		}
		for o := first; o < first+n; o++ {
			if _, ok := seen[o]; !ok {
				t.Errorf("%v offset %d not delivered", tp, o)
			}
		}
	}
}

func TestFranzMemberConsumesCommitsAndTheNextMemberResumes(t *testing.T) {
	e := newFranzEnv(t)
	e.createTopic("orders", 3)
	e.produce("orders", 3, 0, 20)

	a, stopA := e.join("a", "g", "orders", RebalanceEager, 0)
	franzWaitFor(t, "a to deliver 60 records", func() bool { return a.count() >= 60 })
	if got := a.history()[0].tps; len(got) != 3 {
		t.Errorf("a's first assignment: %v; want the 3 partitions", got)
	}
	a.mu.Lock()
	rec := a.first
	a.mu.Unlock()
	if rec.Topic != "orders" || string(rec.Key) != "k" || string(rec.Value) != fmt.Sprintf("p%d-%d", rec.Partition, rec.Offset) ||
		rec.HighWaterMark != 20 || rec.Time.IsZero() || len(rec.Headers) != 1 || rec.Headers[0].Key != "h" || string(rec.Headers[0].Value) != "v" {
		t.Errorf("first record: %+v", rec)
	}
	stopA(5 * time.Second)
	franzCheckDelivered(t, "orders", 3, 0, 20, a)
	a.checkRevokedOnce()

	// The next member starts at a's commits: at 20.
	e.produce("orders", 3, 20, 10)
	b, stopB := e.join("b", "g", "orders", RebalanceEager, 0)
	franzWaitFor(t, "b to deliver 30 records", func() bool { return b.count() >= 30 })
	time.Sleep(300 * time.Millisecond) // anything more would be a duplicate
	stopB(5 * time.Second)
	if n := b.count(); n != 30 {
		t.Errorf("b delivered %d records; want 30", n)
	}
	franzCheckDelivered(t, "orders", 3, 20, 10, b)
	b.checkRevokedOnce()
}

// franzSplit runs member a alone on 4 partitions, then b joins while a is
// handling; once both delivered every record and each owns 2 partitions,
// it stops both and returns their events up to then.
//
// setup runs before the members join; split, if not nil, once they split.
func franzSplit(t *testing.T, rebalance Rebalance, setup, split func(*franzEnv)) (ea, eb []franzTestEvent) {
	e := newFranzEnv(t)
	if setup != nil {
		setup(e)
	}
	e.createTopic("events", 4)
	e.produce("events", 4, 0, 100)

	a, stopA := e.join("a", "g", "events", rebalance, 5*time.Millisecond)
	franzWaitFor(t, "a to deliver 40 records", func() bool { return a.count() >= 40 })
	b, stopB := e.join("b", "g", "events", rebalance, 5*time.Millisecond)
	franzWaitFor(t, "a and b to own 2 partitions each", func() bool { return len(a.owned()) == 2 && len(b.owned()) == 2 })
	if split != nil {
		split(e)
	}
	franzWaitFor(t, "400 records", func() bool { return a.count()+b.count() >= 400 })
	e.produce("events", 4, 100, 10)
	franzWaitFor(t, "440 records", func() bool { return a.count()+b.count() >= 440 })
	time.Sleep(300 * time.Millisecond) // anything more would be a duplicate
	if n := a.count() + b.count(); n != 440 {
		t.Errorf("delivered %d records; want 440", n)
	}
	franzCheckDelivered(t, "events", 4, 0, 110, a, b)
	ea, eb = a.history(), b.history()

	var stops sync.WaitGroup
	for _, stop := range []func(time.Duration){stopA, stopB} {
		stops.Go(func() { stop(5 * time.Second) })
	}
	stops.Wait()
	a.checkRevokedOnce()
	b.checkRevokedOnce()
	return ea, eb
}

func TestFranzMemberEagerRebalanceRevokesAllWithoutDuplicates(t *testing.T) {
	ev, _ := franzSplit(t, RebalanceEager, nil, nil)
	// assigned 4, revoked 4 when b joined, assigned 2.
	if len(ev) < 3 || len(ev[0].tps) != 4 || !ev[1].revoked || len(ev[1].tps) != 4 || ev[2].revoked || len(ev[2].tps) != 2 {
		t.Errorf("a's events: %+v; want assigned 4, revoked 4, assigned 2", ev)
	}
}

// franzCheckIncremental checks a's and b's events in a split by an incremental
// protocol: a gave up the 2 partitions b got, and only those.
func franzCheckIncremental(t *testing.T, ea, eb []franzTestEvent) {
	t.Helper()
	if len(ea) != 2 || len(ea[0].tps) != 4 || !ea[1].revoked || len(ea[1].tps) != 2 {
		t.Fatalf("a's events: %+v; want assigned 4, revoked 2", ea)
	}
	if len(eb) != 1 || !slices.Equal(eb[0].tps, ea[1].tps) {
		t.Errorf("b's events: %+v; want assigned %v, what a gave up", eb, ea[1].tps)
	}
}

func TestFranzMemberCooperativeRebalanceRevokesOnlyMovedPartitions(t *testing.T) {
	ea, eb := franzSplit(t, RebalanceCooperative, nil, nil)
	franzCheckIncremental(t, ea, eb)
}

// TestFranzMemberConsumerProtocol runs KIP-848 on the embedded broker
// (kfake answers ConsumerGroupHeartbeat), with its heartbeat interval
// lowered from 5s.
func TestFranzMemberConsumerProtocol(t *testing.T) {
	ea, eb := franzSplit(t, RebalanceConsumer, func(e *franzEnv) {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeBroker
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "group.consumer.heartbeat.interval.ms", kmsg.StringPtr("100")
		r.Configs = append(r.Configs, c)
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(e.ctx(), e.admin)
		if err == nil {
			err = kerr.ErrorForCode(resp.Resources[0].ErrorCode)
		}
		if err != nil {
			t.Fatalf("lower the KIP-848 heartbeat interval: %v", err)
		}
	}, func(e *franzEnv) { franzCheckConsumerGroup(t, e, "g", 2) })
	franzCheckIncremental(t, ea, eb)
}

// franzCheckConsumerGroup checks that group is a KIP-848 group of
// members: the classic protocol would not make one.
func franzCheckConsumerGroup(t *testing.T, e *franzEnv, group string, members int) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(e.ctx(), e.admin)
	if err == nil {
		err = kerr.ErrorForCode(resp.Groups[0].ErrorCode)
	}
	switch {
	case err != nil:
		t.Errorf("group %s is not a KIP-848 consumer group: %v", group, err)
	case len(resp.Groups[0].Members) != members:
		t.Errorf("KIP-848 group %s has %d members; want %d", group, len(resp.Groups[0].Members), members)
	}
}

// TestFranzMemberStopsPromptlyWhilePaused stops a member whose handlers
// are far behind (its partitions are paused, their queues full): run
// returns well within the session timeout, every partition revoked once,
// and the next member resumes at the commits, without duplicates.
func TestFranzMemberStopsPromptlyWhilePaused(t *testing.T) {
	e := newFranzEnv(t)
	e.createTopic("slow", 3)
	a, stopA := e.join("a", "g", "slow", RebalanceEager, 20*time.Millisecond)
	franzWaitFor(t, "a's assignment", func() bool { return len(a.owned()) == 3 })
	// One fetch after another, faster than a handles them: a partition
	// pauses at its third fetch waiting. A loaded machine's fetches may
	// take several rounds at once, so rounds go on until all three
	// partitions are paused (each new round is a new fetch's batch).
	const per, most = 20, 200
	paused := func() bool {
		cl := a.member.(*franzMember).cl.Load()
		return len(cl.PauseFetchPartitions(nil)["slow"]) == 3
	}
	rounds := 0
	for ; rounds < most && (rounds < 10 || !paused()); rounds++ {
		e.produce("slow", 3, rounds*per, per)
		time.Sleep(50 * time.Millisecond)
	}
	franzWaitFor(t, "a's 3 partitions to be paused", paused)
	stopA(2 * time.Second)
	a.checkRevokedOnce()
	if n := a.count(); n >= 3*rounds*per {
		t.Fatalf("a delivered %d records; the test needs it to fall behind", n)
	}

	b, stopB := e.join("b", "g", "slow", RebalanceEager, 0)
	franzWaitFor(t, "every record", func() bool { return a.count()+b.count() >= 3*rounds*per })
	time.Sleep(300 * time.Millisecond)
	stopB(5 * time.Second)
	franzCheckDelivered(t, "slow", 3, 0, int64(rounds*per), a, b)
}

// TestFranzMemberLostPartitionsAreRevokedAsLost makes the coordinator
// answer a heartbeat with ILLEGAL_GENERATION: kgo reports the partitions
// lost, the member passes that on (no commit: the test's core commits
// only revoked partitions), rejoins and is assigned them again with new
// fetchers, which start over from the group's commit (none): every record
// again, in order.
func TestFranzMemberLostPartitionsAreRevokedAsLost(t *testing.T) {
	checkFranzLeaks(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := franzEnvOn(t, c.ListenAddrs())
	e.createTopic("lost", 2)
	e.produce("lost", 2, 0, 20)

	a, stop := e.join("a", "g", "lost", RebalanceEager, 0)
	franzWaitFor(t, "a to deliver 40 records", func() bool { return a.count() >= 40 })
	c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.IllegalGeneration.Code
		return resp, nil, true
	})
	franzWaitFor(t, "a to get its partitions again", func() bool { return a.count() >= 80 })
	ev := a.history()
	stop(5 * time.Second)
	if len(ev) != 3 || len(ev[0].tps) != 2 || !ev[1].revoked || !ev[1].lost || len(ev[1].tps) != 2 || ev[2].revoked || len(ev[2].tps) != 2 {
		t.Errorf("a's events: %+v; want assigned 2, lost 2, assigned 2", ev)
	}
	for p := range 2 {
		a.mu.Lock()
		got := a.delivered[topicPartition{"lost", p}]
		a.mu.Unlock()
		want := slices.Concat(franzSeq(20), franzSeq(20))
		if !slices.Equal(got, want) {
			t.Errorf("partition %d delivered %v; want %v", p, got, want)
		}
	}
	if !strings.Contains(e.log.String(), "group session failed; rejoining") {
		t.Errorf("the lost session is not logged:\n%s", e.log.String())
	}
}

// franzSeq is 0 to n-1.
func franzSeq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i)
	}
	return s
}

func TestFranzMemberRejectsAnUnknownRebalance(t *testing.T) {
	cfg := Config{Brokers: []string{"127.0.0.1:1"}}.withDefaults()
	d, err := newFranzDriver(&cfg, newAbortableDialer(cfg.DialTimeout), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.newGroupMember(groupSpec{group: "g", topics: []string{"t"}, rebalance: "sticky"})
	if err == nil || !strings.Contains(err.Error(), `group g: rebalance "sticky"`) {
		t.Errorf("newGroupMember: %v; want an error naming the group and the rebalance", err)
	}
}

func TestFranzMemberCommitOutsideRunFails(t *testing.T) {
	cfg := Config{Brokers: []string{"127.0.0.1:1"}}.withDefaults()
	d, err := newFranzDriver(&cfg, newAbortableDialer(cfg.DialTimeout), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.newGroupMember(groupSpec{group: "g", topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	err = m.commit(context.Background(), map[string]map[int]int64{"t": {0: 1}})
	if err == nil || !strings.Contains(err.Error(), "group g") {
		t.Errorf("commit before run: %v; want an error naming the group", err)
	}
}

func TestFranzCommitErrorNamesThePartitionAndOffset(t *testing.T) {
	req := kmsg.NewPtrOffsetCommitRequest()
	for _, topic := range []struct {
		name string
		id   byte
	}{{"a", 1}, {"b", 2}} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID[0] = topic.name, topic.id
		for p := range 2 {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = int32(p), int64(10*p+int(topic.id))
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	answer := func(name string, id byte, partition int32, code int16) *kmsg.OffsetCommitResponse {
		resp := kmsg.NewPtrOffsetCommitResponse()
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID[0] = name, id
		rp := kmsg.NewOffsetCommitResponseTopicPartition()
		rp.Partition, rp.ErrorCode = partition, code
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp
	}
	boom := errors.New("boom")
	for _, c := range []struct {
		resp *kmsg.OffsetCommitResponse
		err  error
		want string
	}{
		{answer("a", 1, 1, 0), nil, ""},
		{nil, boom, "boom"},
		{answer("b", 2, 1, kerr.IllegalGeneration.Code), nil, "b/1 at 12: ILLEGAL_GENERATION"},
		{answer("", 2, 1, kerr.RebalanceInProgress.Code), nil, "b/1 at 12: REBALANCE_IN_PROGRESS"}, // v10: by topic ID
	} {
		err := franzCommitError(req, c.resp, c.err)
		if got := fmt.Sprint(err); c.want == "" && err != nil || c.want != "" && !strings.HasPrefix(got, c.want) {
			t.Errorf("franzCommitError: %v; want %q", err, c.want)
		}
	}
}
