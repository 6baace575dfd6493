package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// benchLogger is the events' "logger" field.
const benchLogger = "kafkaesk-bench"

// requestLog is the log model of the bench's call, as a service logging
// each request served would have.
type requestLog struct {
	record.Model
	Method string `json:"method"`
	Route  string `json:"route"`
	Status int    `json:"status"`
}

// logCall is the call the bench measures: five attributes and one log
// model, the shape of sloghandler's BenchmarkHandle. Its event is about
// 400 bytes (eventSize): kafkaesk's base fields (timestamp, logger,
// severity, level, message, hostname, service and their nulls) and the
// envelope take 290 of them.
func logCall(l *slog.Logger, seq int64) {
	l.Info("request served",
		"request_id", seq,
		"user", "ana",
		"items", 3,
		"took", 1500*time.Microsecond,
		"cached", false,
		"request", requestLog{Method: "POST", Route: "/api/v1/orders/{id}", Status: 201},
	)
}

// eventSize returns the size of logCall's event as published: the
// envelope and its data.
func eventSize() int {
	var n int
	h := record.NewHandler(func(b []byte) error { n = len(b); return nil }, slog.LevelInfo,
		&record.Options{Logger: benchLogger})
	logCall(slog.New(h), 1234567)
	return n
}

// Pacing. A goroutine with a rate sends whatever is due and sleeps only
// when it is more than pacingSlack ahead: sleeping for each event would
// cost more than the event at high rates, so events go out in bursts of at
// most a millisecond's worth. A goroutine more than maxLag behind (starved
// of CPU, or its calls slower than its rate) does not try to catch up:
// the summary shows the rate it reached.
const (
	pacingSlack = time.Millisecond
	maxLag      = 100 * time.Millisecond
	maxSleep    = 50 * time.Millisecond // so that a slow goroutine sees the stop soon
)

// loadWorker logs until stop, at perSecond events per second (0: flat
// out), and records each call's latency.
func loadWorker(l *slog.Logger, lat *latencyRecorder, perSecond float64, firstSeq int64, stop *atomic.Bool) {
	var interval time.Duration
	if perSecond > 0 {
		interval = time.Duration(float64(time.Second) / perSecond)
	}
	seq := firstSeq
	next := time.Now()
	for !stop.Load() {
		if interval > 0 {
			now := time.Now()
			if ahead := next.Sub(now); ahead > pacingSlack {
				time.Sleep(min(ahead, maxSleep))
				continue
			} else if -ahead > maxLag {
				next = now
			}
			next = next.Add(interval)
		}
		start := time.Now()
		logCall(l, seq)
		lat.record(time.Since(start))
		seq++
	}
}

// bench is one bench command's run: a probe, maybe, then the load.
type bench struct {
	opts     *benchOptions
	app      *core.Application
	broker   *kafkaesktest.Broker // nil on a real cluster
	prog     *progress
	capacity float64 // events/s acknowledged by the probe; 0: no probe
}

// loadSpec is one load: the probe's or the scenario's.
type loadSpec struct {
	label    string  // starts the progress lines
	rate     float64 // events/s, all goroutines together; 0: flat out
	duration time.Duration
	policy   sloghandler.FullPolicy
	outage   *outageEvents // not nil: the broker is paused in the middle
}

// probeCapacity logs flat out for --probe and returns the events per
// second acknowledged meanwhile: what the pipeline delivers when it is
// never idle. The probe uses the block policy whatever --when-full says:
// flat-out callers that drop keep encoding events only to drop them and
// starve the worker of CPU, so the probe would measure the starvation;
// blocked callers leave the CPU to the worker.
func (b *bench) probeCapacity(ctx context.Context) (float64, error) {
	o := b.opts
	fmt.Fprintf(b.prog, "kafkaesk bench: probing the capacity: %v flat out (--when-full block)\n", o.probe)
	r, err := b.load(ctx, loadSpec{label: "probe", duration: o.probe, policy: sloghandler.Block})
	if err != nil || ctx.Err() != nil {
		return 0, err
	}
	if r.ackedAtLoadEnd == 0 {
		return 0, fmt.Errorf("probe: %w in %v flat out; give --rate", errNothingAcknowledged, o.probe)
	}
	return float64(r.ackedAtLoadEnd) / r.loadElapsed.Seconds(), nil
}

// run runs the scenario's load, and the baseline with --baseline.
func (b *bench) run(ctx context.Context) (*benchResult, error) {
	o := b.opts
	spec := loadSpec{label: o.progressLabel(), rate: float64(o.rate), duration: o.duration, policy: o.whenFull}
	switch o.scenario {
	case scenarioSlowBroker:
		restore := b.broker.SlowProduce(o.produceDelay)
		defer restore() // after the drain: the broker stays slow for it
		fmt.Fprintf(b.prog, "kafkaesk bench: the broker answers each produce request %v late\n", o.produceDelay)
	case scenarioOutage:
		spec.outage = &outageEvents{}
	}
	r, err := b.load(ctx, spec)
	if err != nil {
		return nil, err
	}
	res := b.result(r, spec.outage)
	if o.baseline && ctx.Err() == nil {
		fmt.Fprintf(b.prog, "kafkaesk bench: baseline: the same calls through slog.JSONHandler into io.Discard for %v\n", o.duration)
		lats := newLatencyRecorders(o.goroutines)
		b.runWorkers(ctx, slog.New(slog.NewJSONHandler(io.Discard, nil)), lats, spec.rate, o.duration)
		res.Baseline = summarize(lats).result()
	}
	return res, nil
}

// runWorkers runs a loadWorker per recorder through logger, at rate (in
// total) for d or until ctx ends, and returns when they have all stopped.
func (b *bench) runWorkers(ctx context.Context, logger *slog.Logger, lats []*latencyRecorder, rate float64, d time.Duration) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	perGoroutine := rate / float64(len(lats))
	for i, lat := range lats {
		wg.Go(func() { loadWorker(logger, lat, perGoroutine, int64(i)<<40, &stop) })
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	stop.Store(true)
	wg.Wait()
}

// loadRun is what one load measured.
type loadRun struct {
	loadElapsed    time.Duration // the load, from the first call to the stop
	drainElapsed   time.Duration // from the stop until the queue was empty or the drain timed out
	final          sloghandler.Stats
	ackedAtLoadEnd int64
	latency        latencySummary
	samples        []sample
	peakHeap       uint64
	peakLive       uint64
	cpu            time.Duration
	closeErr       error
}

// outageEvents is what happened during the outage scenario.
type outageEvents struct {
	pausedAt, resumedAt time.Duration // since the start; zero: did not happen
	recoveredAt         time.Duration // the first acknowledgement after resumedAt; zero: none before the load ended
	droppedAtPause      int64
	droppedAtResume     int64
	ackedAtResume       int64
}

// load runs the goroutines through a new handler as spec says, then
// drains and closes the handler so that the counts are final.
func (b *bench) load(ctx context.Context, spec loadSpec) (*loadRun, error) {
	o := b.opts
	h, err := sloghandler.New(b.app, o.stream, &sloghandler.Options{
		QueueSize: o.queueSize,
		WhenFull:  spec.policy,
		Logger:    benchLogger,
		Warnings:  b.prog, // clears the progress line first
	})
	if err != nil {
		return nil, err
	}
	var trim func()
	if b.broker != nil {
		// The embedded broker lives in this process: keep it from
		// holding everything the load produces, so that the memory
		// measured is the pipeline's.
		topic := b.app.Topic(o.stream)
		trim = func() { _ = b.broker.Truncate(topic) }
	}
	lats := newLatencyRecorders(o.goroutines)
	// Start from a collected heap: what the probe left is not this
	// load's memory.
	runtime.GC()
	cpu0 := cpuTime()
	mon := startMonitor(h, lats, b.prog, spec.label, trim)

	loadDone := make(chan struct{})
	outageDone := make(chan struct{})
	if spec.outage != nil {
		go func() {
			defer close(outageDone)
			b.outage(h, mon.start, spec.duration, spec.outage, loadDone)
		}()
	} else {
		close(outageDone)
	}
	b.runWorkers(ctx, slog.New(h), lats, spec.rate, spec.duration)
	loadEnd := time.Now()
	close(loadDone)
	<-outageDone
	mon.loadEnded()
	ackedAtLoadEnd := h.Stats().Published

	dctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	_ = h.Flush(dctx) // a timeout shows as events still queued, then failed by Close
	drainEnd := time.Now()
	closeErr := h.Close(dctx)
	mon.stop()

	return &loadRun{
		loadElapsed:    loadEnd.Sub(mon.start),
		drainElapsed:   drainEnd.Sub(loadEnd),
		final:          h.Stats(),
		ackedAtLoadEnd: ackedAtLoadEnd,
		latency:        summarize(lats),
		samples:        mon.samples,
		peakHeap:       mon.peakHeap,
		peakLive:       mon.peakLive,
		cpu:            cpuTime() - cpu0,
		closeErr:       closeErr,
	}, nil
}

// outage pauses the broker for --outage, centred in a load of d that
// started at start, and records what the handler had done by then and
// when it delivered again. It returns early, resuming the broker, when
// the load ends.
func (b *bench) outage(h *sloghandler.Handler, start time.Time, d time.Duration, ev *outageEvents, loadDone <-chan struct{}) {
	length := b.opts.outage
	t := time.NewTimer(time.Until(start.Add((d - length) / 2)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-loadDone:
		return
	}
	resume := b.broker.Pause()
	ev.pausedAt = time.Since(start)
	ev.droppedAtPause = h.Stats().Dropped
	fmt.Fprintf(b.prog, "kafkaesk bench: outage: the broker refuses produce requests for %v\n", length)
	t.Reset(length)
	select {
	case <-t.C:
	case <-loadDone:
	}
	resume()
	ev.resumedAt = time.Since(start)
	s := h.Stats()
	ev.droppedAtResume, ev.ackedAtResume = s.Dropped, s.Published
	fmt.Fprintf(b.prog, "kafkaesk bench: outage over: the broker accepts produce requests again\n")

	// How long the pipeline takes to deliver again: the retry backoffs
	// of the handler and of the producer.
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for h.Stats().Published == ev.ackedAtResume {
		select {
		case <-poll.C:
		case <-loadDone:
			return
		}
	}
	ev.recoveredAt = time.Since(start)
}
