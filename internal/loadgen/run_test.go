package loadgen_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/loadgen"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

var _ loadgen.Broker = (*kafkaesktest.Broker)(nil)

// newApp returns an application on a new embedded broker, both closed at
// the end of the test.
func newApp(t *testing.T) (*core.Application, *kafkaesktest.Broker) {
	t.Helper()
	b := kafkaesktest.New(t, nil)
	app, err := core.New(core.Config{Brokers: b.Brokers(), TopicPrefix: kafkaesktest.TopicPrefix(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return app, b
}

// A paced run delivers its events and accounts for every one of them
// once drained; the progress goes to Options.Progress under Options.Name.
func TestRunAccountsForEveryEvent(t *testing.T) {
	app, b := newApp(t)
	var prog bytes.Buffer
	res, err := loadgen.Run(t.Context(), app, loadgen.Options{
		Goroutines: 2, Rate: 2000, Duration: 500 * time.Millisecond,
		Broker: b, Progress: &prog, Name: "test", Baseline: true,
	})
	require.NoError(t, err)

	assert.Equal(t, "none", res.Scenario)
	assert.Equal(t, "embedded", res.Broker)
	assert.Equal(t, 2000, res.TargetRate)
	assert.Equal(t, 10_000, res.QueueSize)
	assert.Equal(t, "drop", res.WhenFull)
	assert.Equal(t, loadgen.EventSize(), res.EventBytes)
	assert.Positive(t, res.Acknowledged)
	assert.Equal(t, res.Sent, res.Acknowledged+res.Dropped+res.Failed+res.Unknown, "every event is acknowledged, dropped, failed or of unknown outcome once drained")
	assert.InDelta(t, 0.5, res.LoadSeconds, 0.1)
	assert.LessOrEqual(t, res.LatencyP50Micro, res.LatencyMaxMicro)
	require.NotNil(t, res.Baseline)
	assert.Positive(t, res.Baseline.Calls)
	assert.Contains(t, prog.String(), "test: baseline: the same calls")
	assert.Regexp(t, `(?m)^load +\d+\.\ds +sent `, prog.String())
}

// With Probe the load is the scenario's share of the capacity measured.
func TestRunProbesThenLoadsAShare(t *testing.T) {
	app, b := newApp(t)
	res, err := loadgen.Run(t.Context(), app, loadgen.Options{
		Scenario: loadgen.Steady, Probe: 300 * time.Millisecond,
		Goroutines: 2, Duration: 300 * time.Millisecond, Broker: b,
	})
	require.NoError(t, err)
	assert.Positive(t, res.ProbedCapacity)
	assert.InDelta(t, res.ProbedCapacity/2, res.TargetRate, 1)
}

// A run interrupted during the probe measured nothing: no Result, and an
// error that says why.
func TestRunInterruptedDuringTheProbe(t *testing.T) {
	app, b := newApp(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	res, err := loadgen.Run(ctx, app, loadgen.Options{Scenario: loadgen.Steady, Probe: time.Minute, Broker: b})
	assert.Nil(t, res)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// Bad options fail before anything is started, Kafka included.
func TestRunRejectsBadOptionsFirst(t *testing.T) {
	res, err := loadgen.Run(t.Context(), nil, loadgen.Options{Scenario: loadgen.Outage, Duration: time.Second})
	assert.Nil(t, res)
	assert.ErrorContains(t, err, "loadgen: scenario outage controls the broker: it needs Options.Broker")
	assert.ErrorContains(t, err, "outage 5s is not shorter than the duration 1s")
}

// The broker refuses produce requests for a second in the middle of a
// three-second run: the queue overflows (drops are counted), and once the
// broker is back what was held is delivered.
func TestRunOutageDropsThenDeliversAfterIt(t *testing.T) {
	app, b := newApp(t)
	var prog bytes.Buffer
	// A queue of 10 overflows within the outage even on a machine too
	// busy to reach the rate.
	res, err := loadgen.Run(t.Context(), app, loadgen.Options{
		Scenario: loadgen.Outage, Duration: 3 * time.Second, Outage: time.Second,
		Rate: 4000, Goroutines: 2, QueueSize: 10, Broker: b, Progress: &prog,
	})
	require.NoError(t, err)
	o := res.Outage
	require.NotNil(t, o, "the summary has the outage")
	assert.Greater(t, o.StartSeconds, 0.9, "the outage is in the middle of the run")
	assert.GreaterOrEqual(t, o.EndSeconds-o.StartSeconds, 1.0, "the outage lasts Outage")
	assert.Less(t, o.EndSeconds, res.LoadSeconds+0.001, "the broker is back before the load ends")
	assert.Positive(t, o.DroppedDuring, "the queue overflowed during the outage")
	assert.Positive(t, res.Dropped)
	assert.Positive(t, o.AcknowledgedAfter, "events were acknowledged after the outage")
	assert.GreaterOrEqual(t, o.RecoverySeconds, 0.0, "delivering again before the load ended")
	assert.Zero(t, res.Failed, "everything held during the outage was delivered")
	assert.Zero(t, res.Unknown, "everything held during the outage was delivered")
	assert.Contains(t, prog.String(), "loadgen: outage over")
}

// With a disk spool, the same outage drops nothing: the full queue
// spills to the spool, which drains once the broker is back, and the
// run waits for it before it counts.
func TestRunOutageWithASpoolDropsNothing(t *testing.T) {
	b := kafkaesktest.New(t, nil)
	dir := t.TempDir()
	app, err := core.New(core.Config{Brokers: b.Brokers(), TopicPrefix: kafkaesktest.TopicPrefix(t),
		Logger: slog.New(slog.DiscardHandler), Spool: core.SpoolConfig{Dir: dir}})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close(context.Background()) })
	var prog bytes.Buffer
	res, err := loadgen.Run(t.Context(), app, loadgen.Options{
		Scenario: loadgen.Outage, Duration: 3 * time.Second, Outage: time.Second,
		Rate: 4000, Goroutines: 2, QueueSize: 10, Broker: b, Progress: &prog,
	})
	require.NoError(t, err)
	assert.Zero(t, res.Dropped, "none dropped")
	assert.Zero(t, res.Failed)
	assert.Zero(t, res.Unknown)
	require.NotNil(t, res.Spool, "the summary has the spool")
	assert.Equal(t, dir, res.Spool.Dir)
	assert.Positive(t, res.Spool.Spooled, "the queue spilled to the spool")
	assert.Positive(t, res.Outage.SpooledDuring)
	for name, l := range map[string]*loadgen.LatencyResult{"before": res.Outage.CallerBefore, "during": res.Outage.CallerDuring, "after": res.Outage.CallerAfter} {
		if assert.NotNil(t, l, "the callers' latency %s the outage", name) {
			assert.Positive(t, l.Calls, "calls %s the outage", name)
			assert.Positive(t, l.P999Micro, "p99.9 %s the outage", name)
		}
	}
	assert.Positive(t, res.Spool.PeakMessages, "the samples saw the spool fill")
	assert.Zero(t, res.Spool.Left, "and drain")
	assert.Equal(t, res.Sent, res.Acknowledged, "every event acknowledged, from the queue or the spool")
	assert.Contains(t, prog.String(), "spool ")
	var png bytes.Buffer
	require.NoError(t, loadgen.WritePlot(&png, res))
}

// The slow broker holds each produce request: the pipeline falls behind,
// the caller does not wait for it.
func TestRunSlowBrokerStillDelivers(t *testing.T) {
	app, b := newApp(t)
	res, err := loadgen.Run(t.Context(), app, loadgen.Options{
		Scenario: loadgen.SlowBroker, Duration: 500 * time.Millisecond, Rate: 500, Goroutines: 2,
		ProduceDelay: 100 * time.Millisecond, WhenFull: sloghandler.Block, Broker: b,
	})
	require.NoError(t, err)
	assert.Equal(t, 100.0, res.ProduceDelayMillis)
	assert.Equal(t, "block", res.WhenFull)
	assert.Positive(t, res.Acknowledged)
}

// Burst loads twice the probed capacity into a small queue: drops are
// counted, and what is not dropped is delivered.
func TestRunBurstDropsIntoASmallQueue(t *testing.T) {
	app, b := newApp(t)
	res, err := loadgen.Run(t.Context(), app, loadgen.Options{
		Scenario: loadgen.Burst, Duration: time.Second, Probe: 300 * time.Millisecond,
		Goroutines: 2, QueueSize: 10, Broker: b,
	})
	require.NoError(t, err)
	assert.Equal(t, 10, res.QueueSize)
	assert.InDelta(t, 2*res.ProbedCapacity, res.TargetRate, 1, "twice the capacity")
	assert.Positive(t, res.Dropped)
	assert.Positive(t, res.Acknowledged)
	assert.Equal(t, res.Sent, res.Acknowledged+res.Dropped, "nothing failed or of unknown outcome")
}
