package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// topicManager creates missing topics, once per topic per process,
// through the application's driver (on kafka-go, through the producer's
// transport, so that a topic it creates is in the producer's metadata
// cache before the first message is written to it).
type topicManager struct {
	driver  driver
	cfg     *Config
	metrics *metrics

	known topicSet // topics that exist; positive only, as kafkaesk's cache

	mu       sync.Mutex
	inflight map[string]*topicCreation // guarded by mu

	createRequests atomic.Int64 // CreateTopics requests sent; read by tests
}

// topicCreation lets concurrent first publishes to one topic wait on a
// single creation.
type topicCreation struct {
	done chan struct{} // closed when err is set
	err  error
}

func newTopicManager(d driver, cfg *Config, m *metrics) *topicManager {
	return &topicManager{driver: d, cfg: cfg, metrics: m, inflight: map[string]*topicCreation{}}
}

func (m *topicManager) isKnown(topic string) bool { return m.known.has(topic) }

// maxRememberedTopics bounds what core remembers per topic (the topics
// known to exist, the metadata cache), so that a process publishing to
// ever new streams does not grow without end. Forgetting is safe: a
// forgotten topic is looked up again.
const maxRememberedTopics = 10_000

// topicSet is a set of topic names that forgets them all once it holds
// maxRememberedTopics. Lookups take no lock; adds are serialised.
type topicSet struct {
	m  sync.Map // topic name → struct{}
	mu sync.Mutex
	n  int // entries in m; guarded by mu
}

func (s *topicSet) has(topic string) bool {
	_, ok := s.m.Load(topic)
	return ok
}

func (s *topicSet) add(topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, loaded := s.m.LoadOrStore(topic, struct{}{}); loaded {
		return
	}
	if s.n++; s.n > maxRememberedTopics {
		s.m.Clear()
		s.m.Store(topic, struct{}{})
		s.n = 1
	}
}

// ensure makes sure topic exists, creating it with the configured
// partitions and replication factor and the given retention when it does
// not. A topic that exists is left alone. It blocks until the topic exists
// or ctx ends.
func (m *topicManager) ensure(ctx context.Context, topic string, retention time.Duration) error {
	if m.known.has(topic) {
		return nil
	}
	m.mu.Lock()
	c, waiting := m.inflight[topic]
	if !waiting {
		c = &topicCreation{done: make(chan struct{})}
		m.inflight[topic] = c
	}
	m.mu.Unlock()

	if !waiting {
		// The creation runs on its own deadline, not the first caller's
		// context, so that one impatient caller does not fail the others.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.RequestTimeout)
		c.err = m.create(cctx, topic, retention)
		cancel()
		if c.err == nil {
			m.known.add(topic)
		}
		m.mu.Lock()
		delete(m.inflight, topic)
		m.mu.Unlock()
		close(c.done)
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return &TopicError{Topic: topic, Err: fmt.Errorf("waiting for creation: %w", ctx.Err())}
	}
}

func (m *topicManager) create(ctx context.Context, topic string, retention time.Duration) (err error) {
	start := time.Now()
	defer func() { m.metrics.action("sync_create_topics", start, err) }()
	parts, brokers, err := m.driver.describeTopic(ctx, topic)
	if err != nil {
		return &TopicError{Topic: topic, Err: err}
	}
	if len(parts) > 0 {
		return nil
	}
	rf, err := m.replicationFactor(ctx, brokers)
	if err != nil {
		return &TopicError{Topic: topic, Err: err}
	}
	m.createRequests.Add(1)
	if err := m.driver.createTopic(ctx, topic, m.cfg.Partitions, rf, retention); err != nil {
		return &TopicError{Topic: topic, Err: err}
	}
	return m.awaitPartitions(ctx, topic)
}

// replicationFactor returns the replication factor of a topic to
// create, with brokers up: Config.ReplicationFactor when set, otherwise
// min(3, brokers up), or the cluster's default.replication.factor when
// it is configured higher. A factor the brokers up cannot hold is an
// error wrapping ErrNotEnoughBrokers, which the producer retries: a
// broker that happens to be down must not make a topic with fewer
// replicas for good. (Python kafkaesk takes min(3, bootstrap servers
// configured).)
func (m *topicManager) replicationFactor(ctx context.Context, brokers []int) (int, error) {
	rf := m.cfg.ReplicationFactor
	if rf == 0 && len(brokers) > 0 {
		rf = min(3, len(brokers))
		// The first broker that answers: one just back may not be in
		// every client's metadata yet.
		var errs []error
		for _, b := range brokers {
			def, err := m.driver.defaultReplicationFactor(ctx, b)
			if err == nil {
				rf, errs = max(rf, def), nil
				break
			}
			if notAllowed(err) {
				// A user without DescribeConfigs on the cluster (ACLs)
				// creates topics all the same, as Python kafkaesk does.
				m.cfg.Logger.Debug("kafkaesk: cannot read default.replication.factor; creating topics with min(3, brokers up) replicas", "err", err)
				rf, errs = min(3, len(brokers)), nil
				break
			}
			errs = append(errs, err)
		}
		if errs != nil {
			return 0, &retryLaterError{fmt.Errorf("no broker told its default.replication.factor: %w", errors.Join(errs...))}
		}
	}
	if rf > len(brokers) || rf == 0 {
		return 0, fmt.Errorf("%w: replication factor %d needs %d brokers, and %d are up (ids %v): not creating it with fewer replicas; retrying",
			ErrNotEnoughBrokers, rf, rf, len(brokers), brokers)
	}
	return rf, nil
}

// awaitPartitions waits until every partition of a topic just created
// answers on its leader. Kafka answers CreateTopics before the leaders
// serve the new partitions: a first produce before then fails with
// NOT_LEADER_FOR_PARTITION, and on kafka-go, whose Writer has no
// idempotent producer to hold the batches queued behind a failed one,
// its retry would land after newer messages of its key.
func (m *topicManager) awaitPartitions(ctx context.Context, topic string) error {
	wait := 10 * time.Millisecond
	for {
		parts, _, err := m.driver.describeTopic(ctx, topic)
		if err == nil && len(parts) >= m.cfg.Partitions {
			// The leaders answer ListOffsets once they serve the partition.
			if _, err = m.driver.listOffsets(ctx, topic, parts, false, time.Time{}); err == nil {
				return nil
			}
		}
		if !sleepCtx(ctx, wait) {
			return &TopicError{Topic: topic, Err: fmt.Errorf("created, but its %d partitions are not in the brokers' metadata yet: %w", m.cfg.Partitions, ctx.Err())}
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}
