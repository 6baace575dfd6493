package loadgen

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatting(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{commas(0), "0"},
		{commas(999), "999"},
		{commas(1000), "1,000"},
		{commas(1234567), "1,234,567"},
		{commas(-1234567), "-1,234,567"},
		{si(950), "950"},
		{si(12_345), "12.3k"},
		{si(1_250_000), "1.25M"},
		{fmtMicros(3.41), "3.4µs"},
		{fmtMicros(1500), "1.50ms"},
		{fmtMicros(2_500_000), "2.50s"},
		{mib(3 << 20), "3.0 MiB"},
	} {
		assert.Equal(t, tt.want, tt.got)
	}
	assert.Zero(t, percent(1, 0))
	assert.Equal(t, 25.0, percent(1, 4))
}

// sampleResult is a run with an outage, as a chart and a summary see it.
func sampleResult() *Result {
	r := &Result{
		Scenario: "outage", Broker: "embedded", Goroutines: 2, TargetRate: 4000,
		QueueSize: 10, WhenFull: "drop", EventBytes: 408,
		LoadSeconds: 3, DrainSeconds: 0.01,
		Sent: 12000, SentPerSecond: 4000, Acknowledged: 11000, AckedPerSecond: 3655, Dropped: 1000,
		LatencyP50Micro: 3.4, LatencyP99Micro: 28.9, LatencyP999Micro: 77.4, LatencyMaxMicro: 1500,
		Baseline:      &LatencyResult{Calls: 12000, P50Micro: 1, P99Micro: 2, P999Micro: 3, MaxMicro: 4},
		PeakHeapBytes: 6 << 20, PeakLiveBytes: 4 << 20, MaxRSSBytes: 28 << 20, CPUSeconds: 0.3,
		Outage: &OutageResult{StartSeconds: 1, EndSeconds: 2, DroppedDuring: 1000, AcknowledgedAfter: 7000, RecoverySeconds: 0.3},
	}
	for i := 1; i <= 13; i++ {
		at := time.Duration(i) * sampleInterval
		s := sample{at: at, sentRate: 4000, ackedRate: 4000, calls: 1000, p99: 30_000, draining: i == 13}
		if at > time.Second && at <= 2*time.Second {
			s.ackedRate, s.p99 = 0, 90_000
		}
		if s.draining {
			s.calls, s.p99 = 0, 0
		}
		r.samples = append(r.samples, s)
	}
	return r
}

func TestWriteTextPrintsEveryMeasure(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, sampleResult().WriteText(&out))
	for _, want := range []string{
		"scenario        outage\n",
		"load            2 goroutines, 4,000 events/s, 3.00s, queue 10 (drop), 408-byte events, broker embedded\n",
		"outage          produce refused from 1.00s to 2.00s; 1,000 dropped meanwhile; delivering again 0.30s after it; 7,000 acknowledged after it\n",
		"sent            12,000 events",
		"dropped         1,000 events",
		"8.33%",
		"caller latency  p50 3.4µs",
		"max 1.50ms",
		"baseline        p50 1.0µs",
		"peak memory     heap 6.0 MiB",
		"RSS 28.0 MiB",
		"CPU             0.30s user+sys",
	} {
		assert.Contains(t, out.String(), want)
	}
	assert.NotContains(t, out.String(), "close", "no close error")
}

// Events given up on while a request carried them are counted apart from
// the failed ones, and the line appears only when there are some.
func TestWriteTextCountsUnknownOutcomesApart(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, (&Result{Scenario: "none", Sent: 10, Acknowledged: 5, Failed: 2, Unknown: 3}).WriteText(&out))
	assert.Contains(t, out.String(), "failed           2 events\n")
	assert.Contains(t, out.String(), "outcome unknown  3 events (given up on while a request carried them: they may be in the topic)\n")
	out.Reset()
	require.NoError(t, (&Result{Scenario: "none"}).WriteText(&out))
	assert.NotContains(t, out.String(), "outcome unknown")
}

// The summary says which share of the probed capacity was loaded: twice
// for burst, where it used to say half for every scenario.
func TestWriteTextGivesTheLoadedShare(t *testing.T) {
	for _, tt := range []struct{ scenario, want string }{
		{"steady", "; the load is half of it\n"},
		{"burst", "; the load is twice it\n"},
	} {
		var out bytes.Buffer
		require.NoError(t, (&Result{Scenario: tt.scenario, ProbedCapacity: 20_000}).WriteText(&out))
		assert.Contains(t, out.String(), "probed capacity  20,000 events/s acknowledged flat out (block policy)"+tt.want)
	}
}

// spooledResult is sampleResult with a disk spool that took what the
// queue could not during the outage.
func spooledResult() *Result {
	r := sampleResult()
	r.Acknowledged, r.Dropped = 12000, 0
	r.Outage.DroppedDuring, r.Outage.SpooledDuring = 0, 1000
	r.Spool = &SpoolResult{Dir: "/var/spool/bench", Spooled: 1000, PeakMessages: 900, PeakBytes: 3 << 20}
	for i := range r.samples {
		if at := r.samples[i].at; at > time.Second && at <= 2*time.Second {
			r.samples[i].onDisk = int64(at/time.Millisecond) - 1000
		}
	}
	return r
}

func TestWriteTextShowsTheSpool(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, spooledResult().WriteText(&out))
	assert.Contains(t, out.String(), "outage          produce refused from 1.00s to 2.00s; 0 dropped, 1,000 spooled meanwhile;")
	assert.Contains(t, out.String(), "spool           1,000 events spooled, at most 900 (3.0 MiB) on disk; 0 left in /var/spool/bench\n")
	out.Reset()
	require.NoError(t, sampleResult().WriteText(&out))
	assert.NotContains(t, out.String(), "spool")
}

// The chart is a PNG of the documented size, also for a run without
// samples of latency; with a spool it has a third panel, the backlog,
// and is half again as high.
func TestWritePlotDrawsAPNG(t *testing.T) {
	for name, tt := range map[string]struct {
		r      *Result
		height int
	}{
		"outage":     {sampleResult(), 672},
		"no samples": {&Result{Scenario: "none"}, 672},
		"spool":      {spooledResult(), 1008},
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, WritePlot(&out, tt.r))
			img, err := png.Decode(&out)
			require.NoError(t, err)
			assert.Equal(t, 960, img.Bounds().Dx())
			assert.Equal(t, tt.height, img.Bounds().Dy())
		})
	}
}
