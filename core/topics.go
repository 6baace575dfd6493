package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// topicManager creates missing topics, once per topic per process.
// It shares the producer's transport, so a topic it creates is in the
// producer's metadata cache before the first message is written to it.
type topicManager struct {
	client *kafka.Client
	cfg    *Config

	known sync.Map // topic name → struct{}; positive only, as kafkaesk's cache

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

func newTopicManager(client *kafka.Client, cfg *Config) *topicManager {
	return &topicManager{client: client, cfg: cfg, inflight: map[string]*topicCreation{}}
}

func (m *topicManager) isKnown(topic string) bool {
	_, ok := m.known.Load(topic)
	return ok
}

func (m *topicManager) markKnown(topic string) { m.known.Store(topic, struct{}{}) }

// ensure makes sure topic exists, creating it with the configured
// partitions and replication factor and the given retention when it does
// not. A topic that exists is left alone. It blocks until the topic exists
// or ctx ends.
func (m *topicManager) ensure(ctx context.Context, topic string, retention time.Duration) error {
	if _, ok := m.known.Load(topic); ok {
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
			m.known.Store(topic, struct{}{})
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

func (m *topicManager) create(ctx context.Context, topic string, retention time.Duration) error {
	meta, err := m.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return &TopicError{Topic: topic, Err: fmt.Errorf("read metadata from %s: %w", m.cfg.Brokers, err)}
	}
	for _, t := range meta.Topics {
		if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
			return nil
		}
	}
	rf := m.cfg.ReplicationFactor
	if rf == 0 {
		rf = min(3, len(meta.Brokers))
	}
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: m.cfg.Partitions, ReplicationFactor: rf}
	if retention > 0 {
		tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(retention.Milliseconds(), 10)}}
	}
	m.createRequests.Add(1)
	resp, err := m.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return &TopicError{Topic: topic, Err: fmt.Errorf("create on %s: %w", m.cfg.Brokers, err)}
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return &TopicError{Topic: topic, Err: fmt.Errorf("create with %d partitions, replication factor %d: %w", tc.NumPartitions, rf, err)}
	}
	return nil
}
