package main

import (
	"math"
	"strings"
	"testing"
)

// Output of `go test -bench . -benchmem -count 3`, shortened and with a
// benchmark that printed a log line between its name and its result,
// followed by the lines benchmarks/python/bench_handler.py appends.
const sample = `goos: linux
goarch: amd64
pkg: github.com/kafkaesk-go/kafkaesk/benchmarks
cpu: Intel(R) Xeon(R) Processor
BenchmarkPerCall/h=slog.JSONHandler-2         	  364294	      1600 ns/op	      56 B/op	       2 allocs/op
BenchmarkPerCall/h=slog.JSONHandler-2         	  364294	      1700 ns/op	      56 B/op	       2 allocs/op
BenchmarkPerCall/h=slog.JSONHandler-2         	  364294	      2000 ns/op	      56 B/op	       2 allocs/op
BenchmarkPerCall/h=sloghandler-2              	  304308	      1900 ns/op	     496 B/op	       2 allocs/op
BenchmarkPerCall/h=sloghandler-2              	  304308	      2040 ns/op	     496 B/op	       2 allocs/op
BenchmarkPerCall/h=sloghandler-2              	  304308	      3000 ns/op	     496 B/op	       2 allocs/op
BenchmarkPerCall/h=no-op_handler-2            	 3592593	       340 ns/op	       0 B/op	       0 allocs/op
BenchmarkPerCall/h=slog.DiscardHandler-2      	41000000	        29.1 ns/op	       0 B/op	       0 allocs/op
BenchmarkPerCall/h=hand-built-2               	  404308	      2800 ns/op	      80 B/op	       3 allocs/op
BenchmarkEndToEnd/c=kafka-go-raw-2            	  605804	       925.4 ns/op	         2.000 cpu-µs/event	   1000000 events/s	    1981 B/op	       5 allocs/op
BenchmarkEndToEnd/c=sloghandler
    bench_test.go:1: a log line
BenchmarkEndToEnd/c=sloghandler-2             	  161715	      3612 ns/op	         5.000 cpu-µs/event	         0 drops	    250000 events/s	    3049 B/op	      11 allocs/op
BenchmarkEndToEnd/c=slog-kafka-2              	  223219	      5739 ns/op	        16.00 cpu-µs/event	    125000 events/s	    4092 B/op	      49 allocs/op
BenchmarkEndToEnd/c=hand-built-2              	  223219	      2000 ns/op	         4.000 cpu-µs/event	    500000 events/s	    1600 B/op	       8 allocs/op
BenchmarkOther-2                              	      10	       0.5 ns/op
PASS
ok  	github.com/kafkaesk-go/kafkaesk/benchmarks	5.769s
BenchmarkPerCall/h=python-kafkaesk-2	40000	56000 ns/op
BenchmarkEndToEnd/c=python-kafkaesk-2	50000	250000 ns/op	240.0 cpu-µs/event	4000 events/s
`

// TestRender checks the tables: the ratios' metrics first, each followed
// by its ratios to the baselines, then allocations; a contender from
// another program (Python kafkaesk) has ratios like the others and empty
// cells where it reports nothing; the floors come last, marked.
func TestRender(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.failures) != 0 {
		t.Errorf("failures %q, want none", res.failures)
	}
	var out strings.Builder
	render(&out, res)
	for _, want := range []string{
		"cpu: Intel(R) Xeon(R) Processor  \n",
		"Medians of 3 runs.",
		"| handler | ns/op | ns/op ÷ slog.JSONHandler | allocs/op | B/op |\n",
		"| slog.JSONHandler | 1,700 | 1.00x | 2 | 56 |\n",
		"| sloghandler | 2,040 | 1.20x | 2 | 496 |\n",
		"| hand-built | 2,800 | 1.65x | 3 | 80 |\n" +
			"| python-kafkaesk | 56,000 | 32.9x |  |  |\n" +
			"| slog.DiscardHandler (floor) | 29.1 | 0.017x | 0 | 0 |\n" +
			"| no-op_handler (floor) | 340 | 0.20x | 0 | 0 |\n",
		"| shipper | events/s | events/s ÷ kafka-go-raw | events/s ÷ hand-built | events/s ÷ sloghandler | events/s ÷ slog-kafka | " +
			"cpu-µs/event | cpu-µs/event ÷ kafka-go-raw | cpu-µs/event ÷ hand-built | cpu-µs/event ÷ slog-kafka | allocs/op | B/op | ns/op | drops |\n",
		"| kafka-go-raw | 1,000,000 | 1.00x | 2.00x | 4.00x | 8.00x | 2 | 1.00x | 0.50x | 0.12x | 5 | 1,981 | 925 |  |\n",
		"| sloghandler | 250,000 | 0.25x | 0.50x | 1.00x | 2.00x | 5 | 2.50x | 1.25x | 0.31x | 11 | 3,049 | 3,612 | 0 |\n",
		"| slog-kafka | 125,000 | 0.12x | 0.25x | 0.50x | 1.00x | 16 | 8.00x | 4.00x | 1.00x | 49 | 4,092 | 5,739 |  |\n",
		"| hand-built | 500,000 | 0.50x | 1.00x | 2.00x | 4.00x | 4 | 2.00x | 1.00x | 0.25x | 8 | 1,600 | 2,000 |  |\n",
		"| python-kafkaesk | 4,000 | 0.004x | 0.008x | 0.016x | 0.032x | 240 | 120x | 60.0x | 15.0x |  |  | 250,000 |  |\n",
		"### BenchmarkOther (`BenchmarkOther`)",
		"| Other | 0.5 |\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRenderWithoutBaseline: a ratio whose baseline did not run, or a
// metric no row reports, has no column (a run of one contender, -bench
// EndToEnd/c=sloghandler, is still a table).
func TestRenderWithoutBaseline(t *testing.T) {
	res, err := parse(strings.NewReader("BenchmarkEndToEnd/c=sloghandler-2 100 3612 ns/op 250000 events/s\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	render(&out, res)
	for _, want := range []string{
		"| shipper | events/s | events/s ÷ sloghandler | ns/op |\n",
		"| sloghandler | 250,000 | 1.00x | 3,612 |\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseFailures(t *testing.T) {
	res, err := parse(strings.NewReader("--- FAIL: BenchmarkEndToEnd/c=sloghandler\nFAIL\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.failures) != 2 {
		t.Errorf("failures %q, want 2", res.failures)
	}
	if _, err := parse(strings.NewReader("PASS\n")); err == nil {
		t.Error("no benchmark: got no error")
	}
}

func TestTimes(t *testing.T) {
	for _, tt := range []struct {
		r    float64
		want string
	}{
		{1, "1.00x"}, {0.125, "0.12x"}, {0.1, "0.10x"}, {0.0404, "0.04x"}, {0.00404, "0.004x"},
		{0.0166, "0.017x"}, {9.994, "9.99x"}, {16.63, "16.6x"}, {129.28, "129x"}, {1234.5, "1234x"},
	} {
		if got := times(tt.r); got != tt.want {
			t.Errorf("times(%v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestNumber(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {2, "2"}, {0.999, "0.999"}, {0.5, "0.5"}, {12.34, "12.3"},
		{925.4, "925"}, {1000, "1,000"}, {1080612, "1,080,612"}, {-1500, "-1,500"},
	} {
		if got := number(tt.v); got != tt.want {
			t.Errorf("number(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestCallerShare checks the split of an end-to-end contender's CPU per
// event: its BenchmarkPerCall median CPU time (or ns/op without one) as
// the caller's share, the rest the difference; none for a contender
// without a per-call benchmark.
func TestCallerShare(t *testing.T) {
	// sloghandler's per-call runs report its thread's CPU time too.
	withCPU := strings.ReplaceAll(sample, "ns/op	     496 B/op", "ns/op	      1500 cpu-ns/op	     496 B/op")
	res, err := parse(strings.NewReader(withCPU))
	if err != nil {
		t.Fatal(err)
	}
	res.addCallerShare()
	for _, tc := range []struct {
		name         string
		caller, rest float64
		ok           bool
	}{
		{"BenchmarkEndToEnd/c=sloghandler", 1.5, 5 - 1.5, true}, // its cpu-ns/op, not its ns/op
		{"BenchmarkEndToEnd/c=hand-built", 2.8, 4 - 2.8, true},
		{"BenchmarkEndToEnd/c=python-kafkaesk", 56, 240 - 56, true},
		{"BenchmarkEndToEnd/c=kafka-go-raw", 0, 0, false},
	} {
		caller, okC := res.median(tc.name, callerUnit)
		rest, okR := res.median(tc.name, restUnit)
		if okC != tc.ok || okR != tc.ok || math.Abs(caller-tc.caller) > 1e-9 || math.Abs(rest-tc.rest) > 1e-9 {
			t.Errorf("%s: caller %v (%v), rest %v (%v); want %v, %v (%v)", tc.name, caller, okC, rest, okR, tc.caller, tc.rest, tc.ok)
		}
	}
	var out strings.Builder
	render(&out, res)
	if !strings.Contains(out.String(), "| caller-µs/event | rest-µs/event |") {
		t.Errorf("no caller and rest columns in\n%s", out.String())
	}
}
