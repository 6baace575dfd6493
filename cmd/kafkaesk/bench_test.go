package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kafkaesk-go/kafkaesk/internal/loadgen"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// runBenchArgs runs the bench command in-process against its embedded
// broker and returns its stdout and stderr. Every bench test prints its
// summary with -v, for the numbers.
func runBenchArgs(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = runBench(ctx, &stdio{in: bytes.NewReader(nil), out: &out, err: &errOut}, args)
	t.Logf("kafkaesk bench %v\n%s", args, out.String())
	return out.String(), errOut.String(), err
}

// benchJSON runs the bench with --json and decodes its summary.
func benchJSON(t *testing.T, args ...string) (map[string]any, string) {
	t.Helper()
	out, stderr, err := runBenchArgs(t, append(args, "--json")...)
	require.NoError(t, err, "stderr:\n%s", stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res), "--json prints one JSON object: %s", out)
	return res, stderr
}

func benchNum(t *testing.T, res map[string]any, key string) float64 {
	t.Helper()
	v, ok := res[key].(float64)
	require.True(t, ok, "%q is a number in %v", key, res)
	return v
}

func TestBenchSummaryPrintsEveryMeasure(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	out, stderr, err := runBenchArgs(t, "--duration", "1s", "--goroutines", "2", "--rate", "2000")
	require.NoError(t, err, "stderr:\n%s", stderr)
	for _, want := range []string{
		"scenario", "load", "2 goroutines", "2,000 events/s",
		"sent", "acknowledged", "/s", "dropped", "failed",
		"caller latency", "p50 ", "p99 ", "p99.9 ", "max ",
		"peak memory", "heap", "live", "RSS", "CPU", "user+sys",
	} {
		assert.Contains(t, out, want)
	}
	assert.Contains(t, stderr, "embedded broker listening on 127.0.0.1:")
	assert.Regexp(t, `(?m)^load +\d+\.\ds +sent [\d,]+ \(`, stderr, "a progress line a second when stderr is not a terminal")
}

func TestBenchJSONHasAcknowledgedEventsAndPercentiles(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, _ := benchJSON(t, "--duration", "1s", "--goroutines", "2", "--rate", "5000", "--scenario", "steady")
	assert.Equal(t, "steady", res["scenario"])
	assert.Equal(t, "embedded", res["broker"])
	assert.Greater(t, benchNum(t, res, "acknowledged"), 0.0)
	assert.Equal(t, benchNum(t, res, "sent"), benchNum(t, res, "acknowledged")+benchNum(t, res, "dropped")+benchNum(t, res, "failed")+benchNum(t, res, "unknown"),
		"every event sent is acknowledged, dropped, failed or of unknown outcome once drained")
	p50, p999, maxLat := benchNum(t, res, "latency_p50_us"), benchNum(t, res, "latency_p99_9_us"), benchNum(t, res, "latency_max_us")
	assert.Greater(t, p999, 0.0)
	assert.LessOrEqual(t, p50, p999)
	assert.LessOrEqual(t, p999, maxLat)
	assert.Greater(t, benchNum(t, res, "sent_per_s"), 0.0)
	assert.Greater(t, benchNum(t, res, "acknowledged_per_s"), 0.0)
	assert.Greater(t, benchNum(t, res, "peak_heap_bytes"), 0.0)
	assert.Greater(t, benchNum(t, res, "peak_live_heap_bytes"), 0.0)
	assert.Greater(t, benchNum(t, res, "cpu_s"), 0.0)
	assert.Greater(t, benchNum(t, res, "event_bytes"), 200.0)
}

// Without --rate, steady measures the capacity first and loads half of it.
func TestBenchSteadyProbesTheCapacity(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, stderr := benchJSON(t, "--duration", "1s", "--goroutines", "2", "--scenario", "steady", "--probe", "1s")
	capacity := benchNum(t, res, "probed_capacity")
	assert.Greater(t, capacity, 0.0)
	assert.InDelta(t, capacity/2, benchNum(t, res, "target_rate"), 1)
	assert.Contains(t, stderr, "probing the capacity")
	assert.Greater(t, benchNum(t, res, "acknowledged"), 0.0)
}

// With --rate 0 a scenario runs flat out, without a probe.
func TestBenchScenarioWithRateZeroRunsFlatOut(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, stderr := benchJSON(t, "--scenario", "burst", "--rate", "0", "--duration", "500ms", "--goroutines", "2", "--queue-size", "10")
	assert.Zero(t, benchNum(t, res, "target_rate"), "flat out")
	assert.NotContains(t, stderr, "probing")
	assert.Greater(t, benchNum(t, res, "dropped"), 0.0)
}

// --baseline times the same calls through slog.JSONHandler: what any log
// call costs on this machine.
func TestBenchBaselineTimesTheSameCallsWithoutKafka(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, stderr := benchJSON(t, "--duration", "1s", "--goroutines", "2", "--rate", "2000", "--baseline")
	bl, ok := res["baseline_latency"].(map[string]any)
	require.True(t, ok, "the summary has the baseline: %v", res)
	assert.Greater(t, benchNum(t, bl, "calls"), 0.0)
	assert.Greater(t, benchNum(t, bl, "p99_9_us"), 0.0)
	assert.Contains(t, stderr, "baseline")
}

func TestBenchPlotWritesAPNGChart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := filepath.Join(t.TempDir(), "bench.png")
	_, stderr, err := runBenchArgs(t, "--scenario", "outage", "--duration", "2s", "--outage", "500ms",
		"--rate", "2000", "--goroutines", "2", "--plot", path)
	require.NoError(t, err, "stderr:\n%s", stderr)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, "the chart is a PNG")
	b := img.Bounds()
	assert.GreaterOrEqual(t, b.Dx(), 600)
	assert.GreaterOrEqual(t, b.Dy(), 400)
	assert.Contains(t, stderr, "chart written to "+path)
}

func TestBenchPlotToABadPathFailsBeforeTheRun(t *testing.T) {
	_, stderr, err := runBenchArgs(t, "--plot", filepath.Join(t.TempDir(), "missing", "bench.png"))
	require.Error(t, err)
	var uerr *usageError
	assert.False(t, errors.As(err, &uerr), "a failure, exit 1")
	assert.Contains(t, err.Error(), "--plot")
	assert.NotContains(t, stderr, "listening on", "nothing was started")
}

// The flags become loadgen.Options: the zero values that stand for the
// engine's defaults (the burst queue), the probe only for a scenario
// without --rate, and the policy and scenario by name.
func TestBenchFlagsMapToOptions(t *testing.T) {
	defaults := loadgen.Options{
		Goroutines: 8, Duration: 10 * time.Second, QueueSize: sloghandler.DefaultQueueSize, Stream: "bench.logs",
		Outage: 5 * time.Second, ProduceDelay: 50 * time.Millisecond, DrainTimeout: 30 * time.Second,
	}
	with := func(f func(o *loadgen.Options)) loadgen.Options { o := defaults; f(&o); return o }
	for _, tt := range []struct {
		args []string
		want loadgen.Options
	}{
		{nil, defaults},
		{[]string{"--goroutines", "2", "--rate", "100", "--duration", "1s", "--stream", "s", "--baseline", "--drain-timeout", "2s"},
			with(func(o *loadgen.Options) {
				o.Goroutines, o.Rate, o.Duration, o.Stream, o.Baseline, o.DrainTimeout = 2, 100, time.Second, "s", true, 2*time.Second
			})},
		{[]string{"--when-full", "block", "--queue-size", "5"},
			with(func(o *loadgen.Options) { o.WhenFull, o.QueueSize = sloghandler.Block, 5 })},
		{[]string{"--scenario", "steady"},
			with(func(o *loadgen.Options) { o.Scenario, o.Probe = loadgen.Steady, 2*time.Second })},
		{[]string{"--scenario", "steady", "--rate", "0"},
			with(func(o *loadgen.Options) { o.Scenario = loadgen.Steady })},
		{[]string{"--scenario", "burst", "--probe", "300ms"},
			with(func(o *loadgen.Options) { o.Scenario, o.Probe, o.QueueSize = loadgen.Burst, 300*time.Millisecond, 0 })},
		{[]string{"--scenario", "burst", "--queue-size", "10", "--rate", "50"},
			with(func(o *loadgen.Options) { o.Scenario, o.Rate, o.QueueSize = loadgen.Burst, 50, 10 })},
		{[]string{"--scenario", "slow-broker", "--produce-delay", "100ms", "--rate", "1"},
			with(func(o *loadgen.Options) {
				o.Scenario, o.Rate, o.ProduceDelay = loadgen.SlowBroker, 1, 100*time.Millisecond
			})},
		{[]string{"--scenario", "outage", "--outage", "1s", "--duration", "3s", "--rate", "1"},
			with(func(o *loadgen.Options) {
				o.Scenario, o.Rate, o.Outage, o.Duration = loadgen.Outage, 1, time.Second, 3*time.Second
			})},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			c, err := parseBench(&stdio{in: bytes.NewReader(nil), out: io.Discard, err: &stderr}, tt.args)
			require.NoError(t, err, "stderr:\n%s", stderr.String())
			assert.Equal(t, tt.want, c.opts)
		})
	}
}

func TestBenchBadFlagsAreUsageErrorsNamingTheFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		flag string
	}{
		{[]string{"--rate", "-1"}, "--rate"},
		{[]string{"--duration", "0"}, "--duration"},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--when-full", "x"}, "--when-full"},
		{[]string{"--scenario", "x"}, "--scenario"},
		{[]string{"--goroutines", "0"}, "--goroutines"},
		{[]string{"--queue-size", "0"}, "--queue-size"},
		{[]string{"--stream", ""}, "--stream"},
		{[]string{"--rate", "many"}, "--rate"}, // the flag package's own error

		{[]string{"--scenario", "outage", "--duration", "2s", "--outage", "2s"}, "--outage"},
		{[]string{"--scenario", "outage", "--duration", "2s"}, "--outage"}, // the default 5s outage does not fit
		{[]string{"--scenario", "slow-broker", "--produce-delay", "0s"}, "--produce-delay"},
		{[]string{"--scenario", "steady", "--probe", "0s"}, "--probe"},
		{[]string{"--drain-timeout", "0s"}, "--drain-timeout"},
		{[]string{"--scenario", "outage", "--kafka-servers", "127.0.0.1:1"}, "--scenario"},
		{[]string{"--scenario", "slow-broker", "--kafka-servers", "127.0.0.1:1"}, "--scenario"},
		{[]string{"extra"}, "extra"},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			_, stderr, err := runBenchArgs(t, tt.args...)
			var uerr *usageError
			require.ErrorAs(t, err, &uerr, "%v", tt.args)
			assert.Contains(t, err.Error(), tt.flag)
			assert.Empty(t, stderr, "nothing started")
		})
	}
}

func TestBenchHelpIsNotAnError(t *testing.T) {
	_, stderr, err := runBenchArgs(t, "--help")
	require.ErrorIs(t, err, errHelp)
	assert.Contains(t, stderr, "usage: kafkaesk bench")
	for _, f := range []string{"--goroutines", "--rate", "--duration", "--queue-size", "--when-full", "--scenario", "--json", "--plot", "--stream", "--outage", "--kafka-servers"} {
		assert.Contains(t, stderr, f)
	}
}
