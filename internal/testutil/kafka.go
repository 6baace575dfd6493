// Package testutil holds helpers shared by this module's tests.
package testutil

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadTopic reads every message of topic, from all partitions, with plain
// kafka-go readers (no consumer group), until n have arrived or timeout
// passes. It returns what it read, ordered by partition then offset.
func ReadTopic(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	partitions := Partitions(t, brokers, topic)
	out := make(chan kafka.Message, n+1)
	errc := make(chan error, len(partitions))
	for _, p := range partitions {
		go func() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					errc <- err
					return
				}
				out <- m
			}
		}()
	}
	var msgs []kafka.Message
	for len(msgs) < n {
		select {
		case m := <-out:
			msgs = append(msgs, m)
		case <-ctx.Done():
			t.Fatalf("read %d of %d messages from %s before %v passed", len(msgs), n, topic, timeout)
		}
	}
	cancel()
	for range partitions {
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("reader of %s: %v", topic, err)
		}
	}
	slices.SortFunc(msgs, func(a, b kafka.Message) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.Offset - b.Offset)
	})
	return msgs
}

// Partitions returns the partition ids of topic, failing the test if it
// does not exist.
func Partitions(t testing.TB, brokers []string, topic string) []int {
	t.Helper()
	md := Metadata(t, brokers, topic)
	var ids []int
	for _, p := range md.Partitions {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids
}

// Metadata reads a topic's metadata straight from the broker, on a client
// of its own (no shared cache), failing the test if the topic is unknown.
func Metadata(t testing.TB, brokers []string, topic string) kafka.Topic {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}, Timeout: 10 * time.Second}
	defer c.Transport.(*kafka.Transport).CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	for _, tp := range resp.Topics {
		if tp.Name == topic {
			if tp.Error != nil {
				t.Fatalf("metadata of %s: %v", topic, tp.Error)
			}
			return tp
		}
	}
	t.Fatalf("metadata of %s: topic not in the response", topic)
	return kafka.Topic{}
}

// MessageCount returns how many messages topic holds, summing the
// partitions' high-water marks (every topic here starts at offset 0).
// It returns 0 for a topic that does not exist. Right after a topic is
// created, a real broker answers "not leader" until leaders are elected;
// those answers are retried for up to 10 seconds.
func MessageCount(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := messageCount(brokers, topic)
		if err == nil {
			return n
		}
		var kerr kafka.Error
		if !errors.As(err, &kerr) || !kerr.Temporary() || time.Now().After(deadline) {
			t.Fatalf("count messages of %s: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func messageCount(brokers []string, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	var req []kafka.OffsetRequest
	for _, tp := range md.Topics {
		if tp.Name != topic || tp.Error != nil {
			continue
		}
		for _, p := range tp.Partitions {
			req = append(req, kafka.LastOffsetOf(p.ID))
		}
	}
	if len(req) == 0 {
		return 0, nil
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return 0, fmt.Errorf("partition %d: %w", po.Partition, po.Error)
		}
		n += po.LastOffset
	}
	return n, nil
}

// Produce writes values to topic, which must exist, spread over its
// partitions, with a plain kafka-go writer: a backlog for a consumer's
// test, set up without going through core's producer.
func Produce(t testing.TB, brokers []string, topic string, values [][]byte) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections() // after w.Close: no goroutine left behind
	w := &kafka.Writer{
		Transport:    tr,
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.RoundRobin{},
		BatchSize:    1000,
		BatchBytes:   1 << 20,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	msgs := make([]kafka.Message, 0, 1000)
	for len(values) > 0 {
		n := min(len(values), cap(msgs))
		msgs = msgs[:0]
		for _, v := range values[:n] {
			msgs = append(msgs, kafka.Message{Value: v})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		values = values[n:]
	}
}
