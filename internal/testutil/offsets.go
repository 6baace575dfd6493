package testutil

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Committed returns the group's committed offset of each partition of
// topic, as the broker has them: -1 where none is.
func Committed(t testing.TB, brokers []string, group, topic string) []int64 {
	t.Helper()
	ids := Partitions(t, brokers, topic)
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil {
		err = resp.Error
	}
	out := make([]int64, len(ids))
	for i := range out {
		out[i] = -1
	}
	if errors.Is(err, kafka.GroupIdNotFound) {
		return out // kfake, before the group's first join: nothing committed
	}
	if err != nil {
		t.Fatalf("offsets of group %s on %s: %v", group, topic, err)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset of group %s on %s/%d: %v", group, topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// EndOffsets returns the end offset (high watermark) of each partition of
// topic.
func EndOffsets(t testing.TB, brokers []string, topic string) []int64 {
	t.Helper()
	ids := Partitions(t, brokers, topic)
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport, Timeout: 10 * time.Second}
	var req []kafka.OffsetRequest
	for _, p := range ids {
		req = append(req, kafka.LastOffsetOf(p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := make([]int64, len(ids))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out
}
