package core

import (
	"context"
	"net"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingTransport answers metadata requests for the topic "known" (two
// partitions) and refuses any other topic, and counts what it is asked.
type countingTransport struct{ metadata, other int }

func (t *countingTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadataAPI.Request)
	if !ok {
		t.other++
		return &produceAPI.Response{}, nil
	}
	t.metadata++
	resp := &metadataAPI.Response{}
	for _, name := range m.TopicNames {
		topic := metadataAPI.ResponseTopic{Name: name}
		if name == "known" {
			topic.Partitions = []metadataAPI.ResponsePartition{{PartitionIndex: 0}, {PartitionIndex: 1}}
		} else {
			topic.ErrorCode = int16(kafka.UnknownTopicOrPartition)
		}
		resp.Topics = append(resp.Topics, topic)
	}
	return resp, nil
}

func TestMetadataCacheAnswersOneTopicRequestsUntilTheTTL(t *testing.T) {
	// Under synctest the clock moves only when every goroutine waits: the
	// TTL is exact and the test does not sleep.
	synctest.Test(t, func(t *testing.T) {
		next := &countingTransport{}
		const ttl = 50 * time.Millisecond
		c := newMetadataCache(next, ttl)
		ctx, addr := context.Background(), kafka.TCP("127.0.0.1:9092")
		ask := func(topics ...string) *metadataAPI.Response {
			t.Helper()
			resp, err := c.RoundTrip(ctx, addr, &metadataAPI.Request{TopicNames: topics})
			require.NoError(t, err)
			return resp.(*metadataAPI.Response)
		}

		for range 100 {
			r := ask("known")
			require.Len(t, r.Topics, 1)
			assert.Len(t, r.Topics[0].Partitions, 2)
		}
		assert.Equal(t, 1, next.metadata, "asked once, then answered from the cache")

		for range 3 {
			assert.NotZero(t, ask("missing").Topics[0].ErrorCode)
		}
		assert.Equal(t, 4, next.metadata, "a topic not found is asked for every time, so that it is seen once created")

		ask("known", "missing")
		assert.Equal(t, 5, next.metadata, "requests for several topics pass through")

		_, err := c.RoundTrip(ctx, addr, &produceAPI.Request{})
		require.NoError(t, err)
		assert.Equal(t, 1, next.other, "other requests pass through")

		time.Sleep(ttl - time.Nanosecond)
		ask("known")
		assert.Equal(t, 5, next.metadata, "answered from the cache until the TTL")
		time.Sleep(time.Nanosecond)
		ask("known")
		assert.Equal(t, 6, next.metadata, "asked again once the answer is as old as the TTL")
	})
}

// everyTopicTransport finds every topic asked for, with one partition,
// and counts the requests.
type everyTopicTransport struct{ requests int }

func (t *everyTopicTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	t.requests++
	resp := &metadataAPI.Response{}
	for _, name := range req.(*metadataAPI.Request).TopicNames {
		resp.Topics = append(resp.Topics, metadataAPI.ResponseTopic{Name: name, Partitions: []metadataAPI.ResponsePartition{{}}})
	}
	return resp, nil
}

// The cache holds at most maxRememberedTopics answers, so that a process
// publishing to ever new streams does not grow it without end (it kept
// every topic ever published to). A full cache forgets every answer.
func TestMetadataCacheIsBounded(t *testing.T) {
	next := &everyTopicTransport{}
	c := newMetadataCache(next, time.Hour)
	ctx, addr := context.Background(), kafka.TCP("127.0.0.1:9092")
	ask := func(topic string) {
		t.Helper()
		_, err := c.RoundTrip(ctx, addr, &metadataAPI.Request{TopicNames: []string{topic}})
		require.NoError(t, err)
	}

	for i := range maxRememberedTopics {
		ask("t" + strconv.Itoa(i))
	}
	ask("t0")
	ask("t" + strconv.Itoa(maxRememberedTopics-1))
	assert.Equal(t, maxRememberedTopics, next.requests, "every answer up to the bound is kept")
	assert.Equal(t, maxRememberedTopics, len(c.topics), "answers kept")

	ask("one more")
	assert.Equal(t, 1, len(c.topics), "a full cache forgets every answer")
	ask("one more")
	assert.Equal(t, maxRememberedTopics+1, next.requests, "the newest answer is kept")
	ask("t0")
	assert.Equal(t, maxRememberedTopics+2, next.requests, "a forgotten topic is asked for again")
}
