package loadgen

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the summary of a run, what the command prints: as text
// (WriteText), as one JSON object (the field tags), or as a chart
// (WritePlot). Rates are events per second; latencies are the callers'.
type Result struct {
	Scenario       string  `json:"scenario"` // "none" without a scenario
	Broker         string  `json:"broker"`   // "embedded" or the bootstrap list
	Goroutines     int     `json:"goroutines"`
	TargetRate     int     `json:"target_rate"`               // events/s; 0: flat out
	ProbedCapacity float64 `json:"probed_capacity,omitempty"` // events/s acknowledged flat out with the block policy, when probed
	QueueSize      int     `json:"queue_size"`
	WhenFull       string  `json:"when_full"`
	EventBytes     int     `json:"event_bytes"`

	LoadSeconds  float64 `json:"load_s"`  // how long the goroutines logged
	DrainSeconds float64 `json:"drain_s"` // then how long until the queue was empty

	// Sent = Acknowledged + Dropped + Failed + Unknown + SpoolLeft once
	// drained, as sloghandler.Stats counts them (nothing is queued after
	// Close), with what went through the disk spool counted where it
	// ended: delivered from it, failed from it, or left in it.
	Sent           int64   `json:"sent"` // log calls handed to the handler
	SentPerSecond  float64 `json:"sent_per_s"`
	Acknowledged   int64   `json:"acknowledged"`
	AckedPerSecond float64 `json:"acknowledged_per_s"` // over the load and the drain
	Dropped        int64   `json:"dropped"`
	Failed         int64   `json:"failed"`  // not delivered, and not in the topic
	Unknown        int64   `json:"unknown"` // given up on while a request carried it: may be in the topic
	// With a disk spool (kafkaesk bench --spool-dir), nil without.
	Spool            *SpoolResult `json:"spool,omitempty"`
	LatencyP50Micro  float64      `json:"latency_p50_us"`
	LatencyP99Micro  float64      `json:"latency_p99_us"`
	LatencyP999Micro float64      `json:"latency_p99_9_us"`
	LatencyMaxMicro  float64      `json:"latency_max_us"`
	// Baseline is the same calls through slog.JSONHandler into
	// io.Discard, with Options.Baseline; nil without.
	Baseline *LatencyResult `json:"baseline_latency,omitempty"`

	PeakHeapBytes uint64  `json:"peak_heap_bytes"`      // Go heap objects, garbage included, sampled every 250ms
	PeakLiveBytes uint64  `json:"peak_live_heap_bytes"` // the Go heap live after a GC: what the run holds
	MaxRSSBytes   int64   `json:"max_rss_bytes"`        // the process's peak RSS, as getrusage reports it
	CPUSeconds    float64 `json:"cpu_s"`                // user+sys of the process, during the run

	ProduceDelayMillis float64       `json:"produce_delay_ms,omitempty"` // slow-broker
	Outage             *OutageResult `json:"outage,omitempty"`

	CloseError string `json:"close_error,omitempty"`

	samples []sample // for WritePlot
}

// LatencyResult is a latency summary in microseconds.
type LatencyResult struct {
	Calls     int64   `json:"calls"`
	P50Micro  float64 `json:"p50_us"`
	P99Micro  float64 `json:"p99_us"`
	P999Micro float64 `json:"p99_9_us"`
	MaxMicro  float64 `json:"max_us"`
}

// result converts s to microseconds.
func (s latencySummary) result() *LatencyResult {
	return &LatencyResult{Calls: s.calls, P50Micro: micros(s.p50), P99Micro: micros(s.p99), P999Micro: micros(s.p999), MaxMicro: micros(s.maxLat)}
}

// SpoolResult is what went through the disk spool.
type SpoolResult struct {
	Dir     string `json:"dir"`
	Spooled int64  `json:"spooled"` // events the full queue handed to the spool
	// Left is the events still in the spool after the drain: sent by the
	// next process to open Dir.
	Left         int64 `json:"left"`
	PeakMessages int64 `json:"peak_messages"` // the most on disk at a sample
	PeakBytes    int64 `json:"peak_bytes"`
}

// OutageResult is what the outage scenario saw.
type OutageResult struct {
	StartSeconds      float64 `json:"start_s"` // since the load started
	EndSeconds        float64 `json:"end_s"`
	DroppedDuring     int64   `json:"dropped_during"`
	SpooledDuring     int64   `json:"spooled_during,omitempty"`
	AcknowledgedAfter int64   `json:"acknowledged_after"` // once the broker was back
	// RecoverySeconds is from the end of the outage to the first
	// acknowledgement after it; -1: none before the load ended.
	RecoverySeconds float64 `json:"recovery_s"`
	// The callers' latency before the outage, during it, and after it
	// (the drain included), by the monitor's 250ms intervals. Without a
	// spool a full queue drops, which costs the caller next to nothing:
	// compare runs with and without one phase by phase, not by the
	// whole run's percentiles alone.
	CallerBefore *LatencyResult `json:"caller_before,omitempty"`
	CallerDuring *LatencyResult `json:"caller_during,omitempty"`
	CallerAfter  *LatencyResult `json:"caller_after,omitempty"`
}

// result summarizes the scenario's load r.
func (g *generator) result(r *loadRun) *Result {
	o := g.opts
	res := &Result{
		Scenario:         o.Scenario.label(),
		Broker:           "embedded",
		Goroutines:       o.Goroutines,
		TargetRate:       g.rate,
		ProbedCapacity:   g.capacity,
		QueueSize:        o.QueueSize,
		WhenFull:         policyName(o.WhenFull),
		EventBytes:       EventSize(),
		LoadSeconds:      r.loadElapsed.Seconds(),
		DrainSeconds:     r.drainElapsed.Seconds(),
		Sent:             r.final.Enqueued,
		Acknowledged:     r.final.Acked,
		Dropped:          r.final.Dropped,
		Failed:           r.final.Failed,
		Unknown:          r.final.Unknown,
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
	if st := g.app.SpoolStats(); st.Dir != "" {
		res.Spool = &SpoolResult{Dir: st.Dir, Spooled: r.final.Spooled, Left: r.final.OnDisk, PeakMessages: r.spoolPeak, PeakBytes: r.spoolPeakBytes}
	}
	if o.Broker == nil {
		res.Broker = strings.Join(g.app.Config().Brokers, ",")
	}
	if s := r.loadElapsed.Seconds(); s > 0 {
		res.SentPerSecond = float64(res.Sent) / s
	}
	if s := (r.loadElapsed + r.drainElapsed).Seconds(); s > 0 {
		res.AckedPerSecond = float64(res.Acknowledged) / s
	}
	if o.Scenario == SlowBroker {
		res.ProduceDelayMillis = float64(o.ProduceDelay) / float64(time.Millisecond)
	}
	if ev := r.outage; ev != nil && ev.pausedAt > 0 {
		res.Outage = &OutageResult{
			StartSeconds:      ev.pausedAt.Seconds(),
			EndSeconds:        ev.resumedAt.Seconds(),
			DroppedDuring:     ev.droppedAtResume - ev.droppedAtPause,
			SpooledDuring:     ev.spooledAtResume - ev.spooledAtPause,
			AcknowledgedAfter: r.final.Acked - ev.ackedAtResume,
			RecoverySeconds:   -1,
		}
		if ev.recoveredAt > 0 {
			res.Outage.RecoverySeconds = (ev.recoveredAt - ev.resumedAt).Seconds()
		}
		if ph := r.phases; ph != nil {
			res.Outage.CallerBefore = ph[phaseBefore].result()
			res.Outage.CallerDuring = ph[phaseDuring].result()
			res.Outage.CallerAfter = ph[phaseAfter].result()
		}
	}
	if r.closeErr != nil {
		res.CloseError = r.closeErr.Error()
	}
	return res
}

// WriteText prints the summary, one measure a line, in aligned columns,
// and returns w's error.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "flat out"
	if r.TargetRate > 0 {
		rate = commas(int64(r.TargetRate)) + " events/s"
	}
	fmt.Fprintf(tw, "scenario\t%s\n", r.Scenario)
	if r.ProbedCapacity > 0 {
		share := "half of it"
		if r.Scenario == string(Burst) {
			share = "twice it"
		}
		fmt.Fprintf(tw, "probed capacity\t%s events/s acknowledged flat out (block policy); the load is %s\n", commas(int64(r.ProbedCapacity)), share)
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
		spooled := ""
		if r.Spool != nil {
			spooled = ", " + commas(o.SpooledDuring) + " spooled"
		}
		fmt.Fprintf(tw, "outage\tproduce refused from %.2fs to %.2fs; %s dropped%s meanwhile; %s; %s acknowledged after it\n",
			o.StartSeconds, o.EndSeconds, commas(o.DroppedDuring), spooled, recovery, commas(o.AcknowledgedAfter))
	}
	fmt.Fprintf(tw, "sent\t%s events\t%s/s\n", commas(r.Sent), commas(int64(r.SentPerSecond)))
	fmt.Fprintf(tw, "acknowledged\t%s events\t%s/s (drained in %.2fs)\n", commas(r.Acknowledged), commas(int64(r.AckedPerSecond)), r.DrainSeconds)
	fmt.Fprintf(tw, "dropped\t%s events\t%.2f%%\n", commas(r.Dropped), percent(r.Dropped, r.Sent))
	fmt.Fprintf(tw, "failed\t%s events\n", commas(r.Failed))
	if s := r.Spool; s != nil {
		fmt.Fprintf(tw, "spool\t%s events spooled, at most %s (%s) on disk; %s left in %s\n",
			commas(s.Spooled), commas(s.PeakMessages), mib(uint64(s.PeakBytes)), commas(s.Left), s.Dir)
	}
	if r.Unknown > 0 {
		fmt.Fprintf(tw, "outcome unknown\t%s events (given up on while a request carried them: they may be in the topic)\n", commas(r.Unknown))
	}
	fmt.Fprintf(tw, "caller latency\tp50 %s\tp99 %s\tp99.9 %s\tmax %s\n",
		fmtMicros(r.LatencyP50Micro), fmtMicros(r.LatencyP99Micro), fmtMicros(r.LatencyP999Micro), fmtMicros(r.LatencyMaxMicro))
	if o := r.Outage; o != nil {
		for _, ph := range []struct {
			name string
			l    *LatencyResult
		}{{"before the outage", o.CallerBefore}, {"during it", o.CallerDuring}, {"after it", o.CallerAfter}} {
			if ph.l != nil {
				fmt.Fprintf(tw, "  %s\tp50 %s\tp99 %s\tp99.9 %s\tmax %s\n",
					ph.name, fmtMicros(ph.l.P50Micro), fmtMicros(ph.l.P99Micro), fmtMicros(ph.l.P999Micro), fmtMicros(ph.l.MaxMicro))
			}
		}
	}
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
	return tw.Flush()
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
