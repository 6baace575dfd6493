package interop_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
)

// Note is Python's models.Note: a small event.
type Note struct {
	ID string `json:"id"`
	By string `json:"by"`
}

// The same keys, published by Python (aiokafka's murmur2 partitioner) and
// by Go, land on the same partitions of a topic with several: keyed
// streams keep each key's order whichever side publishes.
func TestKeysPickTheSamePartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys := []string{"", "a", "ключ", "🔑", "user-0000000001"}
	for i := range 40 {
		keys = append(keys, "key-"+strconv.Itoa(i))
	}
	var msgs []pyMessage
	for _, k := range keys {
		msgs = append(msgs, pyMessage{Stream: "keyed", Model: "Note", Data: Note{ID: k, By: "python"}, Key: strPtr(k)})
	}
	published := python[pyPublished](t, e, "publish.py", map[string]any{"messages": msgs}) // creates the topic, 7 partitions
	require.Len(t, published, len(keys))

	app := e.app(t, e.config())
	ctx := testContext(t)
	for _, k := range keys {
		require.NoError(t, app.Publish(ctx, "keyed", Note{ID: k, By: "go"}, core.Key([]byte(k))))
	}
	landed := map[string]map[string]int{"python": {}, "go": {}} // by → key → partition
	for _, m := range testutil.ReadTopic(t, e.brokers, app.Topic("keyed"), 2*len(keys), 30*time.Second) {
		n := jsonValue(t, m.Value).(map[string]any)["data"].(map[string]any)
		by, id := n["by"].(string), n["id"].(string)
		require.Equal(t, id, string(m.Key), "the key is the note's id")
		landed[by][id] = m.Partition
	}
	used := map[int]bool{}
	for _, p := range published {
		require.NotNil(t, p.Key)
		assert.Equal(t, p.Partition, landed["python"][*p.Key], "key %q: the partition aiokafka reported", *p.Key)
		goPart, ok := landed["go"][*p.Key]
		if assert.True(t, ok, "Go's message with key %q", *p.Key) {
			assert.Equal(t, p.Partition, goPart, "key %q: Go's partition against Python's", *p.Key)
		}
		used[p.Partition] = true
	}
	assert.Len(t, used, 7, "45 keys spread over all 7 partitions")
}

// createdTopic is how a topic was created, as the cluster describes it.
type createdTopic struct {
	Partitions  int
	Replication int
	Overrides   map[string]string // the topic's own configs, not the broker's defaults
}

// describeTopic reads topic's partitions, replication factor and the
// configs set on it at creation.
func describeTopic(t *testing.T, e *env, topic string) createdTopic {
	t.Helper()
	adm := e.admin(t)
	ctx := testContext(t)
	details, err := adm.ListTopics(ctx, topic)
	require.NoError(t, err)
	d, ok := details[topic]
	require.True(t, ok, "topic %s exists", topic)
	require.NoError(t, d.Err)
	out := createdTopic{Partitions: len(d.Partitions), Replication: d.Partitions.NumReplicas(), Overrides: map[string]string{}}
	configs, err := adm.DescribeTopicConfigs(ctx, topic)
	require.NoError(t, err)
	rc, err := configs.On(topic, nil)
	require.NoError(t, err)
	require.NoError(t, rc.Err)
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			out.Overrides[c.Key] = c.MaybeValue()
		}
	}
	return out
}

// A topic Python kafkaesk creates serves Go publishers and subscribers,
// and one Go creates serves Python's; both are created alike: 7
// partitions, the replication factor min(3, brokers) (one here), and the
// schema's retention as retention.ms, the only config either sets. Neither
// alters a topic that exists (the other side's retention stays).
func TestTopicsCreatedByEitherSide(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const pyRetention, goRetention = 3600, 7200 // seconds
	noteSchema := map[string]any{"model": "Note", "id": "Note", "version": 1, "retention": pyRetention}

	// Python creates made.by.python; Go creates made.by.go.
	python[pyPublished](t, e, "publish.py", map[string]any{
		"schemas":  []map[string]any{noteSchema},
		"messages": []pyMessage{{Stream: "made.by.python", Model: "Note", Data: Note{ID: "p1", By: "python"}}},
	})
	app := e.app(t, e.config())
	core.MustRegister[Note](app, &core.SchemaOptions{Retention: goRetention * time.Second})
	ctx := testContext(t)
	require.NoError(t, app.Publish(ctx, "made.by.go", Note{ID: "g1", By: "go"}))

	// Each side publishes to the other's topic, and reads both notes.
	require.NoError(t, app.Publish(ctx, "made.by.python", Note{ID: "g2", By: "go"}))
	python[pyPublished](t, e, "publish.py", map[string]any{
		"schemas":  []map[string]any{noteSchema},
		"messages": []pyMessage{{Stream: "made.by.go", Model: "Note", Data: Note{ID: "p2", By: "python"}}},
	})
	got, sub := collect[Note](t, app, "made.by.python", e.group("go"))
	startRun(t, app)
	assert.ElementsMatch(t, []Note{{ID: "p1", By: "python"}, {ID: "g2", By: "go"}}, dataOf(got.waitFor(t, 2, 30*time.Second, sub)),
		"Go's subscription to the topic Python created")
	var pyGot []Note
	for _, s := range python[pySubscribed](t, e, "subscribe.py", subscribeSpec("made.by.go", e.group("py"), "Note", 2)) {
		var n Note
		require.NoError(t, json.Unmarshal(s.Data, &n))
		pyGot = append(pyGot, n)
	}
	assert.ElementsMatch(t, []Note{{ID: "g1", By: "go"}, {ID: "p2", By: "python"}}, pyGot, "Python's subscription to the topic Go created")

	byPython, byGo := describeTopic(t, e, app.Topic("made.by.python")), describeTopic(t, e, app.Topic("made.by.go"))
	assert.Equal(t, createdTopic{Partitions: 7, Replication: 1, Overrides: map[string]string{"retention.ms": fmt.Sprint(pyRetention * 1000)}}, byPython, "the topic Python created")
	assert.Equal(t, createdTopic{Partitions: 7, Replication: 1, Overrides: map[string]string{"retention.ms": fmt.Sprint(goRetention * 1000)}}, byGo, "the topic Go created")
}

// dataOf returns the data of each message.
func dataOf[T any](msgs []goMessage[T]) []T {
	out := make([]T, len(msgs))
	for i, m := range msgs {
		out[i] = m.data
	}
	return out
}
