package core

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaesk-go/kafkaesk/internal/metricset"
)

// Prometheus metrics, with Python kafkaesk's names, types, labels and
// label values (its metrics.py; counters named as Python exposes them,
// with "_total"), so that a dashboard built for Python
// services shows Go services unchanged; Config.Metrics says where they
// are registered. stream_id is the prefixed topic; error is "none" or an
// error's class (errorClass: "DeliveryTimeout", a Kafka error code as
// aiokafka names it, a handler error's meaningful Go type); partition is
// "-1" on a failed publish. Labels are
// only ever streams, partitions, groups and type names: never keys,
// contents or error texts.
//
// kafkaesk's quirks, decided one by one:
//   - consumed_message_elapsed_time labels its stream_id with the group
//     and its partition with Python's repr of the batch's first
//     TopicPartition ("TopicPartition(topic='x', partition=0)"). Copied:
//     a dashboard that reads it expects exactly that, and both values are
//     bounded.
//   - message_lead_time lists the bucket 60 twice. Not copied:
//     client_golang refuses buckets that are not increasing, and the
//     duplicate is an empty bucket that no query can tell from the other.
//
// Hot path: a nil *metrics records nothing (Config.Metrics nil), and the
// vectors' children are resolved once per stream, partition and group,
// not per message.

// Buckets of kafkaesk's histograms.
var (
	batchSizeBuckets = []float64{1, 5, 10, 20, 50, 100, 200, 500, 1000}
	leadTimeBuckets  = []float64{0.1, 0.5, 1, 3, 5, 10, 30, 60, 120, 300}
)

// metrics holds an application's collectors. Applications that share a
// registerer share them, as kafkaesk's module-level metrics are shared.
type metrics struct {
	kafkaAction     *prometheus.CounterVec   // type, error
	kafkaActionTime *prometheus.HistogramVec // type

	publishMessages       *prometheus.CounterVec   // stream_id, error
	publishMessagesTime   *prometheus.HistogramVec // stream_id
	publishedMessages     *prometheus.CounterVec   // stream_id, partition, error
	publishedMessagesTime *prometheus.HistogramVec // stream_id
	producedTopicOffset   *prometheus.GaugeVec     // stream_id, partition

	consumedMessages    *prometheus.CounterVec   // stream_id, partition, error, group_id
	consumedBatchSize   *prometheus.HistogramVec // stream_id, group_id, partition
	consumedElapsed     *prometheus.HistogramVec // stream_id (the group), group_id, partition (repr)
	consumedTopicOffset *prometheus.GaugeVec     // group_id, partition, stream_id
	leadTime            *prometheus.HistogramVec // stream_id, group_id, partition
	rebalances          *prometheus.CounterVec   // group_id, partition, event
	consumerHealth      *prometheus.GaugeVec     // group_id

	// Beyond kafkaesk.
	producerBatch *prometheus.HistogramVec // stream_id: records per acknowledged produce attempt
	retries       *prometheus.CounterVec   // stream_id

	streams sync.Map // topic → *streamMetrics
}

// newMetrics registers the collectors with reg, reusing those already
// registered there by another application; nil reg: no metrics.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{}
	var errs []error
	counter := func(dst **prometheus.CounterVec, name, help string, labels ...string) {
		*dst = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels), &errs)
	}
	histogram := func(dst **prometheus.HistogramVec, name, help string, buckets []float64, labels ...string) {
		*dst = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels), &errs)
	}
	gauge := func(dst **prometheus.GaugeVec, name, help string, labels ...string) {
		*dst = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels), &errs)
	}
	counter(&m.kafkaAction, "kafkaesk_kafka_action_total", "Kafka admin and producer actions, by type and outcome (error none or exception).", "type", "error")
	histogram(&m.kafkaActionTime, "kafkaesk_kafka_action_time", "Duration of Kafka admin and producer actions, seconds.", prometheus.DefBuckets, "type")
	counter(&m.publishMessages, "kafkaesk_publish_messages_total", "Messages handed to the producer (enqueued), by outcome.", "stream_id", "error")
	histogram(&m.publishMessagesTime, "kafkaesk_publish_messages_time", "Time to hand a message to the producer, seconds.", prometheus.DefBuckets, "stream_id")
	counter(&m.publishedMessages, "kafkaesk_published_messages_total", "Messages acknowledged by the broker (error none) or failed (error class, partition -1).", "stream_id", "partition", "error")
	histogram(&m.publishedMessagesTime, "kafkaesk_published_messages_time", "Time from hand-over to the broker's acknowledgement, seconds.", prometheus.DefBuckets, "stream_id")
	gauge(&m.producedTopicOffset, "kafkaesk_produced_topic_offset", "Offset of the last acknowledged message.", "stream_id", "partition")
	counter(&m.consumedMessages, "kafkaesk_consumed_messages_total", "Messages consumed, by outcome: none, an error class, or cancelled.", "stream_id", "partition", "error", "group_id")
	histogram(&m.consumedBatchSize, "kafkaesk_consumed_messages_batch_size", "Messages per partition per fetched batch.", batchSizeBuckets, "stream_id", "group_id", "partition")
	histogram(&m.consumedElapsed, "kafkaesk_consumed_message_elapsed_time", "Time to handle a fetched batch, seconds; labelled as kafkaesk does (stream_id is the group).", prometheus.DefBuckets, "stream_id", "group_id", "partition")
	gauge(&m.consumedTopicOffset, "kafkaesk_consumed_topic_offset", "Offset of the last message handled.", "group_id", "partition", "stream_id")
	histogram(&m.leadTime, "kafkaesk_message_lead_time", "Time from a message's timestamp to the end of its handling, seconds.", leadTimeBuckets, "stream_id", "group_id", "partition")
	counter(&m.rebalances, "kafkaesk_consumer_rebalanced_total", "Partitions assigned and revoked, by event.", "group_id", "partition", "event")
	gauge(&m.consumerHealth, "kafkaesk_consumer_health", "1 while the group's subscription runs without failure, else 0.", "group_id")
	histogram(&m.producerBatch, "kafkaesk_producer_batch_size", "Messages per acknowledged produce attempt of the application's producer.", batchSizeBuckets, "stream_id")
	counter(&m.retries, "kafkaesk_producer_retries_total", "Messages sent again after a retriable failure.", "stream_id")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with reg through metricset.Register, collecting
// the error.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errs *[]error) C {
	c, err := metricset.Register(reg, c)
	if err != nil {
		*errs = append(*errs, err)
	}
	return c
}

// streamMetrics are a topic's resolved children.
type streamMetrics struct {
	m             *metrics
	topic         string
	enqueued      prometheus.Counter
	enqueueTime   prometheus.Observer
	publishedTime prometheus.Observer
	batch         prometheus.Observer
	retries       prometheus.Counter

	mu    sync.Mutex
	parts []*partitionPublished // by partition
}

type partitionPublished struct {
	ok     prometheus.Counter
	offset prometheus.Gauge
}

// stream returns topic's children, resolving them on first use.
func (m *metrics) stream(topic string) *streamMetrics {
	if s, ok := m.streams.Load(topic); ok {
		return s.(*streamMetrics)
	}
	s := &streamMetrics{
		m:             m,
		topic:         topic,
		enqueued:      m.publishMessages.WithLabelValues(topic, "none"),
		enqueueTime:   m.publishMessagesTime.WithLabelValues(topic),
		publishedTime: m.publishedMessagesTime.WithLabelValues(topic),
		batch:         m.producerBatch.WithLabelValues(topic),
		retries:       m.retries.WithLabelValues(topic),
	}
	actual, _ := m.streams.LoadOrStore(topic, s)
	return actual.(*streamMetrics)
}

func (s *streamMetrics) partition(p int) *partitionPublished {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p < 0 || p > 1<<16 {
		p = -1
	}
	if p >= len(s.parts) {
		s.parts = append(s.parts, make([]*partitionPublished, p+1-len(s.parts))...)
	}
	if p < 0 {
		return &partitionPublished{ok: s.m.publishedMessages.WithLabelValues(s.topic, "-1", "none"), offset: s.m.producedTopicOffset.WithLabelValues(s.topic, "-1")}
	}
	pp := s.parts[p]
	if pp == nil {
		part := strconv.Itoa(p)
		pp = &partitionPublished{
			ok:     s.m.publishedMessages.WithLabelValues(s.topic, part, "none"),
			offset: s.m.producedTopicOffset.WithLabelValues(s.topic, part),
		}
		s.parts[p] = pp
	}
	return pp
}

// now is time.Now, or the zero time without metrics: the hot path reads
// no clock for nothing.
func (m *metrics) now() time.Time {
	if m == nil {
		return time.Time{}
	}
	return time.Now()
}

// enqueuedN records a hand-over of n messages to the producer that began
// at start: err nil, or why none was taken.
func (m *metrics) enqueuedN(topic string, start time.Time, n int, err error) {
	if m == nil {
		return
	}
	s := m.stream(topic)
	s.enqueueTime.Observe(time.Since(start).Seconds())
	if err == nil {
		s.enqueued.Add(float64(n))
		return
	}
	m.publishMessages.WithLabelValues(topic, "exception").Add(float64(n))
}

// published records the outcome of a message accepted at acceptedAt.
func (m *metrics) published(r *Record, acceptedAt time.Time, err error) {
	if m == nil || err == ErrSpooled {
		return // the spool's metrics count it
	}
	s := m.stream(r.Topic)
	if !acceptedAt.IsZero() {
		s.publishedTime.Observe(time.Since(acceptedAt).Seconds())
	}
	if err != nil {
		m.publishedMessages.WithLabelValues(r.Topic, "-1", errorClass(err)).Inc()
		return
	}
	p := s.partition(r.Partition)
	p.ok.Inc()
	p.offset.Set(float64(r.Offset))
}

// acknowledged records an acknowledged produce attempt: its messages by
// topic as batch sizes, and each one's publish as published does with a
// nil error. It resolves the children once per run of one topic and
// partition, and reads the clock once, so that what metrics cost per
// message is an observation and a share of a counter's add.
func (m *metrics) acknowledged(recs []*Record) {
	now := time.Now()
	for i := 0; i < len(recs); {
		s := m.stream(recs[i].Topic)
		j := i + 1
		for j < len(recs) && recs[j].Topic == recs[i].Topic {
			j++
		}
		s.batch.Observe(float64(j - i))
		for k := i; k < j; {
			l := k + 1
			for l < j && recs[l].Partition == recs[k].Partition {
				l++
			}
			for _, r := range recs[k:l] {
				if !r.produce.accepted.IsZero() {
					s.publishedTime.Observe(now.Sub(r.produce.accepted).Seconds())
				}
			}
			p := s.partition(recs[k].Partition)
			p.ok.Add(float64(l - k))
			p.offset.Set(float64(recs[l-1].Offset))
			k = l
		}
		i = j
	}
}

// action records a Kafka action of type typ that began at start.
func (m *metrics) action(typ string, start time.Time, err error) {
	if m == nil {
		return
	}
	m.kafkaActionTime.WithLabelValues(typ).Observe(time.Since(start).Seconds())
	outcome := "none"
	if err != nil {
		outcome = "exception"
	}
	m.kafkaAction.WithLabelValues(typ, outcome).Inc()
}

// maxBatch bounds a consumed batch: kafka-go's reader prefetches, so
// under load a partition's fetcher may never wait.
const maxBatch = 500

// batchGap is how long a fetch must wait for a record to start a new
// batch: a record that was already fetched comes back in microseconds.
const batchGap = 500 * time.Microsecond

// partitionMetrics are one assigned partition's resolved children, and
// its current batch. Only the partition's goroutine uses the batch.
type partitionMetrics struct {
	m                 *metrics
	topic, group      string
	part              string
	consumed          prometheus.Counter
	offset            prometheus.Gauge
	lead              prometheus.Observer
	batchSize         prometheus.Observer
	elapsed           prometheus.Observer
	batchN            int
	batchStart, ended time.Time
}

// partition resolves the consumer metrics of a partition assigned to
// group; nil without metrics.
func (m *metrics) partition(topic string, partition int, group string) *partitionMetrics {
	if m == nil {
		return nil
	}
	part := strconv.Itoa(partition)
	// kafkaesk's quirk: the group as stream_id, the batch's first
	// TopicPartition, as Python prints it, as partition.
	repr := "TopicPartition(topic='" + topic + "', partition=" + part + ")"
	return &partitionMetrics{
		m: m, topic: topic, group: group, part: part,
		consumed:  m.consumedMessages.WithLabelValues(topic, part, "none", group),
		offset:    m.consumedTopicOffset.WithLabelValues(group, part, topic),
		lead:      m.leadTime.WithLabelValues(topic, group, part),
		batchSize: m.consumedBatchSize.WithLabelValues(topic, group, part),
		elapsed:   m.consumedElapsed.WithLabelValues(group, group, repr),
	}
}

// fetched notes a record the partition's fetcher returned after waiting
// waited: a wait longer than batchGap, or a full batch, ends the batch
// before it.
func (p *partitionMetrics) fetched(waited time.Duration, now time.Time) {
	if p == nil {
		return
	}
	if p.batchN > 0 && (waited > batchGap || p.batchN >= maxBatch) {
		p.endBatch()
	}
	if p.batchN == 0 {
		p.batchStart = now.Add(-waited)
	}
	p.batchN++
}

// lastEnd is when the last record's handling ended, or now when none
// has been handled since a wait.
func (p *partitionMetrics) lastEnd() time.Time {
	if p.batchN == 0 || p.ended.IsZero() {
		return time.Now()
	}
	return p.ended
}

// endBatch observes the current batch, if any: its size, and the time
// from its fetch to the end of its last record's handling.
func (p *partitionMetrics) endBatch() {
	if p == nil || p.batchN == 0 {
		return
	}
	p.batchSize.Observe(float64(p.batchN))
	p.elapsed.Observe(p.ended.Sub(p.batchStart).Seconds())
	p.batchN = 0
}

// handled records a record's outcome: class "none", an error class, or
// "cancelled" (interrupted by a stop).
func (p *partitionMetrics) handled(rec *Record, class string) {
	if p == nil {
		return
	}
	p.ended = time.Now()
	if class == "none" {
		p.consumed.Inc()
	} else {
		p.m.consumedMessages.WithLabelValues(p.topic, p.part, class, p.group).Inc()
	}
	if class != "cancelled" {
		p.offset.Set(float64(rec.Offset))
	}
	if !rec.Time.IsZero() {
		p.lead.Observe(p.ended.Sub(rec.Time).Seconds())
	}
}

// rebalanced records a partition assigned to or revoked from group.
func (m *metrics) rebalanced(group, event string, partition int) {
	if m == nil {
		return
	}
	m.rebalances.WithLabelValues(group, strconv.Itoa(partition), event).Inc()
}

// skipClass is the error class of a skipped message: kafkaesk's
// UnhandledMessage for one that does not decode, Skip for ErrSkip.
func skipClass(err error) string {
	var derr *decodeError
	if errors.As(err, &derr) {
		return "UnhandledMessage"
	}
	return "Skip"
}

// health sets the group's consumer health: 1 healthy, 0 not.
func (m *metrics) health(group string, healthy bool) {
	if m == nil {
		return
	}
	v := 0.0
	if healthy {
		v = 1
	}
	m.consumerHealth.WithLabelValues(group).Set(v)
}
