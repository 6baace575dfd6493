package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franzAdmin is the franz-go driver's client for admin requests: one kgo
// client, made from the driver's options at the first admin call and
// closed by the driver's close. Its methods are safe for concurrent use.
//
// Metadata and offsets are asked with plain requests rather than kadm's
// helpers: kadm answers metadata from the client's cache (up to
// MetadataMinAge old), so a topic another client just created could be
// missed, and kadm.ListOffsetsAfterMilli turns "no record at or after
// this time" into the end offset, where offsetBounds wants -1.
type franzAdmin struct {
	mu     sync.Mutex
	cl     *kgo.Client // nil until the first admin call
	closed bool
}

// adminClient returns the driver's admin client, making it at the first
// call. It fails once the driver is closed.
func (d *franzDriver) adminClient() (*kgo.Client, error) {
	a := &d.admin
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrClosed
	}
	if a.cl == nil {
		cl, err := kgo.NewClient(d.options(kgo.DisableClientMetrics())...)
		if err != nil {
			return nil, fmt.Errorf("kafkaesk: franz-go admin client for %s: %w", d.brokers(), err)
		}
		a.cl = cl
	}
	return a.cl, nil
}

// close closes the admin client, if it was made. Calling it again does
// nothing; admin calls fail with ErrClosed after it.
func (d *franzDriver) close() {
	a := &d.admin
	a.mu.Lock()
	cl := a.cl
	a.cl, a.closed = nil, true
	a.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// brokers names the bootstrap brokers, for errors.
func (d *franzDriver) brokers() string { return strings.Join(d.cfg.Brokers, ",") }

// requestContext bounds ctx by RequestTimeout, unless its deadline is
// earlier.
func (d *franzDriver) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	if d.doc == nil {
		return ctx, cancel
	}
	// franz-go retries a failing connection within the request: end it
	// once the doctor finds the settings at fault.
	gctx, gcancel := d.doc.guard(ctx)
	return gctx, func() { gcancel(); cancel() }
}

// misconfiguredCause returns err, or the doctor's verdict when that is
// what ended ctx (requestContext's): the reason, not "context canceled".
func misconfiguredCause(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrMisconfigured) {
		return cause
	}
	return err
}

// listTopics returns every topic in the cluster (internal ones too, as
// kafka-go's), from a metadata request of its own: no cache.
func (d *franzDriver) listTopics(ctx context.Context) ([]string, error) {
	cl, err := d.adminClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := d.requestContext(ctx)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl) // nil Topics: all of them
	err = misconfiguredCause(ctx, err)
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: list topics: read metadata from %s: %w", d.brokers(), err)
	}
	topics := make([]string, 0, len(resp.Topics))
	for _, t := range resp.Topics {
		switch {
		case t.Topic == nil,
			t.ErrorCode == kerr.UnknownTopicOrPartition.Code,
			t.ErrorCode == kerr.TopicAuthorizationFailed.Code:
			continue
		}
		topics = append(topics, *t.Topic)
	}
	return topics, nil
}

// ping asks each bootstrap broker in turn for metadata, with one request
// and no retry, and returns nil at the first answer. The whole call is
// bounded by ctx and RequestTimeout; the error names every broker and
// why it did not answer.
func (d *franzDriver) ping(ctx context.Context) error {
	cl, err := d.adminClient()
	if err != nil {
		return err
	}
	ctx, cancel := d.requestContext(ctx)
	defer cancel()
	var errs []error
	for i, b := range cl.SeedBrokers() {
		addr := fmt.Sprintf("seed broker %d", i)
		if i < len(d.cfg.Brokers) {
			addr = d.cfg.Brokers[i] // kgo keeps the seeds in order
		}
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
		if _, err := b.Request(ctx, req); err != nil {
			errs = append(errs, fmt.Errorf("%s: read metadata: %w", addr, err))
			continue
		}
		return nil
	}
	return fmt.Errorf("kafkaesk: no Kafka broker reachable at %s: %w", d.brokers(), errors.Join(errs...))
}

// describeTopic returns topic's partitions, sorted, from a metadata
// request of its own (nil when the topic does not exist), and the number
// of brokers in the cluster.
func (d *franzDriver) describeTopic(ctx context.Context, topic string) ([]int, []int, error) {
	cl, err := d.adminClient()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := d.requestContext(ctx)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	err = misconfiguredCause(ctx, err)
	if err != nil {
		return nil, nil, fmt.Errorf("read metadata from %s: %w", d.brokers(), err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			return nil, brokerIDs(resp.Brokers), nil
		case err != nil && !errors.Is(err, kerr.LeaderNotAvailable): // being created: it exists
			return nil, nil, fmt.Errorf("metadata from %s: %w", d.brokers(), err)
		}
		var parts []int
		for _, p := range t.Partitions {
			parts = append(parts, int(p.Partition))
		}
		slices.Sort(parts)
		return parts, brokerIDs(resp.Brokers), nil
	}
	return nil, brokerIDs(resp.Brokers), nil
}

// brokerIDs returns the ids of a metadata response's brokers, sorted.
func brokerIDs(brokers []kmsg.MetadataResponseBroker) []int {
	ids := make([]int, 0, len(brokers))
	for _, b := range brokers {
		ids = append(ids, int(b.NodeID))
	}
	slices.Sort(ids)
	return ids
}

func (d *franzDriver) defaultReplicationFactor(ctx context.Context, broker int) (int, error) {
	cl, err := d.adminClient()
	if err != nil {
		return 0, err
	}
	ctx, cancel := d.requestContext(ctx)
	defer cancel()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, strconv.Itoa(broker)
	r.ConfigNames = []string{"default.replication.factor"}
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, cl)
	if err = misconfiguredCause(ctx, err); err != nil {
		return 0, fmt.Errorf("describe the configuration of broker %d: %w", broker, err)
	}
	for _, res := range resp.Resources {
		if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
			return 0, fmt.Errorf("describe the configuration of broker %d: %w", broker, err)
		}
		for _, c := range res.Configs {
			if c.Name == "default.replication.factor" && c.Value != nil && c.Source != kmsg.ConfigSourceDefaultConfig {
				return strconv.Atoi(*c.Value)
			}
		}
	}
	return 0, nil
}

// createTopic creates topic with kadm. partitions or replicationFactor
// zero or less leave the broker's default; retention zero or less leaves
// the broker's retention.ms. A topic that exists already is not an error.
func (d *franzDriver) createTopic(ctx context.Context, topic string, partitions, replicationFactor int, retention time.Duration) error {
	cl, err := d.adminClient()
	if err != nil {
		return err
	}
	ctx, cancel := d.requestContext(ctx)
	defer cancel()
	p, rf := int32(-1), int16(-1)
	if partitions > 0 {
		p = int32(min(partitions, math.MaxInt32))
	}
	if replicationFactor > 0 {
		rf = int16(min(replicationFactor, math.MaxInt16))
	}
	var configs map[string]*string
	if retention > 0 {
		configs = map[string]*string{"retention.ms": kadm.StringPtr(strconv.FormatInt(retention.Milliseconds(), 10))}
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(d.cfg.RequestTimeout.Milliseconds(), math.MaxInt32)))
	resps, err := adm.CreateTopics(ctx, p, rf, configs, topic)
	err = misconfiguredCause(ctx, err)
	if err != nil {
		return fmt.Errorf("create on %s: %w", d.brokers(), err)
	}
	resp, err := resps.On(topic, nil)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
		return nil
	case resp.ErrMessage != "":
		err = fmt.Errorf("%w (%s)", err, resp.ErrMessage)
	}
	return fmt.Errorf("create on %s with %d partitions, replication factor %d: %w", d.brokers(), p, rf, err)
}

// listOffsets lists, for each of topic's partitions, the first offset,
// the end offset (the last stable offset when readCommitted), and when
// at is not zero the first offset whose record's timestamp is at or after
// at, -1 when there is none (an at before 1970 counts as 1970). It sends
// one ListOffsets request per listing and partition leader. An error
// names the topic, the partitions that failed and why.
func (d *franzDriver) listOffsets(ctx context.Context, topic string, partitions []int, readCommitted bool, at time.Time) (map[int]offsetBounds, error) {
	cl, err := d.adminClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := d.requestContext(ctx)
	defer cancel()
	out := make(map[int]offsetBounds, len(partitions))
	for _, p := range partitions {
		out[p] = offsetBounds{first: -1, end: -1, atTime: -1}
	}
	listings := []offsetListing{
		{-2, func(b *offsetBounds, o int64) { b.first = o }},
		{-1, func(b *offsetBounds, o int64) { b.end = o }},
	}
	if !at.IsZero() {
		listings = append(listings, offsetListing{max(at.UnixMilli(), 0), func(b *offsetBounds, o int64) { b.atTime = o }})
	}
	var errs []error
	for _, l := range listings {
		req := kmsg.NewPtrListOffsetsRequest()
		if readCommitted {
			req.IsolationLevel = 1
		}
		req.TimeoutMillis = int32(min(d.cfg.RequestTimeout.Milliseconds(), math.MaxInt32))
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range partitions {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = int32(p)
			rp.Timestamp = l.timestamp
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		answered := make(map[int]bool, len(partitions))
		for _, shard := range cl.RequestSharded(ctx, req) {
			if shard.Err != nil {
				for _, t := range shard.Req.(*kmsg.ListOffsetsRequest).Topics {
					for _, rp := range t.Partitions {
						answered[int(rp.Partition)] = true
						errs = append(errs, fmt.Errorf("partition %d, from broker %s: %w", rp.Partition, brokerAddr(shard.Meta), shard.Err))
					}
				}
				continue
			}
			for _, t := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
				for _, rp := range t.Partitions {
					p := int(rp.Partition)
					b, asked := out[p]
					if t.Topic != topic || !asked {
						continue
					}
					answered[p] = true
					if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
						errs = append(errs, fmt.Errorf("partition %d, from broker %s: %w", p, brokerAddr(shard.Meta), err))
						continue
					}
					l.set(&b, rp.Offset)
					out[p] = b
				}
			}
		}
		for _, p := range partitions {
			if !answered[p] {
				errs = append(errs, fmt.Errorf("partition %d: no answer from %s", p, d.brokers()))
			}
		}
		if len(errs) > 0 {
			break
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("list offsets: %w", errors.Join(errs...))
	}
	return out, nil
}

// offsetListing is one ListOffsets question, and where its answer goes.
type offsetListing struct {
	timestamp int64 // Kafka's: -2 earliest, -1 latest, else milliseconds
	set       func(*offsetBounds, int64)
}

// brokerAddr names a broker as host:port, for errors.
func brokerAddr(b kgo.BrokerMetadata) string {
	if b.Host == "" {
		return "(unknown)"
	}
	return b.Host + ":" + strconv.Itoa(int(b.Port))
}
