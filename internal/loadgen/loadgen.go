// Package loadgen is the load generator of the log pipeline, behind
// `kafkaesk bench`: goroutines make a realistic log call through
// sloghandler at a given rate, or flat out, for a given time; each call is
// timed on the caller; a monitor samples the handler's counters, the
// latencies and the heap every 250ms; and after the load the handler is
// drained and closed, so that the [Result]'s counts are final.
//
// What it shows: the handler never holds the caller on Kafka. The
// scenarios make the broker slow ([SlowBroker]) or refuse writes
// ([Outage]), or the load exceed what the pipeline delivers ([Burst]);
// the callers' latency should not move, and what could not be delivered
// is dropped and counted.
//
//	res, err := loadgen.Run(ctx, app, loadgen.Options{Rate: 5000, Progress: os.Stderr})
//	if err != nil { ... }
//	res.WriteText(os.Stdout)
//
// # Goroutines
//
// [Run] owns every goroutine it starts (the loggers, the monitor, the
// outage's timer) and they have all ended when it returns, as has the
// handler's worker.
package loadgen

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// Defaults of Options.
const (
	DefaultGoroutines   = 8
	DefaultDuration     = 10 * time.Second
	DefaultStream       = "bench.logs"
	DefaultOutage       = 5 * time.Second
	DefaultProduceDelay = 50 * time.Millisecond
	DefaultDrainTimeout = 30 * time.Second
	// BurstQueueSize is the Burst scenario's queue unless QueueSize is
	// set: small, so that it overflows at once.
	BurstQueueSize = 1000
)

// Options configures a run. The zero value is valid: 8 goroutines logging
// flat out for 10s into a 10,000-event queue that drops when full, on the
// stream "bench.logs", with no scenario, no probe and no progress shown.
// Run copies Options and never writes to the caller's.
type Options struct {
	// Scenario is a preset load. Default: NoScenario.
	Scenario Scenario
	// Goroutines is how many goroutines log at once. Default: 8.
	Goroutines int
	// Rate is the events per second of all goroutines together; 0 is
	// flat out. Ignored when Probe is set. Default: 0.
	Rate int
	// Probe, when positive, is how long to log flat out first (with the
	// Block policy, whatever WhenFull says) to find the capacity: the
	// load is then Scenario.LoadShare of it. Default: 0, no probe.
	Probe time.Duration
	// Duration is how long the goroutines log. Default: 10s.
	Duration time.Duration
	// QueueSize is the handler's queue, in events. Default:
	// sloghandler.DefaultQueueSize, or BurstQueueSize for Burst.
	QueueSize int
	// WhenFull is the handler's policy when its queue is full.
	// Default: sloghandler.DropNewest.
	WhenFull sloghandler.FullPolicy
	// Stream is the stream the events are published to; Run creates it
	// first, so that no run measures its creation. Default: "bench.logs".
	Stream string
	// Outage is how long the Outage scenario's broker refuses produce
	// requests, centred in the run; shorter than Duration. Default: 5s.
	Outage time.Duration
	// ProduceDelay is how late the SlowBroker scenario's broker answers
	// each produce request. Default: 50ms.
	ProduceDelay time.Duration
	// DrainTimeout bounds how long, after the load, the queued events may
	// take to be acknowledged; what is left then is failed by Close.
	// Default: 30s.
	DrainTimeout time.Duration
	// Baseline then times the same calls, paced the same, through
	// slog.JSONHandler into io.Discard: what the machine adds to any log
	// call, Kafka or not. Default: false.
	Baseline bool
	// Broker controls the broker when it lives in this process: the
	// SlowBroker and Outage scenarios need it, and the run trims the
	// stream's topic every sample so that the memory measured is the
	// pipeline's. Result.Broker is then "embedded". Default: nil, a
	// cluster elsewhere.
	Broker Broker
	// Progress receives a status line every sample (redrawn in place on
	// a terminal, a line a second elsewhere), the run's messages and the
	// handler's warnings. It is written from Run's goroutines, one at a
	// time. Default: nil, nothing shown.
	Progress io.Writer
	// Name starts the run's messages on Progress, as in "kafkaesk bench:
	// probing the capacity". Default: "loadgen".
	Name string
}

// withDefaults returns a copy of o with the defaults in place of zeros.
func (o Options) withDefaults() Options {
	o.Goroutines = orDefault(o.Goroutines, DefaultGoroutines)
	o.Duration = orDefault(o.Duration, DefaultDuration)
	if o.QueueSize == 0 {
		o.QueueSize = sloghandler.DefaultQueueSize
		if o.Scenario == Burst {
			o.QueueSize = BurstQueueSize
		}
	}
	o.Stream = orDefault(o.Stream, DefaultStream)
	o.Outage = orDefault(o.Outage, DefaultOutage)
	o.ProduceDelay = orDefault(o.ProduceDelay, DefaultProduceDelay)
	o.DrainTimeout = orDefault(o.DrainTimeout, DefaultDrainTimeout)
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	o.Name = orDefault(o.Name, "loadgen")
	return o
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// validate checks the options, defaults applied, and returns every
// problem at once.
func (o *Options) validate() error {
	var errs []error
	for _, c := range []struct {
		name  string
		value time.Duration
	}{
		{"duration", o.Duration},
		{"probe", o.Probe},
		{"outage", o.Outage},
		{"produce delay", o.ProduceDelay},
		{"drain timeout", o.DrainTimeout},
	} {
		if c.value < 0 {
			errs = append(errs, fmt.Errorf("%s %v is less than allowed 0s", c.name, c.value))
		}
	}
	for _, c := range []struct {
		name      string
		value, lo int
	}{
		{"goroutines", o.Goroutines, 1},
		{"rate", o.Rate, 0},
		{"queue size", o.QueueSize, 1},
	} {
		if c.value < c.lo {
			errs = append(errs, fmt.Errorf("%s %d is less than allowed %d", c.name, c.value, c.lo))
		}
	}
	switch o.Scenario {
	case NoScenario, Steady, Burst, SlowBroker, Outage:
	default:
		errs = append(errs, fmt.Errorf("scenario %q is not one of %v", o.Scenario, Scenarios))
	}
	if o.Scenario.NeedsBroker() && o.Broker == nil {
		errs = append(errs, fmt.Errorf("scenario %s controls the broker: it needs Options.Broker", o.Scenario))
	}
	if o.Scenario == Outage && o.Outage >= o.Duration {
		errs = append(errs, fmt.Errorf("outage %v is not shorter than the duration %v", o.Outage, o.Duration))
	}
	if o.WhenFull != sloghandler.DropNewest && o.WhenFull != sloghandler.Block {
		errs = append(errs, fmt.Errorf("when full %d is not DropNewest or Block", o.WhenFull))
	}
	return errors.Join(errs...)
}

// policyName is WhenFull as the summary and the flag spell it.
func policyName(p sloghandler.FullPolicy) string {
	if p == sloghandler.Block {
		return "block"
	}
	return "drop"
}
