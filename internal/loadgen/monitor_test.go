package loadgen

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// clockCounters is a handler's counters as a function of the bubble's
// time: a thousand events sent a second, half of them acknowledged.
type clockCounters struct{ start time.Time }

func (c clockCounters) counts() counts {
	n := time.Since(c.start).Milliseconds()
	return counts{Stats: sloghandler.Stats{Enqueued: n, Published: n / 2, Queued: n - n/2}, Acked: n / 2}
}

// The monitor samples every 250ms, exactly, and once more when stopped;
// each sample has the rates since the previous one and the callers'
// latency of that interval only.
func TestMonitorSamplesEveryQuarterSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lats := newLatencyRecorders(2)
		var trims atomic.Int64
		var out bytes.Buffer
		mon := startMonitor(clockCounters{time.Now()}, lats, newProgress(&out), "load", func() { trims.Add(1) }, nil)
		lats[1].record(2 * time.Millisecond) // in the first interval only
		time.Sleep(time.Second + 100*time.Millisecond)
		mon.loadEnded()
		mon.stop()

		s := mon.samples
		require.Len(t, s, 5, "4 ticks, then the last sample at stop")
		for i, want := range []time.Duration{250, 500, 750, 1000, 1100} {
			assert.Equal(t, want*time.Millisecond, s[i].at, "sample %d", i)
			assert.InDelta(t, 1000, s[i].sentRate, 0.001, "sample %d", i)
			assert.InDelta(t, 500, s[i].ackedRate, 1, "sample %d", i)
			assert.Equal(t, i == 4, s[i].draining, "sample %d: only the last is after the load", i)
		}
		assert.Equal(t, int64(1100), s[4].sent)
		assert.Equal(t, int64(1), s[0].calls)
		assert.InEpsilon(t, int64(2*time.Millisecond), s[0].p99, 0.001)
		assert.Zero(t, s[1].calls, "the interval's histograms start empty")
		assert.Zero(t, s[1].p99)
		assert.Equal(t, int64(5), trims.Load(), "the broker is trimmed at every sample")
		assert.Positive(t, mon.peakHeap)
	})
}

// In an outage run, each interval's latencies go to the phase its
// middle falls in: before, during or after the outage.
func TestMonitorSortsLatenciesIntoTheOutagesPhases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lats := newLatencyRecorders(1)
		ph := newPhases(250*time.Millisecond, 500*time.Millisecond)
		mon := startMonitor(clockCounters{time.Now()}, lats, newProgress(io.Discard), "load", nil, ph)
		for i, d := range []time.Duration{time.Microsecond, 2 * time.Microsecond, 30 * time.Microsecond, 40 * time.Microsecond, 500 * time.Microsecond, 600 * time.Microsecond} {
			lats[0].record(d) // two calls an interval: 0-250ms, 250-500ms, ...
			if i%2 == 1 {
				time.Sleep(250 * time.Millisecond)
			} else {
				time.Sleep(time.Millisecond)
			}
		}
		mon.stop()

		sums := ph.summaries()
		assert.Equal(t, int64(2), sums[phaseBefore].calls, "the first interval ends before the outage")
		assert.Equal(t, int64(2), sums[phaseDuring].calls)
		assert.Equal(t, int64(2), sums[phaseAfter].calls)
		assert.InEpsilon(t, int64(2*time.Microsecond), sums[phaseBefore].maxLat, 0.001)
		assert.InEpsilon(t, int64(40*time.Microsecond), sums[phaseDuring].maxLat, 0.001)
		assert.InEpsilon(t, int64(30*time.Microsecond), sums[phaseDuring].p50, 0.001)
		assert.InEpsilon(t, int64(600*time.Microsecond), sums[phaseAfter].maxLat, 0.001)
	})
}

// progressLine matches a status line: the phase, the time, the counters.
var progressLine = regexp.MustCompile(`^(load|draining) +\d+\.\ds  sent [\d,]+ \([\d.]+k?/s\)  acked [\d,]+ \([\d.]+k?/s\)  dropped \d+  queue [\d,]+  heap [\d.]+ MiB$`)

// Off a terminal the status is a line a second, not one per sample, and
// the last one always.
func TestProgressIsALineASecondOffATerminal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		mon := startMonitor(clockCounters{time.Now()}, newLatencyRecorders(1), newProgress(&out), "load", nil, nil)
		time.Sleep(2600 * time.Millisecond)
		mon.loadEnded()
		mon.stop()

		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		require.Len(t, lines, 4, "at 0.25s, 1.25s, 2.25s, and the last at 2.6s:\n%s", out.String())
		for _, l := range lines {
			assert.Regexp(t, progressLine, l)
		}
		assert.True(t, strings.HasPrefix(lines[3], "draining       2.6s  sent 2,600 (1.0k/s)  acked 1,300 (500/s)"), lines[3])
		assert.Len(t, mon.samples, 11, "every sample is kept for the chart")
	})
}

// On a terminal the status line is redrawn in place, and a message
// printed meanwhile clears it first and ends with its own newline.
func TestProgressOnATerminalRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out, tty: true}
	p.show("load 1", false)
	p.show("load 2", false)
	p.Write([]byte("kafkaesk: sloghandler: queue full\n"))
	p.show("load 3", true)
	p.end()
	p.end() // nothing to end

	assert.Equal(t, "\rload 1\x1b[K\rload 2\x1b[K\r\x1b[Kkafkaesk: sloghandler: queue full\n\rload 3\x1b[K\n", out.String())
}
