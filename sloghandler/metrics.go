package sloghandler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaesk-go/kafkaesk/internal/metricset"
)

// The handler's metrics, registered with its application's registerer
// (core.Config.Metrics; none without one). Stats are read at scrape time,
// so the caller's path pays nothing for them; only the delivery latency
// is observed, on the producer's goroutine, when metrics are on. Handlers
// of one stream sharing a registerer are summed.
var (
	descEnqueued = prometheus.NewDesc("kafkaesk_log_events_enqueued_total",
		"Log events handed to the handler (at or above its level).", []string{"stream_id"}, nil)
	descOutcomes = prometheus.NewDesc("kafkaesk_log_events_total",
		"Log events by outcome: published (acknowledged), dropped (queue full, or after Close), failed (not in the topic), unknown (may be in the topic), spooled (written to the disk spool, delivered from there).",
		[]string{"stream_id", "outcome"}, nil)
	descQueued = prometheus.NewDesc("kafkaesk_log_queue_events",
		"Log events accepted whose outcome is not known yet.", []string{"stream_id"}, nil)
	descCapacity = prometheus.NewDesc("kafkaesk_log_queue_capacity_events",
		"Log events the queue holds at most (Options.QueueSize).", []string{"stream_id"}, nil)
)

// handlers is the scrape-time collector of each registerer, over its
// open handlers' pipelines.
var handlers = metricset.New([]*prometheus.Desc{descEnqueued, descOutcomes, descQueued, descCapacity}, collectPipelines)

func collectPipelines(ps []*pipeline, ch chan<- prometheus.Metric) {
	sums := map[string]*Stats{}
	capacity := map[string]int{}
	var topics []string
	for _, p := range ps {
		s := sums[p.topic]
		if s == nil {
			s = &Stats{}
			sums[p.topic] = s
			topics = append(topics, p.topic)
		}
		st := p.stats()
		s.Enqueued += st.Enqueued
		s.Published += st.Published
		s.Dropped += st.Dropped
		s.Failed += st.Failed
		s.Unknown += st.Unknown
		s.Spooled += st.Spooled
		s.Queued += st.Queued
		capacity[p.topic] += p.opts.QueueSize
	}
	for _, t := range topics {
		s := sums[t]
		ch <- prometheus.MustNewConstMetric(descEnqueued, prometheus.CounterValue, float64(s.Enqueued), t)
		for _, o := range []struct {
			name string
			v    int64
		}{{"published", s.Published}, {"dropped", s.Dropped}, {"failed", s.Failed}, {"unknown", s.Unknown}, {"spooled", s.Spooled}} {
			ch <- prometheus.MustNewConstMetric(descOutcomes, prometheus.CounterValue, float64(o.v), t, o.name)
		}
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.Queued), t)
		ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(capacity[t]), t)
	}
}

// deliveryBuckets span a local broker's milliseconds to a slow one's
// seconds.
var deliveryBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16) // 0.5ms .. 16s

// registerMetrics registers p's metrics with reg; nil reg: none.
func (p *pipeline) registerMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	delivery, err := metricset.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kafkaesk_log_delivery_seconds",
		Help:    "Time from a log event's hand-over to the producer to its outcome.",
		Buckets: deliveryBuckets,
	}, []string{"stream_id"}))
	if err != nil {
		return err
	}
	if err := handlers.Add(reg, p); err != nil {
		return err
	}
	p.registry = reg
	p.delivery = delivery.WithLabelValues(p.topic)
	return nil
}

// unregisterMetrics removes p from its registerer's collector.
func (p *pipeline) unregisterMetrics() {
	if p.registry != nil {
		handlers.Remove(p.registry, p)
	}
}

// observeDelivery records the delivery latency of an event handed over
// at handedOver.
func (p *pipeline) observeDelivery(handedOver time.Time) {
	if p.delivery != nil && !handedOver.IsZero() {
		p.delivery.Observe(time.Since(handedOver).Seconds())
	}
}
