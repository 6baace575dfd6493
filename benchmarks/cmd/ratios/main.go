// Command ratios reads `go test -bench` output on standard input and
// prints the benchmarks as markdown tables, with the medians of repeated
// runs (-count) and the ratios the comparison is about: end to end,
// events/s against the raw kafka-go Writer, against the hand-built
// shipper (slog.JSONHandler into that Writer), against sloghandler on
// kafka-go (the franz-go row's ratio is issue 13's target) and against
// slog-kafka; per
// call, ns/op against slog.JSONHandler.
//
//	cd benchmarks && go test -run '^$' -bench . -benchmem -count 3 | go run ./cmd/ratios
//
// It exits with status 1 when the input reports a failure or holds no
// benchmark.
package main

import (
	"bufio"
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
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	render(os.Stdout, res)
	for _, f := range res.failures {
		fmt.Fprintln(os.Stderr, "ratios: the run failed:", f)
	}
	if len(res.failures) > 0 {
		os.Exit(1)
	}
}

// A group is a benchmark function whose sub-benchmarks are compared.
type group struct {
	title  string
	column string // what a row is
	prefix string // of the sub-benchmark names, dropped in the table
	metric string // the metric the ratios divide
	// baselines are the sub-benchmarks (without prefix) that every row
	// is divided by, each in a column of its own.
	baselines []string
}

var groups = map[string]group{
	"BenchmarkEndToEnd": {
		title:     "End to end: from the call to the broker's acknowledgement",
		column:    "shipper",
		prefix:    "c=",
		metric:    "events/s",
		baselines: []string{"kafka-go-raw", "hand-built", "sloghandler", "slog-kafka"},
	},
	"BenchmarkPerCall": {
		title:     "Per call: what a log call costs the caller",
		column:    "handler",
		prefix:    "h=",
		metric:    "ns/op",
		baselines: []string{"slog.JSONHandler"},
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
	// The columns: the group's metric first, then every other unit seen.
	var units []string
	if g.metric != "" {
		units = append(units, g.metric)
	}
	for _, name := range names {
		for _, u := range res.units[name] {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	type baseline struct {
		name  string
		value float64
	}
	var bases []baseline
	for _, b := range g.baselines {
		if v, ok := res.median(top+"/"+g.prefix+b, g.metric); ok && v != 0 {
			bases = append(bases, baseline{b, v})
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
	for i, u := range units {
		head = append(head, u)
		if i == 0 {
			for _, b := range bases {
				head = append(head, fmt.Sprintf("%s ÷ %s", g.metric, b.name))
			}
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
		row := []string{strings.TrimPrefix(strings.TrimPrefix(name, top+"/"), g.prefix)}
		if row[0] == name {
			row[0] = strings.TrimPrefix(name, "Benchmark")
		}
		for i, u := range units {
			v, ok := res.median(name, u)
			if !ok {
				row = append(row, "")
			} else {
				row = append(row, number(v))
			}
			if i == 0 {
				for _, b := range bases {
					if !ok {
						row = append(row, "")
						continue
					}
					row = append(row, fmt.Sprintf("%.2fx", v/b.value))
				}
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
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
