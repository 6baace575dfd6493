package loadgen

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// fakeBroker records when it was paused and resumed.
type fakeBroker struct {
	start           time.Time
	mu              sync.Mutex
	paused, resumed []time.Duration // since start
}

func (b *fakeBroker) Pause() func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.paused = append(b.paused, time.Since(b.start))
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.resumed = append(b.resumed, time.Since(b.start))
	}
}

func (b *fakeBroker) SlowProduce(time.Duration) func() { return func() {} }
func (b *fakeBroker) Truncate(string) error            { return nil }

// setCounters is a handler's counters that the test sets.
type setCounters struct{ published, dropped atomic.Int64 }

func (c *setCounters) counts() counts {
	p := c.published.Load()
	return counts{Stats: sloghandler.Stats{Published: p, Dropped: c.dropped.Load()}, Acked: p}
}

// at runs f at d after the start, on a goroutine of the bubble.
func at(wg *sync.WaitGroup, d time.Duration, f func()) {
	wg.Go(func() { time.Sleep(d); f() })
}

// runOutage runs an outage of length in a load of 3s whose end the test
// signals at loadEnd, and returns what it saw.
func runOutage(t *testing.T, length, loadEnd time.Duration, events func(*sync.WaitGroup, *setCounters)) (outageEvents, *fakeBroker, []string) {
	t.Helper()
	start := time.Now()
	b := &fakeBroker{start: start}
	c := &setCounters{}
	var said []string
	o := &outage{broker: b, h: c, start: start, load: 3 * time.Second, length: length,
		say: func(format string, args ...any) { said = append(said, fmt.Sprintf(format, args...)) }}
	var wg sync.WaitGroup
	loadDone := make(chan struct{})
	at(&wg, loadEnd, func() { close(loadDone) })
	if events != nil {
		events(&wg, c)
	}
	ev := o.run(loadDone)
	wg.Wait()
	return ev, b, said
}

// The outage is centred in the load: a 1s outage in a 3s load refuses
// produce requests from 1s to 2s, exactly. What was dropped meanwhile and
// the first acknowledgement after it are measured.
func TestOutageIsCentredInTheLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev, b, said := runOutage(t, time.Second, 3*time.Second, func(wg *sync.WaitGroup, c *setCounters) {
			at(wg, 500*time.Millisecond, func() { c.dropped.Store(10); c.published.Store(100) })
			at(wg, 1500*time.Millisecond, func() { c.dropped.Store(30) })
			at(wg, 2302*time.Millisecond, func() { c.published.Store(101) }) // the first retry
		})

		assert.Equal(t, []time.Duration{time.Second}, b.paused)
		assert.Equal(t, []time.Duration{2 * time.Second}, b.resumed)
		assert.Equal(t, time.Second, ev.pausedAt)
		assert.Equal(t, 2*time.Second, ev.resumedAt)
		assert.Equal(t, int64(10), ev.droppedAtPause)
		assert.Equal(t, int64(30), ev.droppedAtResume)
		assert.Equal(t, int64(100), ev.ackedAtResume)
		assert.Equal(t, 2305*time.Millisecond, ev.recoveredAt, "seen at the next 5ms poll")
		assert.Equal(t, []string{
			"outage: the broker refuses produce requests for 1s",
			"outage over: the broker accepts produce requests again",
		}, said)
	})
}

// A load that ends during the outage resumes the broker then, and
// recovery is not waited for.
func TestOutageEndsWithTheLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		ev, b, _ := runOutage(t, time.Second, 1500*time.Millisecond, nil)

		assert.Equal(t, 1500*time.Millisecond, time.Since(start), "run returns with the load")
		assert.Equal(t, []time.Duration{time.Second}, b.paused)
		assert.Equal(t, []time.Duration{1500 * time.Millisecond}, b.resumed, "the broker is never left paused")
		assert.Zero(t, ev.recoveredAt, "no acknowledgement before the load ended")
	})
}

// A load that ends before the outage's start never pauses the broker.
func TestOutageNotStartedWhenTheLoadEndsFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev, b, said := runOutage(t, time.Second, 500*time.Millisecond, nil)

		assert.Empty(t, b.paused)
		assert.Zero(t, ev)
		assert.Empty(t, said)
	})
}

func TestScenarioLoadShare(t *testing.T) {
	for _, tt := range []struct {
		s         Scenario
		share     float64
		broker    bool
		label     string
		progLabel string
	}{
		{NoScenario, 0.5, false, "none", "load"},
		{Steady, 0.5, false, "steady", "steady"},
		{Burst, 2, false, "burst", "burst"},
		{SlowBroker, 0.5, true, "slow-broker", "slow-broker"},
		{Outage, 0.5, true, "outage", "outage"},
	} {
		t.Run(tt.label, func(t *testing.T) {
			assert.Equal(t, tt.share, tt.s.LoadShare())
			assert.Equal(t, tt.broker, tt.s.NeedsBroker())
			assert.Equal(t, tt.label, tt.s.label())
			assert.Equal(t, tt.progLabel, tt.s.progressLabel())
		})
	}
}
