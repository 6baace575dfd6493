package core

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// offsets tracks, for one membership of a group, the partitions
// assigned to the member and the next offset to commit on each: one past
// the last message that finished. A partition is handled one message at
// a time, in offset order, so "the highest offset below which every
// message has finished" is exactly that. Partitions come and go with
// the member's assignments: all at once with eager rebalancing, a few at
// a time with cooperative or KIP-848 ones.
type offsets struct {
	c      *consumer
	member groupMember
	// partitionParent is the parent of the partitions' fetch contexts.
	partitionParent context.Context

	mu    sync.Mutex // guards parts and every partitionOffsets' next and committed
	parts []*partitionOffsets
}

type partitionOffsets struct {
	o         *offsets
	topic     string
	partition int
	next      int64 // one past the last finished message; -1 before any
	committed int64 // last committed next; -1 before any
	hwm       int64 // high watermark at the last finished message; -1 before any

	fetch   fetcher
	stop    context.CancelFunc // ends the partition's consuming goroutine
	done    chan struct{}      // closed when that goroutine has returned
	metrics *partitionMetrics  // nil without metrics
}

func (o *offsets) beforeCommit() error {
	before := o.c.sub.opts.BeforeCommit
	if before == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.c.app.cfg.RequestTimeout)
	defer cancel()
	if err := before(ctx); err != nil {
		return fmt.Errorf("before commit: %w", err)
	}
	return nil
}

// add starts tracking an assigned partition whose committed offset is
// committed (-1: not known).
func (o *offsets) add(a assignedPartition) *partitionOffsets {
	p := &partitionOffsets{o: o, topic: a.topic, partition: a.partition, next: -1, committed: -1, hwm: -1, fetch: a.fetch, done: make(chan struct{})}
	if a.committed >= 0 {
		p.next, p.committed = a.committed, a.committed
	}
	o.mu.Lock()
	o.parts = append(o.parts, p)
	o.mu.Unlock()
	return p
}

// take returns the tracked partitions among tps, all of them for nil.
func (o *offsets) take(tps []topicPartition) []*partitionOffsets {
	o.mu.Lock()
	defer o.mu.Unlock()
	if tps == nil {
		return slices.Clone(o.parts)
	}
	var out []*partitionOffsets
	for _, p := range o.parts {
		if slices.Contains(tps, topicPartition{p.topic, p.partition}) {
			out = append(out, p)
		}
	}
	return out
}

// remove stops tracking ps.
func (o *offsets) remove(ps []*partitionOffsets) {
	o.mu.Lock()
	o.parts = slices.DeleteFunc(o.parts, func(p *partitionOffsets) bool { return slices.Contains(ps, p) })
	o.mu.Unlock()
}

// finished records that the message at offset is done with, and the
// partition's high watermark when it was fetched.
func (p *partitionOffsets) finished(offset, hwm int64) {
	p.o.mu.Lock()
	p.next = offset + 1
	p.hwm = hwm
	p.o.mu.Unlock()
}

func (o *offsets) states() []PartitionState {
	o.mu.Lock()
	out := make([]PartitionState, 0, len(o.parts))
	for _, p := range o.parts {
		out = append(out, PartitionState{Topic: p.topic, Partition: p.partition, Committed: p.committed, Finished: p.next, HighWaterMark: p.hwm})
	}
	o.mu.Unlock()
	slices.SortFunc(out, func(a, b PartitionState) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// commit commits up to and including offset at once: manual commits.
func (p *partitionOffsets) commit(ctx context.Context, offset int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.o.member.commit(ctx, map[string]map[int]int64{p.topic: {p.partition: offset + 1}}); err != nil {
		return fmt.Errorf("kafkaesk: commit %s/%d at %d: %w", p.topic, p.partition, offset+1, err)
	}
	p.o.mu.Lock()
	p.committed = max(p.committed, offset+1)
	p.o.mu.Unlock()
	return nil
}

// commitFinished commits every partition of ps (every tracked one for
// nil) whose finished offset moved, unless auto-commit is off. A failed
// commit is logged: the messages are redelivered, as at-least-once
// allows.
func (o *offsets) commitFinished(reason string, ps []*partitionOffsets) {
	if o.c.app.cfg.DisableAutoCommit || o.c.sub.opts.Transactional {
		return // the member's transactions commit
	}
	o.mu.Lock()
	if ps == nil {
		ps = slices.Clone(o.parts)
	}
	todo := map[string]map[int]int64{}
	for _, p := range ps {
		if p.next > p.committed {
			if todo[p.topic] == nil {
				todo[p.topic] = map[int]int64{}
			}
			todo[p.topic][p.partition] = p.next
		}
	}
	o.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	opts := &o.c.sub.opts
	start := time.Now()
	err := o.beforeCommit()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), o.c.app.cfg.RequestTimeout)
		err = o.member.commit(ctx, todo)
		cancel()
	}
	if opts.AfterCommit != nil {
		opts.AfterCommit(Commit{Reason: reason, Offsets: todo, Duration: time.Since(start), Err: err})
	}
	if err != nil {
		o.c.log.Warn("kafkaesk: commit failed; those messages will be redelivered", "reason", reason, "offsets", todo, "err", err)
		return
	}
	o.mu.Lock()
	for _, p := range ps {
		if off, ok := todo[p.topic][p.partition]; ok {
			p.committed = max(p.committed, off)
		}
	}
	o.mu.Unlock()
}
