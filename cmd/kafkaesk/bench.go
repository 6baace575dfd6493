package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kafkaesk-go/kafkaesk/internal/loadgen"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

const benchSynopsis = "[--goroutines 8] [--rate EVENTS/S] [--duration 10s] [--queue-size 10000] [--when-full drop|block] [--scenario steady|burst|slow-broker|outage] [--json] [--plot FILE.png] [--stream bench.logs]"

// defaultProbe is --probe's default: long enough for the pipeline to
// settle, short beside a run.
const defaultProbe = 2 * time.Second

// benchCommand is bench's command line, parsed and checked.
type benchCommand struct {
	opts    loadgen.Options // Broker, Progress and Name are set by runBench
	kf      *kafkaFlags
	jsonOut bool
	plot    string
}

// parseBench parses and checks bench's flags. Every error is a usage
// error naming the flag at fault, or errHelp.
func parseBench(std *stdio, args []string) (*benchCommand, error) {
	fs := newFlagSet("bench", benchSynopsis, std)
	c := &benchCommand{kf: addKafkaFlags(fs)}
	c.kf.addSpoolFlags(fs)
	opts := &c.opts
	var (
		whenFull, scenario string
		probe              time.Duration
	)
	fs.IntVar(&opts.Goroutines, "goroutines", loadgen.DefaultGoroutines, "goroutines logging at once")
	fs.IntVar(&opts.Rate, "rate", 0, "events per second, all goroutines together; 0: flat out (default: flat out, or\nwith --scenario a share of the capacity found by --probe)")
	fs.DurationVar(&opts.Duration, "duration", loadgen.DefaultDuration, "how long the goroutines log")
	fs.IntVar(&opts.QueueSize, "queue-size", sloghandler.DefaultQueueSize, "the handler's queue, in events (burst: 1000 unless given)")
	fs.StringVar(&whenFull, "when-full", "drop", fmt.Sprintf("what a log call does when the queue is full: drop (count and go on) or block\n(wait up to %v, then drop)", sloghandler.DefaultBlockTimeout))
	fs.StringVar(&scenario, "scenario", "", "a preset: steady (half the capacity), burst (twice the capacity into a small queue),\nslow-broker (produce requests answered --produce-delay late), outage (the\nbroker refuses produce requests for --outage in the middle of the run);\nslow-broker and outage need the embedded broker")
	fs.BoolVar(&c.jsonOut, "json", false, "print the summary as one JSON object")
	fs.StringVar(&c.plot, "plot", "", "write a PNG chart of throughput and caller latency over time to this file")
	fs.StringVar(&opts.Stream, "stream", loadgen.DefaultStream, "the stream the events are published to")
	fs.DurationVar(&probe, "probe", defaultProbe, "with --scenario and without --rate, first log flat out this long\n(with --when-full block) to find the capacity")
	fs.DurationVar(&opts.Outage, "outage", loadgen.DefaultOutage, "outage: how long the broker refuses produce requests, centred in the run")
	fs.DurationVar(&opts.ProduceDelay, "produce-delay", loadgen.DefaultProduceDelay, "slow-broker: how late the broker answers each produce request")
	fs.DurationVar(&opts.DrainTimeout, "drain-timeout", loadgen.DefaultDrainTimeout, "after the load, how long queued events may take to be acknowledged")
	fs.BoolVar(&opts.Baseline, "baseline", false, "then time the same calls, paced the same, through slog.JSONHandler into\nio.Discard: what the machine adds to any log call, Kafka or not")

	rest, err := c.kf.parse(fs, args)
	if err != nil {
		return nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := checkBenchFlags(opts, c.kf, rest, given, whenFull, scenario, probe); err != nil {
		return nil, err
	}
	return c, nil
}

// runBench is the load generator of the log pipeline (internal/loadgen)
// as a command: it parses and checks the flags, naming the one at fault,
// starts the embedded broker unless --kafka-servers is given, runs the
// load, and prints the summary (text or --json) and the --plot chart.
// Progress lines and the run's messages go to stderr.
func runBench(ctx context.Context, std *stdio, args []string) error {
	c, err := parseBench(std, args)
	if err != nil {
		return err
	}
	opts, kf, plotPath := c.opts, c.kf, c.plot

	var plotFile *os.File
	if plotPath != "" {
		// Created now, so that a bad path fails before the run, not after.
		if plotFile, err = os.Create(plotPath); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		defer func() {
			if plotFile != nil { // not written: do not leave an empty file
				plotFile.Close()
				os.Remove(plotPath)
			}
		}()
	}

	cfg := kf.config(std)
	if !kf.brokersGiven() {
		// Port 0: a free port, so that the bench never collides with a
		// broker or collector running on this machine.
		broker, err := startBroker(0, "", 0, std)
		if err != nil {
			return err
		}
		defer broker.Close()
		cfg.Brokers = broker.Brokers()
		opts.Broker = broker
	}
	app, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeApp(app)

	opts.Progress, opts.Name = std.err, "kafkaesk bench"
	res, err := loadgen.Run(ctx, app, opts)
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil // interrupted before the load: nothing measured
	case errors.Is(err, loadgen.ErrNothingAcknowledged):
		return fmt.Errorf("%w; give --rate", err)
	case err != nil:
		return err
	}
	if c.jsonOut {
		if err := json.NewEncoder(std.out).Encode(res); err != nil {
			return err
		}
	} else if err := res.WriteText(std.out); err != nil {
		return err
	}
	if plotFile != nil {
		err := loadgen.WritePlot(plotFile, res)
		if cerr := plotFile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(plotPath)
			plotFile = nil
			return fmt.Errorf("--plot %s: %w", plotPath, err)
		}
		plotFile = nil
		fmt.Fprintf(std.err, "kafkaesk bench: chart written to %s\n", plotPath)
	}
	return nil
}

// checkBenchFlags checks bench's flags, as parsed into opts, and
// completes opts with those that need a decision (--when-full,
// --scenario, --probe, the burst queue). Every error is a usage error
// naming the flag at fault.
func checkBenchFlags(opts *loadgen.Options, kf *kafkaFlags, rest []string, given map[string]bool, whenFull, scenario string, probe time.Duration) error {
	switch whenFull {
	case "drop":
		opts.WhenFull = sloghandler.DropNewest
	case "block":
		opts.WhenFull = sloghandler.Block
	default:
		return usagef("flag --when-full: want drop or block, got %q", whenFull)
	}
	opts.Scenario = loadgen.Scenario(scenario)
	if opts.Scenario != loadgen.NoScenario && !slices.Contains(loadgen.Scenarios, opts.Scenario) {
		names := make([]string, len(loadgen.Scenarios))
		for i, s := range loadgen.Scenarios {
			names[i] = string(s)
		}
		return usagef("flag --scenario: want %s or %s, got %q",
			strings.Join(names[:len(names)-1], ", "), names[len(names)-1], scenario)
	}
	// Every scenario without --rate first measures the capacity, to load
	// a share of it.
	probes := opts.Scenario != loadgen.NoScenario && !given["rate"]
	o := opts
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q", rest[0])
	case o.Goroutines < 1:
		return usagef("flag --goroutines: want 1 or more, got %d", o.Goroutines)
	case o.Rate < 0:
		return usagef("flag --rate: want 0 (flat out) or more events per second, got %d", o.Rate)
	case o.Duration <= 0:
		return usagef("flag --duration: want a positive duration, got %v", o.Duration)
	case o.QueueSize < 1:
		return usagef("flag --queue-size: want 1 or more, got %d", o.QueueSize)
	case o.Stream == "":
		return usagef("flag --stream: want a stream name, got an empty one")
	case probes && probe <= 0:
		return usagef("flag --probe: want a positive duration, got %v", probe)
	case o.Scenario == loadgen.Outage && (o.Outage <= 0 || o.Outage >= o.Duration):
		return usagef("flag --outage: want a positive duration shorter than --duration %v, got %v", o.Duration, o.Outage)
	case o.Scenario == loadgen.SlowBroker && o.ProduceDelay <= 0:
		return usagef("flag --produce-delay: want a positive duration, got %v", o.ProduceDelay)
	case o.DrainTimeout <= 0:
		return usagef("flag --drain-timeout: want a positive duration, got %v", o.DrainTimeout)
	case o.Scenario.NeedsBroker() && kf.brokersGiven():
		return usagef("flag --scenario: %s controls the embedded broker: it cannot run with --kafka-servers", o.Scenario)
	}
	if probes {
		opts.Probe = probe
	}
	if o.Scenario == loadgen.Burst && !given["queue-size"] {
		opts.QueueSize = 0 // loadgen.BurstQueueSize
	}
	return nil
}
