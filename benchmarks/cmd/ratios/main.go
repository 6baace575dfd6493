// Command ratios reads `go test -bench` output on standard input and
// prints the benchmarks as markdown tables, with the medians of repeated
// runs (-count) and the ratios the comparison is about:
//
//   - end to end: events/s against the raw kafka-go Writer, the hand-built
//     shipper (slog.JSONHandler into that Writer), sloghandler on
//     kafka-go (the franz-go row's ratio is issue 13's target) and
//     slog-kafka; CPU µs per event against the raw Writer, the
//     hand-built shipper and slog-kafka, and split into the caller's
//     share (the same handler's BenchmarkPerCall CPU time) and the rest; then
//     allocations.
//   - per call: ns/op and the caller's CPU ns/op against
//     slog.JSONHandler, then allocations; the floors (slog.DiscardHandler,
//     the no-op handler) last.
//
// Lines from elsewhere in the same format join the tables as contenders:
// scripts/bench appends Python kafkaesk's (benchmarks/python).
//
//	cd benchmarks && go test -run '^$' -bench . -benchmem -count 3 | go run ./cmd/ratios [-chart contenders.svg]
//
// With -chart, it also writes an SVG chart of the end-to-end contenders:
// events/s and CPU µs per event, one bar each (writeChart).
//
// It exits with status 1 when the input reports a failure or holds no
// benchmark, or the chart cannot be written.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	chart := flag.String("chart", "", "also write an SVG chart of the end-to-end contenders to this file")
	flag.Parse()
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	res.addCallerShare()
	render(os.Stdout, res)
	if *chart != "" {
		if err := saveChart(*chart, res); err != nil {
			fmt.Fprintln(os.Stderr, "ratios:", err)
			os.Exit(1)
		}
	}
	for _, f := range res.failures {
		fmt.Fprintln(os.Stderr, "ratios: the run failed:", f)
	}
	if len(res.failures) > 0 {
		os.Exit(1)
	}
}

// saveChart writes res's chart to the file path.
func saveChart(path string, res *results) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeChart(f, res); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// A group is a benchmark function whose sub-benchmarks are compared.
type group struct {
	title  string
	column string // what a row is
	prefix string // of the sub-benchmark names, dropped in the table
	// ratios are the metrics divided by baselines, in the table's first
	// columns, each followed by its ratios.
	ratios []ratio
	// then come these units, before any other unit seen.
	units []string
	// floors are sub-benchmarks (without prefix) that bound the others
	// from below: shown last, marked "(floor)".
	floors []string
}

// A ratio divides every row's metric by each baseline's, in a column of
// its own per baseline (a sub-benchmark, without prefix).
type ratio struct {
	metric    string
	baselines []string
}

var groups = map[string]group{
	"BenchmarkEndToEnd": {
		title:  "End to end: from the call to the broker's acknowledgement",
		column: "shipper",
		prefix: "c=",
		ratios: []ratio{
			{"events/s", []string{"kafka-go-raw", "hand-built", "sloghandler", "slog-kafka"}},
			{"cpu-µs/event", []string{"kafka-go-raw", "hand-built", "slog-kafka"}},
		},
		units: []string{callerUnit, restUnit, "allocs/op", "B/op"},
	},
	"BenchmarkPerCall": {
		title:  "Per call: what a log call costs the caller",
		column: "handler",
		prefix: "h=",
		ratios: []ratio{{"ns/op", []string{"slog.JSONHandler"}}, {"cpu-ns/op", []string{"slog.JSONHandler"}}},
		units:  []string{"allocs/op", "B/op"},
		// go test writes the space of "no-op handler" as _.
		floors: []string{"slog.DiscardHandler", "no-op_handler"},
	},
}

// results holds every sample of every benchmark, in the order first seen.
type results struct {
	header   []string // goos, goarch, cpu
	names    []string // full benchmark names, GOMAXPROCS suffix removed
	samples  map[string]map[string][]float64
	units    map[string][]string // per name, in the order first seen
	failures []string
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) (*results, error) {
	res := &results{samples: map[string]map[string][]float64{}, units: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goos:"), strings.HasPrefix(line, "goarch:"), strings.HasPrefix(line, "cpu:"):
			if !slices.Contains(res.header, line) {
				res.header = append(res.header, line)
			}
			continue
		case strings.HasPrefix(line, "--- FAIL"), strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "panic:"):
			res.failures = append(res.failures, strings.TrimSpace(line))
			continue
		case !strings.HasPrefix(line, "Benchmark"):
			continue
		}
		f := strings.Fields(line)
		// name, iterations, then value-unit pairs.
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a benchmark's name printed before its log lines
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		m := res.samples[name]
		if m == nil {
			m = map[string][]float64{}
			res.samples[name] = m
			res.names = append(res.names, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: value %q of %s is not a number", name, f[i], f[i+1])
			}
			unit := f[i+1]
			if _, seen := m[unit]; !seen {
				res.units[name] = append(res.units[name], unit)
			}
			m[unit] = append(m[unit], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(res.names) == 0 && len(res.failures) == 0 {
		return nil, fmt.Errorf("no benchmark results on standard input")
	}
	return res, nil
}

// The end-to-end contenders' CPU per event, split: what the call costs
// the goroutine that logs (BenchmarkPerCall's median cpu-ns/op of the
// same handler, its thread's CPU time, or its ns/op where it reports no
// CPU time, as Python's), and the rest (the delivery, the client, the
// in-process broker).
const (
	callerUnit = "caller-µs/event"
	restUnit   = "rest-µs/event"
)

// callerOf names the BenchmarkPerCall handler whose call an end-to-end
// contender makes, where the names differ: sloghandler on franz-go makes
// sloghandler's call (the client is behind the queue).
var callerOf = map[string]string{"sloghandler-franz-go": "sloghandler"}

// addCallerShare adds callerUnit and restUnit to every BenchmarkEndToEnd
// contender with a BenchmarkPerCall handler of its name (or callerOf's)
// and a CPU per event: one sample each, from the medians.
func (res *results) addCallerShare() {
	for _, name := range res.names {
		c, ok := strings.CutPrefix(name, "BenchmarkEndToEnd/c=")
		if !ok {
			continue
		}
		h := c
		if alias, ok := callerOf[c]; ok {
			h = alias
		}
		ns, okCall := res.median("BenchmarkPerCall/h="+h, "cpu-ns/op")
		if !okCall {
			ns, okCall = res.median("BenchmarkPerCall/h="+h, "ns/op")
		}
		cpu, okCPU := res.median(name, "cpu-µs/event")
		if !okCall || !okCPU {
			continue
		}
		m := res.samples[name]
		m[callerUnit] = []float64{ns / 1000}
		m[restUnit] = []float64{cpu - ns/1000}
		res.units[name] = append(res.units[name], callerUnit, restUnit)
	}
}

// median returns the median of name's samples of unit, and whether there
// are any.
func (res *results) median(name, unit string) (float64, bool) {
	s := slices.Clone(res.samples[name][unit])
	if len(s) == 0 {
		return 0, false
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func render(w io.Writer, res *results) {
	for _, h := range res.header {
		fmt.Fprintf(w, "%s  \n", h)
	}
	if len(res.header) > 0 {
		fmt.Fprintln(w)
	}
	// Group the names by benchmark function, in the order first seen.
	var tops []string
	byTop := map[string][]string{}
	for _, name := range res.names {
		top, _, _ := strings.Cut(name, "/")
		if _, ok := byTop[top]; !ok {
			tops = append(tops, top)
		}
		byTop[top] = append(byTop[top], name)
	}
	for _, top := range tops {
		renderGroup(w, res, top, byTop[top])
	}
}

func renderGroup(w io.Writer, res *results, top string, names []string) {
	g, known := groups[top]
	if !known {
		g = group{title: top, column: "benchmark"}
	}
	// The floors last, in the group's order.
	var floors []string
	for _, f := range g.floors {
		if i := slices.Index(names, top+"/"+g.prefix+f); i >= 0 {
			floors = append(floors, names[i])
		}
	}
	names = slices.DeleteFunc(slices.Clone(names), func(name string) bool { return slices.Contains(floors, name) })
	names = append(names, floors...)

	// The columns: the ratios' metrics, the group's units, then every
	// other unit seen, each unit once; a metric no row has is left out.
	seen := map[string]bool{}
	for _, name := range names {
		for _, u := range res.units[name] {
			seen[u] = true
		}
	}
	type column struct {
		unit string
		base string  // the baseline, for a ratio column
		div  float64 // the baseline's median
	}
	var cols []column
	add := func(u string) {
		if seen[u] && !slices.ContainsFunc(cols, func(c column) bool { return c.unit == u }) {
			cols = append(cols, column{unit: u})
		}
	}
	for _, r := range g.ratios {
		add(r.metric)
		if !seen[r.metric] {
			continue
		}
		for _, b := range r.baselines {
			if v, ok := res.median(top+"/"+g.prefix+b, r.metric); ok && v != 0 {
				cols = append(cols, column{unit: r.metric, base: b, div: v})
			}
		}
	}
	for _, u := range g.units {
		add(u)
	}
	for _, name := range names {
		for _, u := range res.units[name] {
			add(u)
		}
	}
	runs := 0
	for _, name := range names {
		for _, s := range res.samples[name] {
			runs = max(runs, len(s))
		}
	}

	fmt.Fprintf(w, "### %s (`%s`)\n\n", g.title, top)
	if runs > 1 {
		fmt.Fprintf(w, "Medians of %d runs.\n\n", runs)
	}
	head := []string{g.column}
	for _, c := range cols {
		if c.base != "" {
			head = append(head, fmt.Sprintf("%s ÷ %s", c.unit, c.base))
		} else {
			head = append(head, c.unit)
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	align := make([]string, len(head))
	align[0] = "---"
	for i := 1; i < len(align); i++ {
		align[i] = "---:"
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(align, " | "))
	for _, name := range names {
		row := []string{rowName(top, g.prefix, name)}
		if slices.Contains(floors, name) {
			row[0] += " (floor)"
		}
		for _, c := range cols {
			v, ok := res.median(name, c.unit)
			switch {
			case !ok:
				row = append(row, "")
			case c.base != "":
				row = append(row, times(v/c.div))
			default:
				row = append(row, number(v))
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
}

// rowName is a benchmark's name in its group's table: the sub-benchmark's
// name without prefix, or the function's without "Benchmark".
func rowName(top, prefix, name string) string {
	row := strings.TrimPrefix(strings.TrimPrefix(name, top+"/"), prefix)
	if row == name {
		row = strings.TrimPrefix(name, "Benchmark")
	}
	return row
}

// times formats a ratio r for a table: two decimals, or three
// significant digits from 10 on, or two below 0.1 (so that a
// contender a hundred times slower does not read 0.00x).
func times(r float64) string {
	switch {
	case r >= 10:
		return strconv.FormatFloat(r, 'f', max(0, 2-int(math.Floor(math.Log10(r)))), 64) + "x"
	case r > 0 && r < 0.1:
		return strconv.FormatFloat(r, 'g', 2, 64) + "x"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "x"
}

// number formats v for a table: whole numbers and numbers from 100 on
// without decimals and with thousands separated, smaller ones with one
// decimal (from 10) or up to three.
func number(v float64) string {
	switch {
	case v < 0:
		return "-" + number(-v)
	case v < 10 && v != math.Trunc(v):
		return strings.TrimRight(strconv.FormatFloat(v, 'f', 3, 64), "0")
	case v < 100 && v != math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	digits := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
