package core

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkaGoMember is a group member on kafka-go's ConsumerGroup: eager
// rebalancing, one generation at a time. Each generation's partitions are
// assigned when it starts and revoked, inside the generation (while its
// commits still work), when it ends.
type kafkaGoMember struct {
	d    *kafkaGoDriver
	spec groupSpec

	mu  sync.Mutex
	gen *kafka.Generation // the current generation; nil between two
}

func (d *kafkaGoDriver) newGroupMember(spec groupSpec) (groupMember, error) {
	if spec.rebalance != RebalanceEager {
		return nil, fmt.Errorf("kafkaesk: group %s: rebalance %q needs Client %s: %s has eager rebalancing only", spec.group, spec.rebalance, ClientFranzGo, ClientKafkaGo)
	}
	if spec.transactionalID != "" {
		return nil, fmt.Errorf("group %s: %w", spec.group, errNoTransactions(ClientKafkaGo))
	}
	if spec.readCommitted {
		return nil, fmt.Errorf("group %s: ReadCommitted needs Client %s: %s does not drop the records of aborted transactions", spec.group, ClientFranzGo, ClientKafkaGo)
	}
	return &kafkaGoMember{d: d, spec: spec}, nil
}

// txn returns nil: kafka-go has no transactions.
func (m *kafkaGoMember) txn() txnProducer { return nil }

// newTransactor returns the error that kafka-go has no transactions.
func (d *kafkaGoDriver) newTransactor(string) (transactor, error) {
	return nil, errNoTransactions(ClientKafkaGo)
}

func (m *kafkaGoMember) run(ctx context.Context) error {
	cfg := m.d.cfg
	start := kafka.FirstOffset
	if m.spec.startLatest {
		start = kafka.LastOffset
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     m.spec.group,
		Brokers:                cfg.Brokers,
		Dialer:                 m.d.dialer,
		Topics:                 m.spec.topics,
		HeartbeatInterval:      cfg.HeartbeatInterval,
		SessionTimeout:         cfg.SessionTimeout,
		RebalanceTimeout:       cfg.SessionTimeout,
		JoinGroupBackoff:       500 * time.Millisecond,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: cfg.MetadataMaxAge,
		StartOffset:            start,
		Timeout:                cfg.RequestTimeout,
		ErrorLogger:            debugLogger(m.spec.log),
	})
	if err != nil {
		return fmt.Errorf("kafkaesk: group %s: %w", m.spec.group, err)
	}
	defer group.Close()
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Rebalances and coordinator changes: kafka-go backs off and
			// rejoins by itself.
			m.spec.log.Debug("kafkaesk: joining group", "err", err)
			continue
		}
		m.runGeneration(ctx, group, gen)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// runGeneration assigns gen's partitions and revokes them when the
// generation or ctx ends.
func (m *kafkaGoMember) runGeneration(ctx context.Context, group *kafka.ConsumerGroup, gen *kafka.Generation) {
	m.mu.Lock()
	m.gen = gen
	m.mu.Unlock()
	var parts []assignedPartition
	var tps []topicPartition
	for topic, assigned := range gen.Assignments {
		for _, pa := range assigned {
			tp := topicPartition{topic: topic, partition: pa.ID}
			committed := pa.Offset
			if committed < 0 {
				committed = -1
			}
			parts = append(parts, assignedPartition{topicPartition: tp, committed: committed, fetch: m.d.newFetcher(topic, pa.ID, pa.Offset, false, m.spec.log)})
			tps = append(tps, tp)
		}
	}
	m.spec.assigned(parts)
	done := make(chan struct{})
	gen.Start(func(gctx context.Context) {
		defer close(done)
		select {
		case <-gctx.Done():
		case <-ctx.Done():
			// This member is leaving the group. Close it now, while the
			// generation lives: once the generation ended, kafka-go
			// would rejoin first, and a JoinGroup blocks until the
			// group's rebalance completes (seconds, when the whole group
			// stops at once). Close waits for this function, so it runs
			// on its own goroutine; run's Close waits for it.
			go group.Close()
		}
		m.spec.revoked(tps, false)
		m.mu.Lock()
		m.gen = nil
		m.mu.Unlock()
	})
	<-done
}

func (m *kafkaGoMember) commit(ctx context.Context, offsets map[string]map[int]int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	gen := m.gen
	m.mu.Unlock()
	if gen == nil {
		return fmt.Errorf("group %s: no generation: the member is rejoining", m.spec.group)
	}
	// kafka-go bounds the request by the group's coordinator timeout.
	return gen.CommitOffsets(offsets)
}

// kafkaGoFetcher fetches one partition with a kafka-go Reader.
type kafkaGoFetcher struct {
	r       *kafka.Reader
	log     *slog.Logger
	backoff fetchBackoff
}

// newFetcher returns a fetcher of topic's partition from offset start
// (an offset, kafka.FirstOffset or kafka.LastOffset).
func (d *kafkaGoDriver) newFetcher(topic string, partition int, start int64, readCommitted bool, log *slog.Logger) *kafkaGoFetcher {
	isolation := kafka.ReadUncommitted
	if readCommitted {
		// kafka-go returns the records of aborted transactions and the
		// transaction markers anyway (segmentio/kafka-go#1332).
		isolation = kafka.ReadCommitted
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        d.cfg.Brokers,
		Topic:          topic,
		Partition:      partition,
		Dialer:         d.dialer,
		MinBytes:       1,
		MaxBytes:       4 << 20,
		IsolationLevel: isolation,
		// Close waits for a fetch in flight: a short MaxWait keeps a stop
		// fast (kafka-go's default of 10s would hold it for 10s).
		MaxWait:        250 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    debugLogger(log),
	})
	_ = r.SetOffset(start) // fails only on a group reader
	return &kafkaGoFetcher{r: r, log: log, backoff: fetchBackoff{min: 50 * time.Millisecond, max: 5 * time.Second}}
}

func (f *kafkaGoFetcher) next(ctx context.Context) (Record, error) {
	for {
		m, err := f.r.FetchMessage(ctx)
		if err == nil {
			f.backoff.reset()
			return recordOf(&m), nil
		}
		if ctx.Err() != nil {
			return Record{}, ctx.Err()
		}
		if !IsRetryable(err) {
			return Record{}, err
		}
		wait := f.backoff.next()
		f.log.Warn("kafkaesk: fetch failed; retrying", "offset", f.r.Offset(), "backoff", wait, "err", err)
		if !sleepCtx(ctx, wait) {
			return Record{}, ctx.Err()
		}
	}
}

func (f *kafkaGoFetcher) close() { f.r.Close() } // waits for the reader's goroutines

// kafkaGoSource reads partitions with a Reader each.
type kafkaGoSource struct {
	fetchers map[int]*kafkaGoFetcher
}

func (d *kafkaGoDriver) newPartitionSource(spec sourceSpec) (partitionSource, error) {
	s := &kafkaGoSource{fetchers: make(map[int]*kafkaGoFetcher, len(spec.start))}
	for p, start := range spec.start {
		s.fetchers[p] = d.newFetcher(spec.topic, p, start, spec.readCommitted, spec.log.With("partition", p))
	}
	return s, nil
}

func (s *kafkaGoSource) fetcher(partition int) fetcher { return s.fetchers[partition] }

func (s *kafkaGoSource) close() {
	for _, f := range s.fetchers {
		f.close()
	}
}

// debugLogger passes kafka-go's error log to log at Debug.
func debugLogger(log *slog.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) { log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) })
}
