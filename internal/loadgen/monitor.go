package loadgen

import (
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/mattn/go-isatty"
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
	return summarizeHistogram(all)
}

func summarizeHistogram(all *hdrhistogram.Histogram) latencySummary {
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
	sent, acked, dropped int64         // so far; acked includes what the spool delivered
	queued               int64
	spooled, onDisk      int64   // handed to the disk spool so far; in it now
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
	h     counters
	lats  []*latencyRecorder
	prog  *progress
	label string
	trim  func() // nil: nothing to trim
	start time.Time

	draining atomic.Bool
	quit     chan struct{} // closed by stop
	done     chan struct{} // closed by the monitor goroutine when it returns

	// Owned by the monitor goroutine until done is closed.
	samples                   []sample
	peakHeap                  uint64 // heap objects, garbage included
	peakLive                  uint64 // live heap after a GC
	spoolPeak, spoolPeakBytes int64  // on disk
	prev                      sample
	spare                     []*hdrhistogram.Histogram // one per recorder, swapped in
	merged                    *hdrhistogram.Histogram
	heapM                     []metrics.Sample
	phases                    *phases // nil: the run has none
}

// An outage scenario's run has three phases: before the broker goes
// away, while it is away, and after it is back (the drain included).
// The callers' latency is kept for each, so that a run that drops its
// events during the outage (and so does almost nothing then) can be
// compared with one that spools them, phase by phase.
const (
	phaseBefore = iota
	phaseDuring
	phaseAfter
	numPhases
)

// phases sorts the monitor's intervals into the phases of an outage
// planned from from to to (since the start): an interval belongs to the
// phase its middle falls in.
type phases struct {
	from, to time.Duration
	hist     [numPhases]*hdrhistogram.Histogram
}

func newPhases(from, to time.Duration) *phases {
	ph := &phases{from: from, to: to}
	for i := range ph.hist {
		ph.hist[i] = newHistogram()
	}
	return ph
}

// add merges h, the latencies of the interval from start to end.
func (ph *phases) add(start, end time.Duration, h *hdrhistogram.Histogram) {
	mid, i := start+(end-start)/2, phaseDuring
	switch {
	case mid < ph.from:
		i = phaseBefore
	case mid >= ph.to:
		i = phaseAfter
	}
	ph.hist[i].Merge(h)
}

// summaries returns the latency of each phase.
func (ph *phases) summaries() [numPhases]latencySummary {
	var out [numPhases]latencySummary
	for i, h := range ph.hist {
		out[i] = summarizeHistogram(h)
	}
	return out
}

// startMonitor starts sampling h and lats every sampleInterval, the
// first time sampleInterval from now, on a goroutine of its own. The
// caller owns that goroutine: it must call stop, which ends it. ph, if
// not nil, gets the latencies by phase; it is the monitor's until stop
// returns.
func startMonitor(h counters, lats []*latencyRecorder, prog *progress, label string, trim func(), ph *phases) *monitor {
	m := &monitor{
		h: h, lats: lats, prog: prog, label: label, trim: trim, phases: ph,
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
	st := m.h.counts()
	s := sample{
		at:       time.Since(m.start),
		sent:     st.Enqueued,
		acked:    st.Acked,
		dropped:  st.Dropped,
		queued:   st.Queued,
		spooled:  st.Spooled,
		onDisk:   st.OnDisk,
		heap:     m.readHeap(),
		draining: m.draining.Load(),
	}
	m.spoolPeak = max(m.spoolPeak, st.OnDisk)
	m.spoolPeakBytes = max(m.spoolPeakBytes, st.SpoolBytes)
	for i, r := range m.lats {
		h := r.swapInterval(m.spare[i])
		m.merged.Merge(h)
		h.Reset()
		m.spare[i] = h
	}
	if s.calls = m.merged.TotalCount(); s.calls > 0 {
		s.p99 = m.merged.ValueAtQuantile(99)
		if m.phases != nil {
			m.phases.add(m.prev.at, s.at, m.merged)
		}
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
	spool := ""
	if s.spooled > 0 {
		spool = "  spool " + commas(s.onDisk)
	}
	return fmt.Sprintf("%-11s %6.1fs  sent %s (%s/s)  acked %s (%s/s)  dropped %s  queue %s%s  heap %s",
		phase, s.at.Seconds(),
		commas(s.sent), si(s.sentRate), commas(s.acked), si(s.ackedRate),
		commas(s.dropped), commas(s.queued), spool, mib(s.heap))
}

// progress is the run's live status on Options.Progress. On a terminal it is one line
// redrawn in place on every sample (250ms); elsewhere (a file, a CI log)
// it is a new line a second, so that logs stay readable. Plain lines
// rather than a progress-bar library: a load test has no total to fill a
// bar with, only counters, and a library would add a dependency for a
// carriage return.
//
// progress is also the io.Writer for messages printed meanwhile (the
// handler's warnings, the scenario's events): on a terminal it clears the
// status line first, and the next sample redraws it below.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	shown bool      // tty: a status line is on screen, not ended
	last  time.Time // not a tty: when the last line was printed
}

// progressEvery is how often a status line is printed when the writer is
// not a terminal.
const progressEvery = time.Second

// newProgress returns the status of a run on w: redrawn in place when w
// is a terminal's *os.File. Its methods are safe for concurrent use.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return p
}

// show displays a status line; last forces it out whatever the time.
func (p *progress) show(line string, last bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		io.WriteString(p.w, "\r"+line+"\x1b[K")
		p.shown = true
		return
	}
	if now := time.Now(); last || now.Sub(p.last) >= progressEvery {
		p.last = now
		io.WriteString(p.w, line+"\n")
	}
}

// end ends the status line on a terminal, so that what follows starts on
// a line of its own.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		io.WriteString(p.w, "\n")
		p.shown = false
	}
}

// Write prints b (whole lines) above the status line.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
	return p.w.Write(b)
}
