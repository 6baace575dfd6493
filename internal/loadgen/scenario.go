package loadgen

import (
	"time"
)

// Scenario is a preset load. The zero value, [NoScenario], is the load
// that [Options.Rate] says.
type Scenario string

// The scenarios.
const (
	NoScenario Scenario = ""
	// Steady loads half the probed capacity.
	Steady Scenario = "steady"
	// Burst loads twice the probed capacity into a small queue (1,000
	// events unless [Options.QueueSize] is set), so that it overflows.
	Burst Scenario = "burst"
	// SlowBroker makes the broker answer each produce request
	// [Options.ProduceDelay] late. It needs [Options.Broker].
	SlowBroker Scenario = "slow-broker"
	// Outage makes the broker refuse produce requests for
	// [Options.Outage], centred in the run. It needs [Options.Broker].
	Outage Scenario = "outage"
)

// Scenarios lists the scenarios, NoScenario excepted, in the order a
// usage message gives them.
var Scenarios = []Scenario{Steady, Burst, SlowBroker, Outage}

// NeedsBroker reports whether the scenario controls the broker, and so
// needs [Options.Broker].
func (s Scenario) NeedsBroker() bool { return s == SlowBroker || s == Outage }

// LoadShare is the part of the probed capacity the scenario loads when
// [Options.Probe] is set: twice for Burst, which is about more than the
// pipeline delivers, half for the others.
func (s Scenario) LoadShare() float64 {
	if s == Burst {
		return 2
	}
	return 0.5
}

// label names the run in the summary and the chart.
func (s Scenario) label() string {
	if s == NoScenario {
		return "none"
	}
	return string(s)
}

// progressLabel starts the progress lines of the run.
func (s Scenario) progressLabel() string {
	if s == NoScenario {
		return "load"
	}
	return string(s)
}

// Broker is the control of a broker living in this process that the
// SlowBroker and Outage scenarios need, as *kafkaesktest.Broker offers.
// Its methods must be safe for concurrent use.
type Broker interface {
	// SlowProduce answers every produce request d late until restore.
	SlowProduce(d time.Duration) (restore func())
	// Pause refuses every produce request until resume.
	Pause() (resume func())
	// Truncate drops the records stored for topic, so that the broker's
	// memory is not counted as the pipeline's.
	Truncate(topic string) error
}

// counters is what the monitor and the outage read of the pipeline: a
// *pipeline, or a fake in tests. counts must be safe to call
// concurrently with logging.
type counters interface {
	counts() counts
}

// outageEvents is what happened during the outage scenario. Times are
// since the start of the load; zero: did not happen.
type outageEvents struct {
	pausedAt, resumedAt time.Duration
	recoveredAt         time.Duration // the first acknowledgement after resumedAt; zero: none before the load ended
	droppedAtPause      int64
	droppedAtResume     int64
	spooledAtPause      int64
	spooledAtResume     int64
	ackedAtResume       int64
}

// recoveryPoll is how often the outage looks for the first
// acknowledgement after the broker is back.
const recoveryPoll = 5 * time.Millisecond

// outage is the outage scenario's broker fault over one load.
type outage struct {
	broker Broker
	h      counters
	start  time.Time     // the load's start
	load   time.Duration // the load's planned length
	length time.Duration // of the outage, shorter than load
	say    func(format string, args ...any)
}

// run pauses the broker for o.length, centred in the load, and records
// what the handler had done by then and when it delivered again. It
// blocks until then, or until loadDone is closed; the broker is resumed
// whenever it returns after pausing it. Its caller owns it: run it on a
// goroutine and wait for it before reading the events.
func (o *outage) run(loadDone <-chan struct{}) outageEvents {
	var ev outageEvents
	t := time.NewTimer(time.Until(o.start.Add((o.load - o.length) / 2)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-loadDone:
		return ev
	}
	resume := o.broker.Pause()
	ev.pausedAt = time.Since(o.start)
	s := o.h.counts()
	ev.droppedAtPause, ev.spooledAtPause = s.Dropped, s.Spooled
	o.say("outage: the broker refuses produce requests for %v", o.length)
	t.Reset(o.length)
	select {
	case <-t.C:
	case <-loadDone:
	}
	resume()
	ev.resumedAt = time.Since(o.start)
	s = o.h.counts()
	ev.droppedAtResume, ev.spooledAtResume, ev.ackedAtResume = s.Dropped, s.Spooled, s.Acked
	o.say("outage over: the broker accepts produce requests again")

	// How long the pipeline takes to deliver again: the retry backoffs
	// of the handler and of the producer.
	poll := time.NewTicker(recoveryPoll)
	defer poll.Stop()
	for o.h.counts().Acked == ev.ackedAtResume {
		select {
		case <-poll.C:
		case <-loadDone:
			return ev
		}
	}
	ev.recoveredAt = time.Since(o.start)
	return ev
}
