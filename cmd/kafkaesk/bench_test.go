package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
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
	assert.Equal(t, benchNum(t, res, "sent"), benchNum(t, res, "acknowledged")+benchNum(t, res, "dropped")+benchNum(t, res, "failed"),
		"every event sent is acknowledged, dropped or failed once drained")
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

// The broker refuses produce requests for a second in the middle of a
// three-second run: the queue overflows (drops are counted), and once the
// broker is back what was held is delivered.
func TestBenchOutageDropsThenDeliversAfterIt(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// A queue of 10 overflows within the outage even on a machine too
	// busy to reach the rate.
	res, stderr := benchJSON(t, "--scenario", "outage", "--duration", "3s", "--outage", "1s",
		"--rate", "4000", "--goroutines", "2", "--queue-size", "10")
	outage, ok := res["outage"].(map[string]any)
	require.True(t, ok, "the summary has the outage: %v", res)
	start, end := benchNum(t, outage, "start_s"), benchNum(t, outage, "end_s")
	assert.Greater(t, start, 0.9, "the outage is in the middle of the run")
	assert.GreaterOrEqual(t, end-start, 1.0, "the outage lasts --outage")
	assert.Less(t, end, benchNum(t, res, "load_s")+0.001, "the broker is back before the load ends")
	assert.Greater(t, benchNum(t, outage, "dropped_during"), 0.0, "the queue overflowed during the outage")
	assert.Greater(t, benchNum(t, res, "dropped"), 0.0)
	assert.Greater(t, benchNum(t, outage, "acknowledged_after"), 0.0, "events were acknowledged after the outage")
	assert.GreaterOrEqual(t, benchNum(t, outage, "recovery_s"), 0.0, "delivering again before the load ended")
	assert.Zero(t, benchNum(t, res, "failed"), "everything held during the outage was delivered")
	assert.Contains(t, stderr, "outage over")
}

// The slow broker holds each produce request: the pipeline falls behind,
// the caller does not wait for it.
func TestBenchSlowBrokerStillDelivers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, _ := benchJSON(t, "--scenario", "slow-broker", "--duration", "1s", "--rate", "4000",
		"--goroutines", "2", "--produce-delay", "100ms", "--when-full", "block")
	assert.Equal(t, 100.0, benchNum(t, res, "produce_delay_ms"))
	assert.Equal(t, "block", res["when_full"])
	assert.Greater(t, benchNum(t, res, "acknowledged"), 0.0)
}

// Burst loads twice the probed capacity into a small queue: drops are
// counted, and what is not dropped is delivered.
func TestBenchBurstDropsIntoASmallQueue(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, _ := benchJSON(t, "--scenario", "burst", "--duration", "1s", "--probe", "300ms", "--goroutines", "2", "--queue-size", "10")
	assert.Equal(t, 10.0, benchNum(t, res, "queue_size"))
	assert.InDelta(t, 2*benchNum(t, res, "probed_capacity"), benchNum(t, res, "target_rate"), 1, "twice the capacity")
	assert.Greater(t, benchNum(t, res, "dropped"), 0.0)
	assert.Greater(t, benchNum(t, res, "acknowledged"), 0.0)
	assert.Equal(t, benchNum(t, res, "sent"), benchNum(t, res, "acknowledged")+benchNum(t, res, "dropped"))
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
