package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franzMember is a consumer group member on one kgo client, with the
// rebalance protocol of its spec. kgo reports assignments and
// revocations as they come (all partitions at every rebalance when eager;
// only the moved ones when cooperative or KIP-848) through callbacks on
// its group goroutine, which the member passes on to the spec.
//
// run's poll loop hands each fetch's records to the fetchers of the
// partitions the member owns, without blocking (see franzFetcher), and
// then allows rebalancing (BlockRebalanceOnPoll): a callback never runs
// while the loop dispatches, so records of a revoked partition either
// reached its fetcher before the callback, or are dropped by kgo. A
// fetcher of a revoked partition is closed once the spec's revoked
// returns, and a partition assigned again gets a new one: its old records
// are never delivered to its new owner.
type franzMember struct {
	d    *franzDriver
	spec groupSpec
	opts []kgo.Opt

	cl atomic.Pointer[kgo.Client] // set while run runs; commit's

	mu    sync.Mutex
	owned map[topicPartition]*franzFetcher // assigned and not yet revoked

	tx franzTxnMember // with spec.transactionalID; see franz_txn.go
}

// newGroupMember returns a member of spec's group; it joins when run is
// called. Partitions without a committed offset start at their first
// record, or at their end with spec.startLatest. Eager members offer the
// range and round-robin assignors, as kafka-go's do, so that they share a
// group with kafka-go members and with kafkaesk's aiokafka members
// (round-robin). Cooperative members use cooperative-sticky. KIP-848
// members ask the broker for its "uniform" assignor; on a broker without
// KIP-848 franz-go falls back to the classic protocol, eager, with the
// sticky, range and round-robin assignors.
func (d *franzDriver) newGroupMember(spec groupSpec) (groupMember, error) {
	var balance []kgo.Opt
	switch spec.rebalance {
	case "", RebalanceEager:
		balance = []kgo.Opt{kgo.Balancers(kgo.RangeBalancer(), kgo.RoundRobinBalancer())}
	case RebalanceCooperative:
		balance = []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}
	case RebalanceConsumer:
		// franz-go runs KIP-848 when the first balancer is sticky
		// ("uniform" at the broker) or range.
		balance = []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer(), kgo.RangeBalancer(), kgo.RoundRobinBalancer())}
	default:
		return nil, fmt.Errorf("group %s: rebalance %q is not one of %s, %s, %s", spec.group, spec.rebalance, RebalanceEager, RebalanceCooperative, RebalanceConsumer)
	}
	start := kgo.NewOffset().AtStart()
	if spec.startLatest {
		start = kgo.NewOffset().AtEnd()
	}
	m := &franzMember{d: d, spec: spec, owned: map[topicPartition]*franzFetcher{}}
	cfg := d.cfg
	base := d.options()
	if spec.transactionalID != "" {
		// The member produces too: the producer's options, transactional,
		// and offsets fetched only once no transaction holds them.
		var err error
		if base, err = d.produceOptions(); err != nil {
			return nil, err
		}
		base = append(base, kgo.TransactionalID(spec.transactionalID), kgo.RequireStableFetchOffsets())
		m.tx.idle = make(chan struct{}, 1)
	}
	if spec.readCommitted {
		base = append(base, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	m.opts = append(base, append([]kgo.Opt{
		kgo.ConsumerGroup(spec.group),
		kgo.WithLogger(franzLogger{log: spec.log, warn: true}),
		kgo.ConsumeTopics(spec.topics...),
		kgo.DisableAutoCommit(),  // core commits what its handlers finished
		kgo.KeepControlRecords(), // consumePartition moves past them; see there
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(start),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.RebalanceTimeout(cfg.SessionTimeout),
		kgo.FetchMaxWait(franzFetchMaxWait),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, tps map[string][]int32) { m.onRevoked(tps, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, tps map[string][]int32) { m.onRevoked(tps, true) }),
	}, balance...)...)
	return m, nil
}

// run joins the group and polls until ctx ends; then it leaves the group,
// which revokes every partition still assigned (kgo calls onRevoked while
// commits still work), and returns nil. It returns an error only when the
// client cannot be made. It is called once. The member has no goroutine
// but run's; its client is closed when run returns (a few of kgo's
// goroutines finish winding down just after Close returns).
func (m *franzMember) run(ctx context.Context) error {
	if m.spec.transactionalID != "" {
		return m.runTxn(ctx)
	}
	cl, err := kgo.NewClient(m.opts...)
	if err != nil {
		return fmt.Errorf("group %s: %w", m.spec.group, err)
	}
	m.cl.Store(cl)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			break // what fs holds is not handed out: it is fetched again by the next owner
		}
		m.dispatch(fs)
		cl.AllowRebalance()
	}
	// Leaving makes kgo revoke what is assigned, through onRevoked,
	// before the LeaveGroup request.
	cl.CloseAllowingRebalance()
	m.cl.Store(nil)
	if left := m.takeAll(); len(left.tps) > 0 {
		// kgo did not revoke them (it should have): revoke them now,
		// as lost, since the client that could commit is closed.
		m.spec.log.Warn("kafkaesk: partitions still assigned after leaving the group; their finished offsets are not committed", "partitions", len(left.tps))
		m.revoke(left, true, false)
	}
	return nil
}

// dispatch hands fs's records to the fetchers of their partitions, and
// logs fs's errors. Records of a partition the member does not own are
// dropped. It does not block.
func (m *franzMember) dispatch(fs kgo.Fetches) {
	for i := range fs {
		for j := range fs[i].Topics {
			t := &fs[i].Topics[j]
			for k := range t.Partitions {
				p := &t.Partitions[k]
				if len(p.Records) > 0 {
					m.mu.Lock()
					f := m.owned[topicPartition{topic: t.Topic, partition: int(p.Partition)}]
					m.mu.Unlock()
					if f != nil {
						f.push(p.Records, p.HighWatermark)
					}
				}
				if p.Err != nil {
					m.fetchFailed(t.Topic, p.Partition, p.Err)
				}
			}
		}
	}
}

// fetchFailed logs a fetch error: kgo retries by itself, or rejoins the
// group after a session error.
func (m *franzMember) fetchFailed(topic string, partition int32, err error) {
	var session *kgo.ErrGroupSession
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, kgo.ErrClientClosed):
	case errors.As(err, &session):
		m.spec.log.Warn("kafkaesk: group session failed; rejoining", "err", err)
	default:
		m.spec.log.Warn("kafkaesk: fetch failed; retrying", "topic", topic, "partition", partition, "err", err)
	}
}

// onAssigned makes a fetcher of each newly assigned partition and passes
// them on to the spec's assigned. kgo calls it on its group goroutine,
// before fetching the partitions, while the poll loop is not dispatching.
// kgo fetches the group's committed offsets only after this callback:
// it asks for them itself, so that the subscription's state shows where
// each partition stands from the start (a partition already read to its
// end has nothing to fetch, and would otherwise never show it); -1 where
// they cannot be had.
func (m *franzMember) onAssigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	committed := m.committedOffsets(ctx, cl, assigned)
	var parts []assignedPartition
	m.mu.Lock()
	for topic, ps := range assigned {
		for _, p := range ps {
			tp := topicPartition{topic: topic, partition: int(p)}
			if _, ok := m.owned[tp]; ok {
				continue // kgo assigns only what is not assigned; never twice
			}
			f := newFranzFetcher(cl, topic, p, true)
			if m.tx.idle != nil {
				f.onIdle = m.wakeIdle
			}
			m.owned[tp] = f
			c, ok := committed.Lookup(topic, p)
			off := int64(-1)
			if ok && c.Err == nil && c.At >= 0 {
				off = c.At
			}
			parts = append(parts, assignedPartition{topicPartition: tp, committed: off, fetch: f})
		}
	}
	m.mu.Unlock()
	if len(parts) == 0 {
		return
	}
	slices.SortFunc(parts, func(a, b assignedPartition) int { return franzTPCompare(a.topicPartition, b.topicPartition) })
	m.spec.assigned(parts)
}

// committedOffsets returns the group's committed offsets of assigned;
// none when they cannot be had within RequestTimeout (logged).
func (m *franzMember) committedOffsets(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) kadm.OffsetResponses {
	ctx, cancel := context.WithTimeout(ctx, m.d.cfg.RequestTimeout)
	defer cancel()
	set := kadm.TopicsSet{}
	for topic, ps := range assigned {
		set.Add(topic, ps...)
	}
	resps, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, m.spec.group, set.Topics()...)
	if err != nil {
		m.spec.log.Warn("kafkaesk: fetching the group's committed offsets", "err", err)
		return nil
	}
	return resps
}

// onRevoked passes the revocation of the partitions in tps that the
// member owns on to the spec's revoked, once each. kgo calls it on its
// group goroutine, after it stopped fetching them (before, when lost),
// while the poll loop is not dispatching; kgo waits for it, so the
// spec's commits land before the partitions move.
func (m *franzMember) onRevoked(tps map[string][]int32, lost bool) {
	m.mu.Lock()
	var r franzRevocation
	for topic, ps := range tps {
		for _, p := range ps {
			tp := topicPartition{topic: topic, partition: int(p)}
			if f, ok := m.owned[tp]; ok {
				delete(m.owned, tp)
				r.add(tp, f)
			}
		}
	}
	m.mu.Unlock()
	m.revoke(&r, lost, true)
}

// takeAll takes every partition the member owns.
func (m *franzMember) takeAll() *franzRevocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	var r franzRevocation
	for tp, f := range m.owned {
		r.add(tp, f)
	}
	clear(m.owned)
	return &r
}

// franzRevocation is partitions taken from the member, and their
// fetchers.
type franzRevocation struct {
	tps      []topicPartition
	fetchers []*franzFetcher
}

func (r *franzRevocation) add(tp topicPartition, f *franzFetcher) {
	r.tps = append(r.tps, tp)
	r.fetchers = append(r.fetchers, f)
}

// revoke calls the spec's revoked for r's partitions, if any, then
// closes their fetchers (the spec's revoked closed them already,
// normally), leaving the client alone unless clientOpen.
func (m *franzMember) revoke(r *franzRevocation, lost, clientOpen bool) {
	if len(r.tps) == 0 {
		return
	}
	m.spec.revoked(slices.SortedFunc(slices.Values(r.tps), franzTPCompare), lost)
	for _, f := range r.fetchers {
		f.shut(clientOpen)
	}
}

// commit commits offsets, the next offset to consume per partition,
// synchronously: it returns once the coordinator answered, ctx ended, or
// RequestTimeout passed when ctx has no deadline. It works from inside
// the spec's revoked, and fails once run returned. The error names the
// group, and the partition a partition error is about.
func (m *franzMember) commit(ctx context.Context, offsets map[string]map[int]int64) error {
	if m.spec.transactionalID != "" {
		return fmt.Errorf("group %s: commit: a transactional subscription's offsets are committed by its transactions", m.spec.group)
	}
	cl := m.cl.Load()
	if cl == nil {
		return fmt.Errorf("group %s: commit: the member is not in the group", m.spec.group)
	}
	if len(offsets) == 0 {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.d.cfg.RequestTimeout)
		defer cancel()
	}
	todo := make(map[string]map[int32]kgo.EpochOffset, len(offsets))
	for topic, ps := range offsets {
		tps := make(map[int32]kgo.EpochOffset, len(ps))
		for p, o := range ps {
			tps[int32(p)] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		todo[topic] = tps
	}
	var err error
	cl.CommitOffsetsSync(ctx, todo, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, rerr error) {
		err = franzCommitError(req, resp, rerr)
	})
	if err != nil {
		return fmt.Errorf("group %s: commit: %w", m.spec.group, err)
	}
	return nil
}

// franzCommitError returns a commit's error: the request's, or the first
// partition's, naming the partition and the offset.
func franzCommitError(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			perr := kerr.ErrorForCode(p.ErrorCode)
			if perr == nil {
				continue
			}
			// From OffsetCommit v10 the answer names topics by ID.
			topic, offset := t.Topic, int64(-1)
			for _, rt := range req.Topics {
				if rt.Topic != t.Topic && (topic != "" || rt.TopicID != t.TopicID) {
					continue
				}
				topic = rt.Topic
				for _, rp := range rt.Partitions {
					if rp.Partition == p.Partition {
						offset = rp.Offset
					}
				}
			}
			return fmt.Errorf("%s/%d at %d: %w", topic, p.Partition, offset, perr)
		}
	}
	return nil
}

func franzTPCompare(a, b topicPartition) int {
	return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
}
