package benchmarks_test

import (
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// discardBroker starts an embedded broker (kfake, in this process) with
// topic, whose produce requests are acknowledged without being stored:
// a broker that keeps up with anything, and whose memory does not grow
// with the events. Clients reach it over TCP, as a real broker, so the
// producer's work (batching, requests, acknowledgements) is all there.
// It returns the bootstrap addresses.
func discardBroker(tb testing.TB, topic string) []string {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	var mu sync.Mutex
	next := map[int32]int64{} // the next offset of each partition
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		mu.Lock()
		defer mu.Unlock()
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			st.TopicID = rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.BaseOffset = next[rp.Partition]
				next[rp.Partition] += int64(recordCount(rp.Records))
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return c.ListenAddrs()
}

// recordCount counts the records of a produce request's batches.
func recordCount(batches []byte) int {
	n := 0
	for len(batches) > 0 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(batches); err != nil {
			break
		}
		n += int(b.NumRecords)
		batches = batches[min(len(batches), 12+int(b.Length)):]
	}
	return n
}

// recordCount counts across batches, and stops at a torn one.
func TestRecordCount(t *testing.T) {
	var batches []byte
	for _, n := range []int32{3, 5} {
		b := kmsg.RecordBatch{Magic: 2, NumRecords: n, Records: make([]byte, 7)}
		raw := b.AppendTo(nil)
		b.Length = int32(len(raw) - 12)
		batches = b.AppendTo(batches)
	}
	if got := recordCount(batches); got != 8 {
		t.Errorf("recordCount = %d, want 8", got)
	}
	if got := recordCount(batches[:len(batches)-3]); got != 3 {
		t.Errorf("recordCount of a torn second batch = %d, want 3", got)
	}
}
