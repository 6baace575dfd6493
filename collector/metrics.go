package collector

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kafkaesk-go/kafkaesk/internal/metricset"
)

// The collector's metrics. Counters are read from the collector's own
// atomics at scrape time, so the hot path pays nothing for them.
var (
	descReceived = prometheus.NewDesc("kafkaesk_collector_received_total",
		"Messages consumed, by stream.", []string{"stream"}, nil)
	descWritten = prometheus.NewDesc("kafkaesk_collector_written_total",
		"Events written, by output.", []string{"output"}, nil)
	descWriteErrors = prometheus.NewDesc("kafkaesk_collector_write_errors_total",
		"Failed output writes and flushes (each retried), by output.", []string{"output"}, nil)
	descSkipped = prometheus.NewDesc("kafkaesk_collector_skipped_total",
		"Messages that are not log events, skipped (and dead-lettered when configured).", nil, nil)
	descDeadLettered = prometheus.NewDesc("kafkaesk_collector_dead_lettered_total",
		"Messages that are not log events forwarded to the dead-letter stream.", nil, nil)
	descDropped = prometheus.NewDesc("kafkaesk_collector_dropped_total",
		"Events left out by the filters, by reason.", []string{"reason"}, nil)
	descCommitErrors = prometheus.NewDesc("kafkaesk_collector_commit_errors_total",
		"Failed offset commits (an output flush or the commit request), retried at the next.", nil, nil)
	descLag = prometheus.NewDesc("kafkaesk_collector_lag",
		"Messages in the partition past the last one handled, as of the last fetch.", []string{"topic", "partition"}, nil)
	descOffset = prometheus.NewDesc("kafkaesk_collector_committed_offset",
		"Last committed offset of the partition (the next to read).", []string{"topic", "partition"}, nil)
	descReady = prometheus.NewDesc("kafkaesk_collector_ready",
		"1 when the collector is ready (see /readyz), else 0.", nil, nil)
)

// registerMetrics registers the collector's metrics, and the Go
// runtime's and the process's, in the registry its application registers
// the core's metrics in (core.Config.Metrics, when it is a
// *prometheus.Registry), so that /metrics serves all of them; in a new
// registry otherwise.
func (c *Collector) registerMetrics() error {
	c.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kafkaesk_collector_commit_seconds",
		Help:    "Time to flush the outputs and commit the offsets.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. 16s
	})
	c.registry, _ = c.app.Config().Metrics.(*prometheus.Registry)
	if c.registry == nil {
		c.registry = prometheus.NewRegistry()
	}
	if err := c.registry.Register(metricsOf{c}); err != nil {
		return err
	}
	c.commitSeconds, _ = metricset.Register(c.registry, c.commitSeconds)
	// A registry the program gave may have the runtime's already.
	for _, rc := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if _, err := metricset.Register(c.registry, rc); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// Registry returns the registry holding the collector's metrics, the Go
// runtime's and the process's, and the core's when the application
// registers them there: to serve or to gather elsewhere.
func (c *Collector) Registry() *prometheus.Registry { return c.registry }

// Handler serves the collector's endpoints:
//
//	/metrics   Prometheus metrics
//	/healthz   200 while Run runs and no subscription failed, else 503
//	/readyz    200 when Ready returns nil, else 503 with the reason
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { answer(w, c.Healthy()) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { answer(w, c.Ready()) })
	return mux
}

func answer(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// metricsOf exports a collector's counters.
type metricsOf struct{ c *Collector }

func (m metricsOf) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descWritten, descWriteErrors, descSkipped,
		descDeadLettered, descDropped, descCommitErrors, descLag, descOffset, descReady} {
		ch <- d
	}
}

func (m metricsOf) Collect(ch chan<- prometheus.Metric) {
	c := m.c
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	c.eachStream(func(st *streamState) { counter(descReceived, st.received.Load(), st.name) })
	for _, o := range c.outputs {
		counter(descWritten, o.written.Load(), o.out.String())
		counter(descWriteErrors, o.errors.Load(), o.out.String())
	}
	counter(descSkipped, c.skipped.Load())
	counter(descDeadLettered, c.deadLettered.Load())
	for i, r := range dropReasons {
		counter(descDropped, c.dropped[i].Load(), r)
	}
	counter(descCommitErrors, c.commitErrors.Load())
	for _, s := range c.subs {
		for _, p := range s.Partitions() {
			part := strconv.Itoa(p.Partition)
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(p.Lag()), p.Topic, part)
			ch <- prometheus.MustNewConstMetric(descOffset, prometheus.GaugeValue, float64(p.Committed), p.Topic, part)
		}
	}
	ready := 0.0
	if c.Ready() == nil {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
}
