package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaGoDriver runs core on kafka-go (Config.Client ClientKafkaGo, the
// default). The producer and topic creation share one transport, so that
// a topic created is in the producer's metadata cache before its first
// message; the admin reads that must see other clients' changes at once
// (listing topics, describing one, listing offsets) go through
// connections of their own, since kafka-go's transport answers metadata
// requests from a cache refreshed every MetadataMaxAge.
type kafkaGoDriver struct {
	cfg       *Config
	dial      *abortableDialer
	transport *kafka.Transport
	client    *kafka.Client // on transport
	dialer    *kafka.Dialer // for readers and direct connections
}

func newKafkaGoDriver(cfg *Config, dial *abortableDialer) (*kafkaGoDriver, error) {
	transport, err := cfg.transport(dial)
	if err != nil {
		return nil, err
	}
	dialer, err := cfg.dialer()
	if err != nil {
		return nil, err
	}
	return &kafkaGoDriver{
		cfg:       cfg,
		dial:      dial,
		transport: transport,
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.RequestTimeout},
		dialer:    dialer,
	}, nil
}

func (d *kafkaGoDriver) name() string { return ClientKafkaGo }

func (d *kafkaGoDriver) newProduceClient(topics *topicManager, complete completeFunc) (produceClient, error) {
	wc, err := newWriterClient(d.cfg, d.transport, d.dial, topics)
	if err != nil {
		return nil, err
	}
	wc.complete = complete
	return wc, nil
}

func (d *kafkaGoDriver) close() { d.transport.CloseIdleConnections() }

// freshClient returns a client on a transport of its own, whose metadata
// is read from the brokers, and a func releasing its connections.
func (d *kafkaGoDriver) freshClient() (*kafka.Client, func(), error) {
	transport, err := d.cfg.transport(newAbortableDialer(d.cfg.DialTimeout))
	if err != nil {
		return nil, nil, err
	}
	c := &kafka.Client{Addr: kafka.TCP(d.cfg.Brokers...), Transport: transport, Timeout: d.cfg.RequestTimeout}
	return c, transport.CloseIdleConnections, nil
}

func (d *kafkaGoDriver) listTopics(ctx context.Context) ([]string, error) {
	var lastErr error
	for _, broker := range d.cfg.Brokers {
		conn, err := d.dialer.DialContext(ctx, "tcp", broker)
		if err != nil {
			lastErr = err
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		partitions, err := conn.ReadPartitions()
		conn.Close()
		if err != nil {
			lastErr = fmt.Errorf("read metadata from %s: %w", broker, err)
			continue
		}
		seen := map[string]bool{}
		var topics []string
		for _, p := range partitions {
			if !seen[p.Topic] {
				seen[p.Topic] = true
				topics = append(topics, p.Topic)
			}
		}
		return topics, nil
	}
	return nil, fmt.Errorf("list topics: no broker of %v answered: %w", d.cfg.Brokers, lastErr)
}

func (d *kafkaGoDriver) ping(ctx context.Context) error {
	var errs []error
	for _, broker := range d.cfg.Brokers {
		conn, err := d.dialer.DialContext(ctx, "tcp", broker)
		if err != nil {
			errs = append(errs, err) // kafka-go's names the address
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: read metadata: %w", broker, err))
	}
	return errors.Join(errs...)
}

func (d *kafkaGoDriver) describeTopic(ctx context.Context, topic string) ([]int, []int, error) {
	client, release, err := d.freshClient()
	if err != nil {
		return nil, nil, err
	}
	defer release()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, nil, fmt.Errorf("read metadata from %s: %w%s", d.brokers(), err, d.cfg.hangUpHint(err))
	}
	var parts []int
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil && !errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil, nil, fmt.Errorf("metadata of topic %s from %s: %w", topic, d.brokers(), t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	slices.Sort(parts)
	ids := make([]int, 0, len(meta.Brokers))
	for _, b := range meta.Brokers {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	return parts, ids, nil
}

func (d *kafkaGoDriver) defaultReplicationFactor(ctx context.Context, broker int) (int, error) {
	resp, err := d.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeBroker, ResourceName: strconv.Itoa(broker), ConfigNames: []string{"default.replication.factor"},
	}}})
	if err != nil {
		return 0, fmt.Errorf("describe the configuration of broker %d: %w", broker, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return 0, fmt.Errorf("describe the configuration of broker %d: %w", broker, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "default.replication.factor" && e.ConfigSource != int8(kmsg.ConfigSourceDefaultConfig) {
				return strconv.Atoi(e.ConfigValue)
			}
		}
	}
	return 0, nil
}

func (d *kafkaGoDriver) brokers() string { return strings.Join(d.cfg.Brokers, ",") }

func (d *kafkaGoDriver) createTopic(ctx context.Context, topic string, partitions, rf int, retention time.Duration) error {
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: rf}
	if retention > 0 {
		tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(retention.Milliseconds(), 10)}}
	}
	resp, err := d.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return fmt.Errorf("create on %s: %w", d.brokers(), err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create with %d partitions, replication factor %d: %w", partitions, rf, err)
	}
	return nil
}

func (d *kafkaGoDriver) listOffsets(ctx context.Context, topic string, parts []int, readCommitted bool, at time.Time) (map[int]offsetBounds, error) {
	client, release, err := d.freshClient()
	if err != nil {
		return nil, err
	}
	defer release()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	if readCommitted {
		req.IsolationLevel = kafka.ReadCommitted
	}
	for _, p := range parts {
		rs := []kafka.OffsetRequest{kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p)}
		if !at.IsZero() {
			rs = append(rs, kafka.TimeOffsetOf(p, at))
		}
		req.Topics[topic] = append(req.Topics[topic], rs...)
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets from %s: %w", d.brokers(), err)
	}
	out := make(map[int]offsetBounds, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of partition %d from %s: %w", po.Partition, d.brokers(), po.Error)
		}
		b := offsetBounds{first: po.FirstOffset, end: po.LastOffset, atTime: -1}
		for off := range po.Offsets {
			b.atTime = off // one timestamp asked: one answer, -1 for none
		}
		out[po.Partition] = b
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("list offsets from %s: no answer for partition %d", d.brokers(), p)
		}
	}
	return out, nil
}
