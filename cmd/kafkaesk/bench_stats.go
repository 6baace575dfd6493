package main

import (
	"fmt"
	"io"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// Latency histograms: HdrHistogram, 3 significant digits (a p99.9 of
// 12.3µs is 12.3µs, not a bucket boundary) from 1ns to a minute; a
// slower call is recorded as a minute.
const (
	histLowest  = 1
	histHighest = int64(time.Minute)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// latencyRecorder is one goroutine's latencies: over the whole run, and
// since the monitor last took them. Each goroutine has its own, so that
// recording never waits for another caller; the lock is taken after the
// measured call, and held by the monitor only to swap histograms.
type latencyRecorder struct {
	mu       sync.Mutex
	total    *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram
}

func newLatencyRecorders(n int) []*latencyRecorder {
	rs := make([]*latencyRecorder, n)
	for i := range rs {
		rs[i] = &latencyRecorder{total: newHistogram(), interval: newHistogram()}
	}
	return rs
}

func (r *latencyRecorder) record(d time.Duration) {
	v := min(max(int64(d), histLowest), histHighest)
	r.mu.Lock()
	_ = r.total.RecordValue(v) // in range: no error
	_ = r.interval.RecordValue(v)
	r.mu.Unlock()
}

// swapInterval returns the interval histogram and puts empty in its place.
func (r *latencyRecorder) swapInterval(empty *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.interval
	r.interval = empty
	return h
}

// latencySummary is the callers' latency over a run, in nanoseconds.
type latencySummary struct {
	calls                  int64
	p50, p99, p999, maxLat int64
}

func summarize(rs []*latencyRecorder) latencySummary {
	all := newHistogram()
	for _, r := range rs {
		r.mu.Lock()
		all.Merge(r.total)
		r.mu.Unlock()
	}
	if all.TotalCount() == 0 {
		return latencySummary{}
	}
	return latencySummary{
		calls:  all.TotalCount(),
		p50:    all.ValueAtQuantile(50),
		p99:    all.ValueAtQuantile(99),
		p999:   all.ValueAtQuantile(99.9),
		maxLat: all.Max(),
	}
}

// sample is the state of a run at one tick of the monitor.
type sample struct {
	at                   time.Duration // since the start
	sent, acked, dropped int64         // so far
	queued               int64
	sentRate, ackedRate  float64 // events/s since the previous sample
	calls                int64   // calls measured since the previous sample
	p99                  int64   // their p99, in ns; 0 without calls
	heap                 uint64  // heap object bytes
	draining             bool    // the load had ended
}

// sampleInterval is the monitor's tick: the progress line on a terminal
// and the resolution of the chart.
const sampleInterval = 250 * time.Millisecond

// monitor samples a run every sampleInterval: the handler's counters, the
// callers' latency since the last sample, the heap; it redraws the
// progress line and trims the embedded broker.
type monitor struct {
	h     *sloghandler.Handler
	lats  []*latencyRecorder
	prog  *progress
	label string
	trim  func() // nil: nothing to trim
	start time.Time

	draining atomic.Bool
	quit     chan struct{} // closed by stop
	done     chan struct{} // closed by the monitor goroutine when it returns

	// Owned by the monitor goroutine until done is closed.
	samples  []sample
	peakHeap uint64 // heap objects, garbage included
	peakLive uint64 // live heap after a GC
	prev     sample
	spare    []*hdrhistogram.Histogram // one per recorder, swapped in
	merged   *hdrhistogram.Histogram
	heapM    []metrics.Sample
}

func startMonitor(h *sloghandler.Handler, lats []*latencyRecorder, prog *progress, label string, trim func()) *monitor {
	m := &monitor{
		h: h, lats: lats, prog: prog, label: label, trim: trim,
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		merged: newHistogram(),
		heapM: []metrics.Sample{
			{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet swept
			{Name: "/gc/heap/live:bytes"},                // live as of the last GC
		},
	}
	for range lats {
		m.spare = append(m.spare, newHistogram())
	}
	m.start = time.Now()
	m.readHeap()
	go m.loop()
	return m
}

func (m *monitor) loop() {
	defer close(m.done)
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.tick(false)
		case <-m.quit:
			m.tick(true)
			m.prog.end()
			return
		}
	}
}

// loadEnded marks the samples from now on as the drain's.
func (m *monitor) loadEnded() { m.draining.Store(true) }

// stop takes a last sample and waits for the monitor to return.
func (m *monitor) stop() {
	close(m.quit)
	<-m.done
}

// readHeap returns the heap's objects, and keeps the peaks.
func (m *monitor) readHeap() uint64 {
	metrics.Read(m.heapM)
	var objects, live uint64
	if m.heapM[0].Value.Kind() == metrics.KindUint64 {
		objects = m.heapM[0].Value.Uint64()
	}
	if m.heapM[1].Value.Kind() == metrics.KindUint64 {
		live = m.heapM[1].Value.Uint64()
	}
	m.peakHeap = max(m.peakHeap, objects)
	m.peakLive = max(m.peakLive, live)
	return objects
}

func (m *monitor) tick(last bool) {
	if m.trim != nil {
		m.trim()
	}
	st := m.h.Stats()
	s := sample{
		at:       time.Since(m.start),
		sent:     st.Enqueued,
		acked:    st.Published,
		dropped:  st.Dropped,
		queued:   st.Queued,
		heap:     m.readHeap(),
		draining: m.draining.Load(),
	}
	for i, r := range m.lats {
		h := r.swapInterval(m.spare[i])
		m.merged.Merge(h)
		h.Reset()
		m.spare[i] = h
	}
	if s.calls = m.merged.TotalCount(); s.calls > 0 {
		s.p99 = m.merged.ValueAtQuantile(99)
	}
	m.merged.Reset()
	if dt := (s.at - m.prev.at).Seconds(); dt > 0 {
		s.sentRate = float64(s.sent-m.prev.sent) / dt
		s.ackedRate = float64(s.acked-m.prev.acked) / dt
	}
	m.prev = s
	m.samples = append(m.samples, s)
	m.prog.show(m.progressLine(&s), last)
}

func (m *monitor) progressLine(s *sample) string {
	phase := m.label
	if s.draining {
		phase = "draining"
	}
	return fmt.Sprintf("%-11s %6.1fs  sent %s (%s/s)  acked %s (%s/s)  dropped %s  queue %s  heap %s",
		phase, s.at.Seconds(),
		commas(s.sent), si(s.sentRate), commas(s.acked), si(s.ackedRate),
		commas(s.dropped), commas(s.queued), mib(s.heap))
}

// benchResult is the summary of a run: printed as text, or as one JSON
// object with --json.
type benchResult struct {
	Scenario       string  `json:"scenario"` // "none" without --scenario
	Broker         string  `json:"broker"`   // "embedded" or the bootstrap list
	Goroutines     int     `json:"goroutines"`
	TargetRate     int     `json:"target_rate"`               // events/s; 0: flat out
	ProbedCapacity float64 `json:"probed_capacity,omitempty"` // events/s acknowledged flat out with the block policy, when probed
	QueueSize      int     `json:"queue_size"`
	WhenFull       string  `json:"when_full"`
	EventBytes     int     `json:"event_bytes"`

	LoadSeconds  float64 `json:"load_s"`  // how long the goroutines logged
	DrainSeconds float64 `json:"drain_s"` // then how long until the queue was empty

	Sent             int64   `json:"sent"` // log calls handed to the handler
	SentPerSecond    float64 `json:"sent_per_s"`
	Acknowledged     int64   `json:"acknowledged"`
	AckedPerSecond   float64 `json:"acknowledged_per_s"` // over the load and the drain
	Dropped          int64   `json:"dropped"`
	Failed           int64   `json:"failed"` // not delivered by the end of the drain
	LatencyP50Micro  float64 `json:"latency_p50_us"`
	LatencyP99Micro  float64 `json:"latency_p99_us"`
	LatencyP999Micro float64 `json:"latency_p99_9_us"`
	LatencyMaxMicro  float64 `json:"latency_max_us"`
	// Baseline is the same calls through slog.JSONHandler into
	// io.Discard, with --baseline.
	Baseline *latencyResult `json:"baseline_latency,omitempty"`

	PeakHeapBytes uint64  `json:"peak_heap_bytes"`      // Go heap objects, garbage included, sampled every 250ms
	PeakLiveBytes uint64  `json:"peak_live_heap_bytes"` // the Go heap live after a GC: what the run holds
	MaxRSSBytes   int64   `json:"max_rss_bytes"`        // the process's peak RSS, as getrusage reports it
	CPUSeconds    float64 `json:"cpu_s"`                // user+sys of the process, during the run

	ProduceDelayMillis float64       `json:"produce_delay_ms,omitempty"` // slow-broker
	Outage             *outageResult `json:"outage,omitempty"`

	CloseError string `json:"close_error,omitempty"`

	samples []sample
}

// latencyResult is a latency summary in microseconds.
type latencyResult struct {
	Calls     int64   `json:"calls"`
	P50Micro  float64 `json:"p50_us"`
	P99Micro  float64 `json:"p99_us"`
	P999Micro float64 `json:"p99_9_us"`
	MaxMicro  float64 `json:"max_us"`
}

func (s latencySummary) result() *latencyResult {
	return &latencyResult{Calls: s.calls, P50Micro: micros(s.p50), P99Micro: micros(s.p99), P999Micro: micros(s.p999), MaxMicro: micros(s.maxLat)}
}

// outageResult is what the outage scenario saw.
type outageResult struct {
	StartSeconds      float64 `json:"start_s"` // since the load started
	EndSeconds        float64 `json:"end_s"`
	DroppedDuring     int64   `json:"dropped_during"`
	AcknowledgedAfter int64   `json:"acknowledged_after"` // once the broker was back
	// RecoverySeconds is from the end of the outage to the first
	// acknowledgement after it; -1: none before the load ended.
	RecoverySeconds float64 `json:"recovery_s"`
}

func (b *bench) result(r *loadRun, ev *outageEvents) *benchResult {
	o := b.opts
	res := &benchResult{
		Scenario:         o.scenarioLabel(),
		Broker:           "embedded",
		Goroutines:       o.goroutines,
		TargetRate:       o.rate,
		ProbedCapacity:   b.capacity,
		QueueSize:        o.queueSize,
		WhenFull:         policyName(o.whenFull),
		EventBytes:       eventSize(),
		LoadSeconds:      r.loadElapsed.Seconds(),
		DrainSeconds:     r.drainElapsed.Seconds(),
		Sent:             r.final.Enqueued,
		Acknowledged:     r.final.Published,
		Dropped:          r.final.Dropped,
		Failed:           r.final.Failed,
		LatencyP50Micro:  micros(r.latency.p50),
		LatencyP99Micro:  micros(r.latency.p99),
		LatencyP999Micro: micros(r.latency.p999),
		LatencyMaxMicro:  micros(r.latency.maxLat),
		PeakHeapBytes:    r.peakHeap,
		PeakLiveBytes:    r.peakLive,
		MaxRSSBytes:      maxRSS(),
		CPUSeconds:       r.cpu.Seconds(),
		samples:          r.samples,
	}
	if b.broker == nil {
		res.Broker = strings.Join(b.app.Config().Brokers, ",")
	}
	if s := r.loadElapsed.Seconds(); s > 0 {
		res.SentPerSecond = float64(res.Sent) / s
	}
	if s := (r.loadElapsed + r.drainElapsed).Seconds(); s > 0 {
		res.AckedPerSecond = float64(res.Acknowledged) / s
	}
	if o.scenario == scenarioSlowBroker {
		res.ProduceDelayMillis = float64(o.produceDelay) / float64(time.Millisecond)
	}
	if ev != nil && ev.pausedAt > 0 {
		res.Outage = &outageResult{
			StartSeconds:      ev.pausedAt.Seconds(),
			EndSeconds:        ev.resumedAt.Seconds(),
			DroppedDuring:     ev.droppedAtResume - ev.droppedAtPause,
			AcknowledgedAfter: r.final.Published - ev.ackedAtResume,
			RecoverySeconds:   -1,
		}
		if ev.recoveredAt > 0 {
			res.Outage.RecoverySeconds = (ev.recoveredAt - ev.resumedAt).Seconds()
		}
	}
	if r.closeErr != nil {
		res.CloseError = r.closeErr.Error()
	}
	return res
}

// writeText prints the summary, one measure a line.
func (r *benchResult) writeText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "flat out"
	if r.TargetRate > 0 {
		rate = commas(int64(r.TargetRate)) + " events/s"
	}
	fmt.Fprintf(tw, "scenario\t%s\n", r.Scenario)
	if r.ProbedCapacity > 0 {
		fmt.Fprintf(tw, "probed capacity\t%s events/s acknowledged flat out (block policy); the load is half of it\n", commas(int64(r.ProbedCapacity)))
	}
	fmt.Fprintf(tw, "load\t%d goroutines, %s, %.2fs, queue %s (%s), %d-byte events, broker %s\n",
		r.Goroutines, rate, r.LoadSeconds, commas(int64(r.QueueSize)), r.WhenFull, r.EventBytes, r.Broker)
	if r.ProduceDelayMillis > 0 {
		fmt.Fprintf(tw, "slow broker\teach produce request answered %gms late\n", r.ProduceDelayMillis)
	}
	if o := r.Outage; o != nil {
		recovery := "no acknowledgement before the load ended"
		if o.RecoverySeconds >= 0 {
			recovery = fmt.Sprintf("delivering again %.2fs after it", o.RecoverySeconds)
		}
		fmt.Fprintf(tw, "outage\tproduce refused from %.2fs to %.2fs; %s dropped meanwhile; %s; %s acknowledged after it\n",
			o.StartSeconds, o.EndSeconds, commas(o.DroppedDuring), recovery, commas(o.AcknowledgedAfter))
	}
	fmt.Fprintf(tw, "sent\t%s events\t%s/s\n", commas(r.Sent), commas(int64(r.SentPerSecond)))
	fmt.Fprintf(tw, "acknowledged\t%s events\t%s/s (drained in %.2fs)\n", commas(r.Acknowledged), commas(int64(r.AckedPerSecond)), r.DrainSeconds)
	fmt.Fprintf(tw, "dropped\t%s events\t%.2f%%\n", commas(r.Dropped), percent(r.Dropped, r.Sent))
	fmt.Fprintf(tw, "failed\t%s events\n", commas(r.Failed))
	fmt.Fprintf(tw, "caller latency\tp50 %s\tp99 %s\tp99.9 %s\tmax %s\n",
		fmtMicros(r.LatencyP50Micro), fmtMicros(r.LatencyP99Micro), fmtMicros(r.LatencyP999Micro), fmtMicros(r.LatencyMaxMicro))
	if bl := r.Baseline; bl != nil {
		fmt.Fprintf(tw, "baseline\tp50 %s\tp99 %s\tp99.9 %s\tmax %s\t(the same calls through slog.JSONHandler into io.Discard)\n",
			fmtMicros(bl.P50Micro), fmtMicros(bl.P99Micro), fmtMicros(bl.P999Micro), fmtMicros(bl.MaxMicro))
	}
	fmt.Fprintf(tw, "peak memory\theap %s\tlive %s\tRSS %s (the process's peak)\n",
		mib(r.PeakHeapBytes), mib(r.PeakLiveBytes), mib(uint64(max(r.MaxRSSBytes, 0))))
	cores := 0.0
	if s := r.LoadSeconds + r.DrainSeconds; s > 0 {
		cores = r.CPUSeconds / s
	}
	fmt.Fprintf(tw, "CPU\t%.2fs user+sys\t%.2f cores\n", r.CPUSeconds, cores)
	if r.CloseError != "" {
		fmt.Fprintf(tw, "close\t%s\n", r.CloseError)
	}
	tw.Flush()
}

// Formatting.

func micros(ns int64) float64 { return float64(ns) / 1e3 }

func fmtMicros(us float64) string {
	switch {
	case us < 1000:
		return strconv.FormatFloat(us, 'f', 1, 64) + "µs"
	case us < 1e6:
		return strconv.FormatFloat(us/1e3, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(us/1e6, 'f', 2, 64) + "s"
}

func percent(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// commas writes n with thousands separators: 1,234,567.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// si writes a rate shortly: 950, 12.3k, 1.25M.
func si(v float64) string {
	switch {
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 1e6:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
}

func mib(b uint64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
}
