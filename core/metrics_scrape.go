package core

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaesk-go/kafkaesk/internal/metricset"
)

// Metrics read at scrape time, from state the application keeps anyway:
// the producer's buffer, the subscriptions' counters and the partitions'
// lag. Nothing on the hot path updates them. One collector per registerer
// (metricset.Set) reads every open application registered there, summing
// what they share (two members of one group in one process).
var (
	descBufferedMessages = prometheus.NewDesc("kafkaesk_producer_buffered_messages",
		"Messages handed to the producer whose outcome is not known yet.", nil, nil)
	descBufferedBytes = prometheus.NewDesc("kafkaesk_producer_buffered_bytes",
		"Bytes of keys and values handed to the producer whose outcome is not known yet.", nil, nil)
	descBufferCapacity = prometheus.NewDesc("kafkaesk_producer_buffer_capacity_messages",
		"Messages the producer holds at most (Config.MaxBufferedMessages).", nil, nil)
	descSubscriptionMessages = prometheus.NewDesc("kafkaesk_subscription_messages_total",
		"Messages of a subscription by what became of them: handled, skipped, failed (skipped by the error policy), retried (handler calls again), dead_lettered.",
		[]string{"group_id", "outcome"}, nil)
	descLag = prometheus.NewDesc("kafkaesk_consumer_lag",
		"Messages in the partition past the last one handled, as of the last fetch.",
		[]string{"stream_id", "group_id", "partition"}, nil)
	descCommitted = prometheus.NewDesc("kafkaesk_consumer_committed_offset",
		"Last committed offset of the partition (the next to read), -1 before any commit.",
		[]string{"stream_id", "group_id", "partition"}, nil)

	// The disk spool's (Config.Spool), summed over the applications that
	// have one; none without.
	descSpoolMessages = prometheus.NewDesc("kafkaesk_spool_messages",
		"Messages in the disk spool, not acknowledged yet.", nil, nil)
	descSpoolBytes = prometheus.NewDesc("kafkaesk_spool_bytes",
		"Size of the disk spool's files.", nil, nil)
	descSpoolOldest = prometheus.NewDesc("kafkaesk_spool_oldest_message_age_seconds",
		"Age of the oldest message in the disk spool (since it was written there), 0 when empty.", nil, nil)
	descSpoolOutcomes = prometheus.NewDesc("kafkaesk_spool_messages_total",
		"Messages through the disk spool: spooled (written by this process), recovered (left by an earlier one), delivered and failed (sent from it).",
		[]string{"outcome"}, nil)
)

// scraped is the scrape-time collector of each registerer, over its open
// applications.
var scraped = metricset.New([]*prometheus.Desc{descBufferedMessages, descBufferedBytes, descBufferCapacity,
	descSubscriptionMessages, descLag, descCommitted,
	descSpoolMessages, descSpoolBytes, descSpoolOldest, descSpoolOutcomes}, collectApps)

type partitionKey struct {
	topic, group string
	partition    int
}

// collectApps collects the scrape-time metrics of apps, summed.
func collectApps(apps []*Application, ch chan<- prometheus.Metric) {
	var buffered, bytes, capacity float64
	outcomes := map[string]*SubscriptionStats{}
	var groups []string
	lag := map[partitionKey]int64{}
	committed := map[partitionKey]int64{}
	var spools []SpoolStats
	for _, a := range apps {
		if a.producer.spool != nil {
			spools = append(spools, a.producer.spool.stats())
		}
		st := a.producer.stats()
		buffered += float64(st.Buffered)
		bytes += float64(a.producer.bufferedBytes.Load())
		capacity += float64(a.cfg.MaxBufferedMessages)
		for _, s := range a.reg.Subscriptions() {
			sum := outcomes[s.Group]
			if sum == nil {
				sum = &SubscriptionStats{}
				outcomes[s.Group] = sum
				groups = append(groups, s.Group)
			}
			ss := s.Stats()
			sum.Handled += ss.Handled
			sum.Skipped += ss.Skipped
			sum.Failed += ss.Failed
			sum.Retried += ss.Retried
			sum.DeadLettered += ss.DeadLettered
			for _, p := range s.Partitions() {
				k := partitionKey{p.Topic, s.Group, p.Partition}
				if c, ok := committed[k]; ok {
					p.Committed = max(p.Committed, c)
				}
				lag[k] = max(lag[k], p.Lag())
				committed[k] = p.Committed
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descBufferedMessages, prometheus.GaugeValue, buffered)
	ch <- prometheus.MustNewConstMetric(descBufferedBytes, prometheus.GaugeValue, bytes)
	ch <- prometheus.MustNewConstMetric(descBufferCapacity, prometheus.GaugeValue, capacity)
	for _, g := range groups {
		s := outcomes[g]
		for _, o := range []struct {
			name string
			v    int64
		}{{"handled", s.Handled}, {"skipped", s.Skipped}, {"failed", s.Failed}, {"retried", s.Retried}, {"dead_lettered", s.DeadLettered}} {
			ch <- prometheus.MustNewConstMetric(descSubscriptionMessages, prometheus.CounterValue, float64(o.v), g, o.name)
		}
	}
	for k, v := range lag {
		part := strconv.Itoa(k.partition)
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(v), k.topic, k.group, part)
		ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.GaugeValue, float64(committed[k]), k.topic, k.group, part)
	}
	collectSpools(spools, ch)
}

// collectSpools collects the spools' metrics, summed; the age is the
// oldest's.
func collectSpools(spools []SpoolStats, ch chan<- prometheus.Metric) {
	if len(spools) == 0 {
		return
	}
	var sum SpoolStats
	var age float64
	for _, s := range spools {
		sum.OnDisk += s.OnDisk
		sum.Bytes += s.Bytes
		sum.Spooled += s.Spooled
		sum.Recovered += s.Recovered
		sum.Delivered += s.Delivered
		sum.Failed += s.Failed
		if !s.Oldest.IsZero() {
			age = max(age, time.Since(s.Oldest).Seconds())
		}
	}
	ch <- prometheus.MustNewConstMetric(descSpoolMessages, prometheus.GaugeValue, float64(sum.OnDisk))
	ch <- prometheus.MustNewConstMetric(descSpoolBytes, prometheus.GaugeValue, float64(sum.Bytes))
	ch <- prometheus.MustNewConstMetric(descSpoolOldest, prometheus.GaugeValue, age)
	for _, o := range []struct {
		name string
		v    int64
	}{{"spooled", sum.Spooled}, {"recovered", sum.Recovered}, {"delivered", sum.Delivered}, {"failed", sum.Failed}} {
		ch <- prometheus.MustNewConstMetric(descSpoolOutcomes, prometheus.CounterValue, float64(o.v), o.name)
	}
}
