package core

import (
	"context"
	"fmt"
	"sync"

	"github.com/segmentio/kafka-go"
)

// offsets tracks, for one generation, the next offset to commit on each
// assigned partition: one past the last message that finished. A partition
// is handled one message at a time, in offset order, so "the highest
// offset below which every message has finished" is exactly that.
type offsets struct {
	c   *consumer
	gen *kafka.Generation

	mu    sync.Mutex // guards every partitionOffsets' next and committed
	parts []*partitionOffsets
}

type partitionOffsets struct {
	o         *offsets
	topic     string
	partition int
	start     int64 // where fetching starts: the committed offset, or kafka.FirstOffset/LastOffset
	next      int64 // one past the last finished message; -1 before any
	committed int64 // last committed next; -1 before any
}

func newOffsets(c *consumer, gen *kafka.Generation) *offsets {
	return &offsets{c: c, gen: gen}
}

func (o *offsets) add(topic string, partition int, start int64) *partitionOffsets {
	p := &partitionOffsets{o: o, topic: topic, partition: partition, start: start, next: -1, committed: -1}
	if start >= 0 {
		p.next, p.committed = start, start
	}
	o.mu.Lock()
	o.parts = append(o.parts, p)
	o.mu.Unlock()
	return p
}

// finished records that the message at offset is done with.
func (p *partitionOffsets) finished(offset int64) {
	p.o.mu.Lock()
	p.next = offset + 1
	p.o.mu.Unlock()
}

// commit commits up to and including offset at once: manual commits.
// kafka-go bounds the request by the group's coordinator timeout.
func (p *partitionOffsets) commit(ctx context.Context, offset int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.o.gen.CommitOffsets(map[string]map[int]int64{p.topic: {p.partition: offset + 1}}); err != nil {
		return fmt.Errorf("kafkaesk: commit %s/%d at %d: %w", p.topic, p.partition, offset+1, err)
	}
	p.o.mu.Lock()
	p.committed = max(p.committed, offset+1)
	p.o.mu.Unlock()
	return nil
}

// commitFinished commits every partition whose finished offset moved,
// unless auto-commit is off. A failed commit is logged: the messages are
// redelivered, as at-least-once allows.
func (o *offsets) commitFinished(reason string) {
	if o.c.app.cfg.DisableAutoCommit {
		return
	}
	o.mu.Lock()
	todo := map[string]map[int]int64{}
	for _, p := range o.parts {
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
	if err := o.gen.CommitOffsets(todo); err != nil {
		o.c.log.Warn("kafkaesk: commit failed; those messages will be redelivered", "reason", reason, "offsets", todo, "err", err)
		return
	}
	o.mu.Lock()
	for _, p := range o.parts {
		if off, ok := todo[p.topic][p.partition]; ok {
			p.committed = max(p.committed, off)
		}
	}
	o.mu.Unlock()
}
