package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

const benchSynopsis = "[--goroutines 8] [--rate EVENTS/S] [--duration 10s] [--queue-size 10000] [--when-full drop|block] [--scenario steady|burst|slow-broker|outage] [--json] [--plot FILE.png] [--stream bench.logs]"

// The scenarios of --scenario. Without one, the load is what --rate says.
const (
	scenarioSteady     = "steady"      // half the probed capacity
	scenarioBurst      = "burst"       // twice the probed capacity into a small queue
	scenarioSlowBroker = "slow-broker" // the broker answers produce requests late
	scenarioOutage     = "outage"      // the broker refuses produce requests for a while
)

// burstQueueSize is the burst scenario's queue unless --queue-size is given:
// small, so that it overflows at once.
const burstQueueSize = 1000

// benchOptions is bench's validated command line.
type benchOptions struct {
	goroutines   int
	rate         int // events/s in total; 0: flat out, or the probed rate (see probes)
	duration     time.Duration
	queueSize    int
	whenFull     sloghandler.FullPolicy
	scenario     string
	json         bool
	plot         string
	stream       string
	probe        time.Duration // the flat-out run that finds the capacity
	outage       time.Duration
	produceDelay time.Duration
	drain        time.Duration
	baseline     bool
	rateGiven    bool // --rate was given: no probe
}

// probes reports whether the run first measures the capacity, to load a
// share of it (loadShare): every scenario without --rate.
func (o *benchOptions) probes() bool {
	return o.scenario != "" && !o.rateGiven
}

// loadShare is the part of the probed capacity the scenario loads: half,
// or twice for burst, which is about more than the pipeline delivers.
func (o *benchOptions) loadShare() float64 {
	if o.scenario == scenarioBurst {
		return 2
	}
	return 0.5
}

// controlsBroker reports whether the scenario needs the embedded broker.
func (o *benchOptions) controlsBroker() bool {
	return o.scenario == scenarioSlowBroker || o.scenario == scenarioOutage
}

func policyName(p sloghandler.FullPolicy) string {
	if p == sloghandler.Block {
		return "block"
	}
	return "drop"
}

// runBench is the load generator of the log pipeline. --goroutines
// goroutines make a realistic log call (logCall) through sloghandler, at
// --rate events per second in total or flat out, for --duration, against
// the embedded broker or --kafka-servers. Each call is timed on the
// caller, into a histogram per goroutine; every 250ms a monitor samples
// the handler's counters and the latencies, shows a progress line on
// stderr and keeps the samples for --plot. After the load the handler is
// drained and closed (bounded by --drain-timeout), so that the summary's
// counts are final.
//
// What it shows: the handler never holds the caller on Kafka. The
// scenarios make the broker slow (slow-broker) or refuse writes
// (outage), or the load exceed what the pipeline delivers (burst); the
// callers' latency should not move, and what could not be delivered is
// dropped and counted. --baseline times the same calls through
// slog.JSONHandler into io.Discard, to tell what the machine adds to any
// call from what the handler does.
func runBench(ctx context.Context, std *stdio, args []string) error {
	fs := newFlagSet("bench", benchSynopsis, std)
	kf := addKafkaFlags(fs)
	var o benchOptions
	fs.IntVar(&o.goroutines, "goroutines", 8, "goroutines logging at once")
	fs.IntVar(&o.rate, "rate", 0, "events per second, all goroutines together; 0: flat out (default: flat out, or\nwith --scenario a share of the capacity found by --probe)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the goroutines log")
	fs.IntVar(&o.queueSize, "queue-size", sloghandler.DefaultQueueSize, "the handler's queue, in events (burst: 1000 unless given)")
	whenFull := fs.String("when-full", "drop", fmt.Sprintf("what a log call does when the queue is full: drop (count and go on) or block\n(wait up to %v, then drop)", sloghandler.DefaultBlockTimeout))
	fs.StringVar(&o.scenario, "scenario", "", "a preset: steady (half the capacity), burst (twice the capacity into a small queue),\nslow-broker (produce requests answered --produce-delay late), outage (the\nbroker refuses produce requests for --outage in the middle of the run);\nslow-broker and outage need the embedded broker")
	fs.BoolVar(&o.json, "json", false, "print the summary as one JSON object")
	fs.StringVar(&o.plot, "plot", "", "write a PNG chart of throughput and caller latency over time to this file")
	fs.StringVar(&o.stream, "stream", "bench.logs", "the stream the events are published to")
	fs.DurationVar(&o.probe, "probe", 2*time.Second, "with --scenario and without --rate, first log flat out this long\n(with --when-full block) to find the capacity")
	fs.DurationVar(&o.outage, "outage", 5*time.Second, "outage: how long the broker refuses produce requests, centred in the run")
	fs.DurationVar(&o.produceDelay, "produce-delay", 50*time.Millisecond, "slow-broker: how late the broker answers each produce request")
	fs.DurationVar(&o.drain, "drain-timeout", 30*time.Second, "after the load, how long queued events may take to be acknowledged")
	fs.BoolVar(&o.baseline, "baseline", false, "then time the same calls, paced the same, through slog.JSONHandler into\nio.Discard: what the machine adds to any log call, Kafka or not")

	rest, err := kf.parse(fs, args)
	if err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch *whenFull {
	case "drop":
		o.whenFull = sloghandler.DropNewest
	case "block":
		o.whenFull = sloghandler.Block
	default:
		return usagef("flag --when-full: want drop or block, got %q", *whenFull)
	}
	switch o.scenario {
	case "", scenarioSteady, scenarioBurst, scenarioSlowBroker, scenarioOutage:
	default:
		return usagef("flag --scenario: want steady, burst, slow-broker or outage, got %q", o.scenario)
	}
	o.rateGiven = given["rate"]
	if o.scenario == scenarioBurst && !given["queue-size"] {
		o.queueSize = burstQueueSize
	}
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q", rest[0])
	case o.goroutines < 1:
		return usagef("flag --goroutines: want 1 or more, got %d", o.goroutines)
	case o.rate < 0:
		return usagef("flag --rate: want 0 (flat out) or more events per second, got %d", o.rate)
	case o.duration <= 0:
		return usagef("flag --duration: want a positive duration, got %v", o.duration)
	case o.queueSize < 1:
		return usagef("flag --queue-size: want 1 or more, got %d", o.queueSize)
	case o.stream == "":
		return usagef("flag --stream: want a stream name, got an empty one")
	case o.probes() && o.probe <= 0:
		return usagef("flag --probe: want a positive duration, got %v", o.probe)
	case o.scenario == scenarioOutage && (o.outage <= 0 || o.outage >= o.duration):
		return usagef("flag --outage: want a positive duration shorter than --duration %v, got %v", o.duration, o.outage)
	case o.scenario == scenarioSlowBroker && o.produceDelay <= 0:
		return usagef("flag --produce-delay: want a positive duration, got %v", o.produceDelay)
	case o.drain <= 0:
		return usagef("flag --drain-timeout: want a positive duration, got %v", o.drain)
	case o.controlsBroker() && kf.brokersGiven():
		return usagef("flag --scenario: %s controls the embedded broker: it cannot run with --kafka-servers", o.scenario)
	}

	var plotFile *os.File
	if o.plot != "" {
		// Created now, so that a bad path fails before the run, not after.
		if plotFile, err = os.Create(o.plot); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		defer func() {
			if plotFile != nil { // not written: do not leave an empty file
				plotFile.Close()
				os.Remove(o.plot)
			}
		}()
	}

	cfg := kf.config(std)
	var broker *kafkaesktest.Broker
	if !kf.brokersGiven() {
		// Port 0: a free port, so that the bench never collides with a
		// broker or collector running on this machine.
		if broker, err = startBroker(0, "", 0, std); err != nil {
			return err
		}
		defer broker.Close()
		cfg.Brokers = broker.Brokers()
	}
	app, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeApp(app)

	// Create the topic now, so that no run measures its creation.
	ectx, cancel := context.WithTimeout(ctx, pingTimeout)
	err = app.EnsureStream(ectx, o.stream, 0)
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s: %w", o.stream, err)
	}

	prog := newProgress(std.err)
	b := &bench{opts: &o, app: app, broker: broker, prog: prog}
	if o.probes() {
		capacity, err := b.probeCapacity(ctx)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil // interrupted: nothing measured
		}
		b.capacity = capacity
		o.rate = max(1, int(capacity*o.loadShare()))
		fmt.Fprintf(prog, "kafkaesk bench: capacity %s events/s acknowledged; loading %s events/s\n",
			commas(int64(capacity)), commas(int64(o.rate)))
	}
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(std.out)
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		res.writeText(std.out)
	}
	if plotFile != nil {
		err := writePlot(plotFile, res)
		if cerr := plotFile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(o.plot)
			plotFile = nil
			return fmt.Errorf("--plot %s: %w", o.plot, err)
		}
		plotFile = nil
		fmt.Fprintf(std.err, "kafkaesk bench: chart written to %s\n", o.plot)
	}
	return nil
}

// scenarioLabel names the run in the summary and the chart.
func (o *benchOptions) scenarioLabel() string {
	if o.scenario == "" {
		return "none"
	}
	return o.scenario
}

// progressLabel starts the progress lines of the run.
func (o *benchOptions) progressLabel() string {
	if o.scenario == "" {
		return "load"
	}
	return o.scenario
}

// errNothingAcknowledged: the probe found no capacity to take half of.
var errNothingAcknowledged = errors.New("nothing was acknowledged")
