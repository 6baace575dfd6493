package main

import (
	"bufio"
	"cmp"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// A bar is one end-to-end contender in the chart.
type bar struct {
	name        string
	eventsPerS  float64
	cpuPerEvent float64 // µs; 0 when not reported
}

// contenders returns BenchmarkEndToEnd's contenders with the medians of
// their events/s and CPU per event, the fastest first.
func contenders(res *results) []bar {
	const top, prefix = "BenchmarkEndToEnd", "c="
	var bars []bar
	for _, name := range res.names {
		if !strings.HasPrefix(name, top+"/") {
			continue
		}
		e, ok := res.median(name, "events/s")
		if !ok {
			continue
		}
		c, _ := res.median(name, "cpu-µs/event")
		bars = append(bars, bar{name: rowName(top, prefix, name), eventsPerS: e, cpuPerEvent: c})
	}
	slices.SortStableFunc(bars, func(a, b bar) int { return cmp.Compare(b.eventsPerS, a.eventsPerS) })
	return bars
}

// Chart geometry, in SVG user units (pixels).
const (
	chartWidth = 860
	labelWidth = 190 // left of the bars: the contenders' names
	valueWidth = 120 // right of the longest bar: its value
	rowHeight  = 24
	barHeight  = 16
	panelHead  = 46 // a panel's title and axis labels, above its rows
	panelGap   = 24
)

// writeChart draws the end-to-end contenders as an SVG of two panels of
// horizontal bars, one bar per contender in the same order in both:
// events/s, and CPU µs per event. Both axes are logarithmic, since the
// contenders differ a hundredfold and more; each bar is labelled with its
// value. sloghandler's bars are blue, Python kafkaesk's orange, the others
// grey. It fails when there is no end-to-end result.
func writeChart(w io.Writer, res *results) error {
	bars := contenders(res)
	if len(bars) == 0 {
		return fmt.Errorf("chart: no BenchmarkEndToEnd result with events/s")
	}
	panelHeight := panelHead + len(bars)*rowHeight
	height := 40 + 2*panelHeight + panelGap + 48
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(bw, `<text x="%d" y="24" font-size="16" font-weight="bold">End to end: from the log call to the broker's acknowledgement%s</text>`+"\n",
		10, html.EscapeString(runsNote(res)))
	y := 40
	drawPanel(bw, y, "events per second (more is better, log scale)", bars, func(b bar) float64 { return b.eventsPerS }, "")
	y += panelHeight + panelGap
	drawPanel(bw, y, "CPU µs per event, the broker's included (less is better, log scale)", bars, func(b bar) float64 { return b.cpuPerEvent }, " µs")
	y += panelHeight + 20
	fmt.Fprintf(bw, `<text x="10" y="%d" fill="#555">blue: sloghandler (this project); orange: Python kafkaesk's logging handler; grey: the others.</text>`+"\n", y)
	fmt.Fprintf(bw, `<text x="10" y="%d" fill="#555">benchmarks/README.md says how each contender is set up and how its CPU is measured.</text>`+"\n", y+18)
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// runsNote says how many runs the medians are of, for the title.
func runsNote(res *results) string {
	runs := 0
	for _, name := range res.names {
		if strings.HasPrefix(name, "BenchmarkEndToEnd/") {
			for _, s := range res.samples[name] {
				runs = max(runs, len(s))
			}
		}
	}
	if runs > 1 {
		return fmt.Sprintf(" (medians of %d runs)", runs)
	}
	return ""
}

// drawPanel draws one panel at y: its title, a logarithmic axis of
// decades with grid lines, and a bar per contender with its value; a
// contender without a value gets "not reported" and no bar.
func drawPanel(w io.Writer, y int, title string, bars []bar, value func(bar) float64, unit string) {
	lo, hi := math.Inf(1), 0.0
	for _, b := range bars {
		if v := value(b); v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	fmt.Fprintf(w, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+16, html.EscapeString(title))
	if hi == 0 {
		lo, hi = 1, 10
	}
	// Whole decades around the values, the lowest strictly below the
	// smallest value, so that every bar has a length.
	dlo := math.Floor(math.Log10(lo))
	if math.Pow(10, dlo) >= lo {
		dlo--
	}
	dhi := max(math.Ceil(math.Log10(hi)), dlo+1)
	x0, x1 := float64(labelWidth), float64(chartWidth-valueWidth)
	xOf := func(v float64) float64 { return x0 + (math.Log10(v)-dlo)/(dhi-dlo)*(x1-x0) }
	rows := y + panelHead
	bottom := rows + len(bars)*rowHeight
	for d := dlo; d <= dhi; d++ {
		x := xOf(math.Pow(10, d))
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, rows-4, x, bottom)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555" font-size="11">%s</text>`+"\n", x, rows-8, decade(d))
	}
	for i, b := range bars {
		by := rows + i*rowHeight
		ty := by + barHeight/2 + 5
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelWidth-8, ty, html.EscapeString(b.name))
		v := value(b)
		if v <= 0 {
			fmt.Fprintf(w, `<text x="%.1f" y="%d" fill="#555">not reported</text>`+"\n", x0+4, ty)
			continue
		}
		x := xOf(v)
		fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, by, x-x0, barHeight, barColor(b.name))
		fmt.Fprintf(w, `<text x="%.1f" y="%d">%s</text>`+"\n", x+4, ty, html.EscapeString(number(v)+unit))
	}
	fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", x0, rows-4, x0, bottom)
}

// barColor tells our handler and Python kafkaesk's from the others.
func barColor(name string) string {
	switch {
	case strings.HasPrefix(name, "sloghandler"):
		return "#1f77b4"
	case strings.HasPrefix(name, "python"):
		return "#ff7f0e"
	}
	return "#9e9e9e"
}

// decade labels 10^d: 1, 10, 100, 1k, 10k, 100k, 1M, ... (0.1 and 0.01
// below 1).
func decade(d float64) string {
	switch {
	case d < 0:
		return strings.TrimRight(fmt.Sprintf("%.*f", int(-d), math.Pow(10, d)), "0")
	case d < 3:
		return fmt.Sprintf("%.0f", math.Pow(10, d))
	case d < 6:
		return fmt.Sprintf("%.0fk", math.Pow(10, d-3))
	case d < 9:
		return fmt.Sprintf("%.0fM", math.Pow(10, d-6))
	}
	return fmt.Sprintf("%.0fG", math.Pow(10, d-9))
}
