package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// ErrNothingAcknowledged is returned by Run when the probe saw no event
// acknowledged, so that it has no capacity to load a share of.
var ErrNothingAcknowledged = errors.New("nothing was acknowledged")

// createTimeout bounds the creation of the stream before the run.
const createTimeout = 5 * time.Second

// Run creates opts.Stream on app, then, with opts.Probe, logs flat out to
// find the capacity, then runs the load opts describes through a new
// sloghandler.Handler on app and drains and closes that handler, and with
// opts.Baseline times the same calls without Kafka. It blocks for all of
// that: about Probe + Duration + the drain (at most DrainTimeout) +
// Duration again with Baseline.
//
// If ctx ends during the load, the load stops early, is drained, and Run
// returns what it measured. If ctx ends before the load starts (during
// the probe), Run returns nil and an error wrapping ctx.Err(): nothing
// was measured. Run closes the handlers it creates but not app. Every
// goroutine Run starts has ended when it returns.
func Run(ctx context.Context, app *core.Application, opts Options) (*Result, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	g := &generator{opts: &o, app: app, prog: newProgress(o.Progress), rate: o.Rate}

	// The producer would create the topic on the first event; creating it
	// here keeps the creation out of what the probe and the load measure,
	// and makes a broker that cannot create it an error before they start.
	cctx, cancel := context.WithTimeout(ctx, createTimeout)
	err := app.EnsureStream(cctx, o.Stream, 0)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", o.Stream, err)
	}

	if o.Probe > 0 {
		capacity, err := g.probeCapacity(ctx)
		if err != nil {
			return nil, err
		}
		g.capacity = capacity
		g.rate = max(1, int(capacity*o.Scenario.LoadShare()))
		g.say("capacity %s events/s acknowledged; loading %s events/s",
			commas(int64(capacity)), commas(int64(g.rate)))
	}
	return g.run(ctx)
}

// generator is one Run: a probe, maybe, then the load.
type generator struct {
	opts     *Options // defaults applied
	app      *core.Application
	prog     *progress
	rate     int     // events/s of the load; 0: flat out
	capacity float64 // events/s acknowledged by the probe; 0: no probe
}

// say prints a message of the run on the progress writer, above the
// status line.
func (g *generator) say(format string, args ...any) {
	fmt.Fprintf(g.prog, g.opts.Name+": "+format+"\n", args...)
}

// loadSpec is one load: the probe's or the scenario's.
type loadSpec struct {
	label    string  // starts the progress lines
	rate     float64 // events/s, all goroutines together; 0: flat out
	duration time.Duration
	policy   sloghandler.FullPolicy
	outage   bool // the broker is paused in the middle
}

// probeCapacity logs flat out for Probe and returns the events per
// second acknowledged meanwhile: what the pipeline delivers when it is
// never idle. The probe uses the block policy whatever WhenFull says:
// flat-out callers that drop keep encoding events only to drop them and
// starve the worker of CPU, so the probe would measure the starvation;
// blocked callers leave the CPU to the worker.
func (g *generator) probeCapacity(ctx context.Context) (float64, error) {
	o := g.opts
	g.say("probing the capacity: %v flat out (--when-full block)", o.Probe)
	r, err := g.load(ctx, loadSpec{label: "probe", duration: o.Probe, policy: sloghandler.Block})
	if err != nil {
		return 0, err
	}
	if ctx.Err() != nil {
		return 0, fmt.Errorf("probe interrupted: %w", ctx.Err())
	}
	if r.ackedAtLoadEnd == 0 {
		return 0, fmt.Errorf("probe: %w in %v flat out", ErrNothingAcknowledged, o.Probe)
	}
	return float64(r.ackedAtLoadEnd) / r.loadElapsed.Seconds(), nil
}

// run runs the scenario's load, and the baseline with Baseline.
func (g *generator) run(ctx context.Context) (*Result, error) {
	o := g.opts
	spec := loadSpec{label: o.Scenario.progressLabel(), rate: float64(g.rate), duration: o.Duration, policy: o.WhenFull}
	switch o.Scenario {
	case SlowBroker:
		restore := o.Broker.SlowProduce(o.ProduceDelay)
		defer restore() // after the drain: the broker stays slow for it
		g.say("the broker answers each produce request %v late", o.ProduceDelay)
	case Outage:
		spec.outage = true
	}
	r, err := g.load(ctx, spec)
	if err != nil {
		return nil, err
	}
	res := g.result(r)
	if o.Baseline && ctx.Err() == nil {
		g.say("baseline: the same calls through slog.JSONHandler into io.Discard for %v", o.Duration)
		lats := newLatencyRecorders(o.Goroutines)
		runWorkers(ctx, slog.New(slog.NewJSONHandler(io.Discard, nil)), lats, spec.rate, o.Duration)
		res.Baseline = summarize(lats).result()
	}
	return res, nil
}

// loadRun is what one load measured.
type loadRun struct {
	loadElapsed    time.Duration // the load, from the first call to the stop
	drainElapsed   time.Duration // from the stop until the queue was empty or the drain timed out
	final          counts
	ackedAtLoadEnd int64
	latency        latencySummary
	phases         *[numPhases]latencySummary // outage: the latency before, during and after it
	samples        []sample
	spoolPeak      int64 // events on disk, the most at a sample
	spoolPeakBytes int64
	peakHeap       uint64
	peakLive       uint64
	cpu            time.Duration
	outage         *outageEvents // nil: no outage scenario
	closeErr       error
}

// load runs the goroutines through a new handler as spec says, then
// drains and closes the handler so that the counts are final. It blocks
// until the workers, the monitor and the outage have returned and the
// handler is closed.
func (g *generator) load(ctx context.Context, spec loadSpec) (*loadRun, error) {
	o := g.opts
	h, err := sloghandler.New(g.app, o.Stream, &sloghandler.Options{
		QueueSize: o.QueueSize,
		WhenFull:  spec.policy,
		Logger:    eventLogger,
		Warnings:  g.prog, // clears the progress line first
	})
	if err != nil {
		return nil, err
	}
	var trim func()
	if o.Broker != nil {
		// The embedded broker lives in this process: keep it from
		// holding everything the load produces, so that the memory
		// measured is the pipeline's.
		topic := g.app.Topic(o.Stream)
		trim = func() { _ = o.Broker.Truncate(topic) }
	}
	lats := newLatencyRecorders(o.Goroutines)
	// Start from a collected heap: what the probe left is not this
	// load's memory.
	runtime.GC()
	cpu0 := cpuTime()
	pipe := newPipeline(h, g.app)
	var ph *phases
	if spec.outage {
		from := (spec.duration - o.Outage) / 2 // as outage.run has it
		ph = newPhases(from, from+o.Outage)
	}
	mon := startMonitor(pipe, lats, g.prog, spec.label, trim, ph)

	loadDone := make(chan struct{})
	outageDone := make(chan struct{})
	var ev *outageEvents
	if spec.outage {
		ev = new(outageEvents)
		out := &outage{broker: o.Broker, h: pipe, start: mon.start, load: spec.duration, length: o.Outage, say: g.say}
		go func() {
			defer close(outageDone)
			*ev = out.run(loadDone)
		}()
	} else {
		close(outageDone)
	}
	runWorkers(ctx, slog.New(h), lats, spec.rate, spec.duration)
	loadEnd := time.Now()
	close(loadDone)
	<-outageDone
	mon.loadEnded()
	ackedAtLoadEnd := pipe.counts().Acked

	dctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	_ = h.Flush(dctx) // a timeout shows as events still queued, then failed or unknown by Close
	drainSpool(dctx, pipe)
	drainEnd := time.Now()
	closeErr := h.Close(dctx)
	mon.stop()
	var byPhase *[numPhases]latencySummary
	if ph != nil {
		sums := ph.summaries()
		byPhase = &sums
	}

	return &loadRun{
		loadElapsed:    loadEnd.Sub(mon.start),
		drainElapsed:   drainEnd.Sub(loadEnd),
		final:          pipe.counts(),
		ackedAtLoadEnd: ackedAtLoadEnd,
		latency:        summarize(lats),
		phases:         byPhase,
		samples:        mon.samples,
		spoolPeak:      mon.spoolPeak,
		spoolPeakBytes: mon.spoolPeakBytes,
		peakHeap:       mon.peakHeap,
		peakLive:       mon.peakLive,
		cpu:            cpuTime() - cpu0,
		outage:         ev,
		closeErr:       closeErr,
	}, nil
}

// spoolPoll is how often the drain looks at the spool.
const spoolPoll = 10 * time.Millisecond

// drainSpool waits until pipe's spool is empty or ctx ends: what is left
// then stays on disk, for the next process, and shows in the result.
func drainSpool(ctx context.Context, pipe *pipeline) {
	if !pipe.spooling {
		return
	}
	tick := time.NewTicker(spoolPoll)
	defer tick.Stop()
	for pipe.counts().OnDisk > 0 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
