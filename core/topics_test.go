package core

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

type Event struct {
	Name string `json:"name"`
}

// newInternalApp is newTestApp for tests inside the package.
func newInternalApp(t *testing.T, cfg Config) (*Application, []string) {
	t.Helper()
	cfg.Brokers = kafkaesktest.Brokers(t)
	cfg.TopicPrefix = kafkaesktest.TopicPrefix(t)
	app, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, app.Close(ctx))
	})
	return app, cfg.Brokers
}

// topicConfig reads one config of a topic from the broker itself.
func topicConfig(t *testing.T, brokers []string, topic, name string) string {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.DescribeConfigs(context.Background(), &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name},
		}},
	})
	require.NoError(t, err)
	require.Len(t, resp.Resources, 1)
	require.NoError(t, resp.Resources[0].Error)
	for _, e := range resp.Resources[0].ConfigEntries {
		if e.ConfigName == name {
			return e.ConfigValue
		}
	}
	t.Fatalf("topic %s has no config %s", topic, name)
	return ""
}

// clusterSize is the number of brokers in the cluster.
func clusterSize(t *testing.T, brokers []string) int {
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	md, err := c.Metadata(context.Background(), &kafka.MetadataRequest{})
	require.NoError(t, err)
	return len(md.Brokers)
}

func TestTopicCreatedWithPartitionsReplicationAndRetention(t *testing.T) {
	app, brokers := newInternalApp(t, Config{})
	MustRegister[Event](app, &SchemaOptions{Retention: 36 * time.Hour})
	require.NoError(t, app.Publish(context.Background(), "events", Event{Name: "a"}))

	topic := app.Topic("events")
	md := testutil.Metadata(t, brokers, topic)
	assert.Len(t, md.Partitions, DefaultPartitions)
	wantRF := min(3, clusterSize(t, brokers))
	for _, p := range md.Partitions {
		assert.Len(t, p.Replicas, wantRF, "replication factor min(3, brokers) on partition %d", p.ID)
	}
	assert.Equal(t, "129600000", topicConfig(t, brokers, topic, "retention.ms"))
}

func TestTopicCreatedWithConfiguredPartitionsAndReplication(t *testing.T) {
	app, brokers := newInternalApp(t, Config{Partitions: 3, ReplicationFactor: 1})
	require.NoError(t, app.Publish(context.Background(), "three", Event{}))
	md := testutil.Metadata(t, brokers, app.Topic("three"))
	assert.Len(t, md.Partitions, 3)
	for _, p := range md.Partitions {
		assert.Len(t, p.Replicas, 1)
	}
}

func TestSchemaStreamsCreatedAtStart(t *testing.T) {
	app, brokers := newInternalApp(t, Config{})
	MustRegister[Event](app, &SchemaOptions{Retention: time.Hour, Streams: []string{"a", "b"}})
	require.NoError(t, app.Start(context.Background()))
	for _, stream := range []string{"a", "b"} {
		topic := app.Topic(stream)
		assert.Len(t, testutil.Metadata(t, brokers, topic).Partitions, DefaultPartitions)
		assert.Equal(t, "3600000", topicConfig(t, brokers, topic, "retention.ms"))
	}
}

func TestExistingTopicIsLeftAlone(t *testing.T) {
	app, brokers := newInternalApp(t, Config{})
	topic := app.Topic("existing")
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "60000"}},
	}}})
	require.NoError(t, err)
	require.NoError(t, resp.Errors[topic])

	MustRegister[Event](app, &SchemaOptions{Retention: time.Hour})
	require.NoError(t, app.Publish(context.Background(), "existing", Event{}))
	assert.Len(t, testutil.Metadata(t, brokers, topic).Partitions, 2)
	assert.Equal(t, "60000", topicConfig(t, brokers, topic, "retention.ms"))
}

// Concurrent first publishes to one new stream must create its topic once
// (kafkaesk guards creation with a per-stream lock for the same reason).
func TestConcurrentFirstPublishesCreateTheTopicOnce(t *testing.T) {
	app, brokers := newInternalApp(t, Config{})
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- app.Publish(context.Background(), "race", Event{Name: string(rune('a' + i%26))}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), app.topics.createRequests.Load(), "CreateTopics requests")
	assert.Equal(t, int64(n), testutil.MessageCount(t, brokers, app.Topic("race")))
}

func TestPingNamesTheUnreachableBroker(t *testing.T) {
	app, err := New(Config{Brokers: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer app.Close(context.Background())
	start := time.Now()
	err = app.Ping(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestPingAnswersOnAReachableBroker(t *testing.T) {
	app, err := New(Config{Brokers: kafkaesktest.Brokers(t)})
	require.NoError(t, err)
	defer app.Close(context.Background())
	require.NoError(t, app.Ping(context.Background()))
}

// The set of topics known to exist holds at most maxRememberedTopics, so
// that a process publishing to ever new streams does not grow it without
// end (it kept every topic ever published to). A full set forgets them
// all: a forgotten topic is only looked up again.
func TestTopicSetIsBounded(t *testing.T) {
	var s topicSet
	for i := range maxRememberedTopics {
		s.add("t" + strconv.Itoa(i))
	}
	s.add("t0") // already there: not counted again
	for _, topic := range []string{"t0", "t" + strconv.Itoa(maxRememberedTopics-1)} {
		assert.True(t, s.has(topic), "%s is known", topic)
	}
	assert.Equal(t, maxRememberedTopics, s.n)

	s.add("one more")
	assert.True(t, s.has("one more"), "the newest topic is known")
	assert.False(t, s.has("t0"), "a full set forgets the others")
	assert.Equal(t, 1, s.n)
	var left int
	s.m.Range(func(any, any) bool { left++; return true })
	assert.Equal(t, 1, left, "topics in the set")
}
