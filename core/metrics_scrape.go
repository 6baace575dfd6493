package core

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics read at scrape time, from state the application keeps anyway:
// the producer's buffer, the subscriptions' counters and the partitions'
// lag. Nothing on the hot path updates them. One collector per registerer
// reads every open application registered there, summing what they share
// (two members of one group in one process), so that applications
// sharing a registerer never collect the same series twice.
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
)

// scrapers holds the collector of each registerer applications use.
var scrapers = struct {
	sync.Mutex
	byReg map[prometheus.Registerer]*appsCollector
}{byReg: map[prometheus.Registerer]*appsCollector{}}

// appsCollector collects the scrape-time metrics of the open
// applications of one registerer.
type appsCollector struct {
	mu   sync.Mutex
	apps map[*Application]struct{}
}

// addScraped adds a to its registerer's collector, registering that
// collector on first use.
func addScraped(a *Application) error {
	reg := a.cfg.Metrics
	scrapers.Lock()
	defer scrapers.Unlock()
	c := scrapers.byReg[reg]
	if c == nil {
		c = &appsCollector{apps: map[*Application]struct{}{}}
		if err := reg.Register(c); err != nil {
			return err
		}
		scrapers.byReg[reg] = c
	}
	c.mu.Lock()
	c.apps[a] = struct{}{}
	c.mu.Unlock()
	return nil
}

// removeScraped removes a; the last application of a registerer
// unregisters its collector.
func removeScraped(a *Application) {
	reg := a.cfg.Metrics
	scrapers.Lock()
	defer scrapers.Unlock()
	c := scrapers.byReg[reg]
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.apps, a)
	empty := len(c.apps) == 0
	c.mu.Unlock()
	if empty {
		reg.Unregister(c)
		delete(scrapers.byReg, reg)
	}
}

func (c *appsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBufferedMessages, descBufferedBytes, descBufferCapacity,
		descSubscriptionMessages, descLag, descCommitted} {
		ch <- d
	}
}

type partitionKey struct {
	topic, group string
	partition    int
}

func (c *appsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	apps := make([]*Application, 0, len(c.apps))
	for a := range c.apps {
		apps = append(apps, a)
	}
	c.mu.Unlock()

	var buffered, bytes, capacity float64
	outcomes := map[string]*SubscriptionStats{}
	var groups []string
	lag := map[partitionKey]int64{}
	committed := map[partitionKey]int64{}
	for _, a := range apps {
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
}
