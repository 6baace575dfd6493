package core

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// metadataCache is the producer's kafka.RoundTripper. kafka-go's Writer
// asks for the metadata of a message's topic for every message it is
// handed (Writer.partitions), and the Transport answers from its cache by
// filtering and copying the cached response: about 0.45 µs a message, a
// tenth of what a log event costs end to end. metadataCache answers those
// one-topic requests with the last answer for up to ttl, and passes
// everything else through.
//
// Only answers that found the topic are kept, so a topic that does not
// exist yet is asked for again and seen as soon as it is created. The
// cached responses are shared; the Writer only reads them. At most
// maxRememberedTopics answers are kept: a new one that finds the cache
// full drops them all. The producer's answers live a second at most
// anyway, so this costs at most one more request per topic, and no scan.
type metadataCache struct {
	next kafka.RoundTripper
	ttl  time.Duration

	mu     sync.RWMutex
	topics map[string]cachedMetadata // guarded by mu; at most maxRememberedTopics
}

type cachedMetadata struct {
	resp    *metadataAPI.Response
	expires time.Time
}

func newMetadataCache(next kafka.RoundTripper, ttl time.Duration) *metadataCache {
	return &metadataCache{next: next, ttl: ttl, topics: map[string]cachedMetadata{}}
}

func (c *metadataCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadataAPI.Request)
	if !ok || len(m.TopicNames) != 1 {
		return c.next.RoundTrip(ctx, addr, req)
	}
	topic := m.TopicNames[0]
	now := time.Now()
	c.mu.RLock()
	e, hit := c.topics[topic]
	c.mu.RUnlock()
	if hit && now.Before(e.expires) {
		return e.resp, nil
	}
	resp, err := c.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	if r, ok := resp.(*metadataAPI.Response); ok && foundTopic(r, topic) {
		c.mu.Lock()
		c.store(topic, cachedMetadata{resp: r, expires: now.Add(c.ttl)})
		c.mu.Unlock()
	}
	return resp, nil
}

// store keeps e as topic's answer, making room first when the cache is
// full. c.mu is held.
func (c *metadataCache) store(topic string, e cachedMetadata) {
	if _, ok := c.topics[topic]; !ok && len(c.topics) >= maxRememberedTopics {
		clear(c.topics)
	}
	c.topics[topic] = e
}

// foundTopic reports whether r describes topic without an error.
func foundTopic(r *metadataAPI.Response, topic string) bool {
	for _, t := range r.Topics {
		if t.Name == topic {
			return t.ErrorCode == 0 && len(t.Partitions) > 0
		}
	}
	return false
}
