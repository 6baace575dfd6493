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

// recordCount reads the record count of a produce request's batches
// (magic 2): a batch's header holds it at byte 57.
func recordCount(batches []byte) int {
	n := 0
	for len(batches) >= 61 {
		length := int(int32(uint32(batches[8])<<24 | uint32(batches[9])<<16 | uint32(batches[10])<<8 | uint32(batches[11])))
		n += int(int32(uint32(batches[57])<<24 | uint32(batches[58])<<16 | uint32(batches[59])<<8 | uint32(batches[60])))
		if 12+length > len(batches) {
			break
		}
		batches = batches[12+length:]
	}
	return n
}
