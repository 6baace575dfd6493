package main

import (
	"strings"
	"testing"
)

// Output of `go test -bench . -benchmem -count 3`, shortened and with a
// benchmark that printed a log line between its name and its result.
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
BenchmarkEndToEnd/c=kafka-go-raw-2            	  605804	       925.4 ns/op	   1000000 events/s	    1981 B/op	       5 allocs/op
BenchmarkEndToEnd/c=sloghandler
    bench_test.go:1: a log line
BenchmarkEndToEnd/c=sloghandler-2             	  161715	      3612 ns/op	         0 drops	    250000 events/s	    3049 B/op	      11 allocs/op
BenchmarkEndToEnd/c=slog-kafka-2              	  223219	      5739 ns/op	    125000 events/s	    4092 B/op	      49 allocs/op
BenchmarkEndToEnd/c=hand-built-2              	  223219	      2000 ns/op	    500000 events/s	    1600 B/op	       8 allocs/op
BenchmarkOther-2                              	      10	       0.5 ns/op
PASS
ok  	github.com/kafkaesk-go/kafkaesk/benchmarks	5.769s
`

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
		"| handler | ns/op | ns/op ÷ slog.JSONHandler | B/op | allocs/op |\n",
		"| slog.JSONHandler | 1,700 | 1.00x | 56 | 2 |\n",
		"| sloghandler | 2,040 | 1.20x | 496 | 2 |\n",
		"| shipper | events/s | events/s ÷ kafka-go-raw | events/s ÷ hand-built | events/s ÷ sloghandler | events/s ÷ slog-kafka | ns/op | B/op | allocs/op | drops |\n",
		"| kafka-go-raw | 1,000,000 | 1.00x | 2.00x | 4.00x | 8.00x | 925 | 1,981 | 5 |  |\n",
		"| sloghandler | 250,000 | 0.25x | 0.50x | 1.00x | 2.00x | 3,612 | 3,049 | 11 | 0 |\n",
		"| slog-kafka | 125,000 | 0.12x | 0.25x | 0.50x | 1.00x | 5,739 | 4,092 | 49 |  |\n",
		"| hand-built | 500,000 | 0.50x | 1.00x | 2.00x | 4.00x | 2,000 | 1,600 | 8 |  |\n",
		"### BenchmarkOther (`BenchmarkOther`)",
		"| Other | 0.5 |\n",
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
