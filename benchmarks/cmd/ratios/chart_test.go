package main

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// TestChart draws the sample's end-to-end contenders: a well-formed SVG
// with, in each panel, one bar per contender, the fastest first, longer
// for more events/s and for more CPU per event (on a log scale), each
// labelled with its value; sloghandler blue and Python kafkaesk orange.
func TestChart(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := writeChart(&out, res); err != nil {
		t.Fatal(err)
	}
	type rect struct {
		width float64
		fill  string
	}
	var rects []rect
	var texts []string
	dec := xml.NewDecoder(strings.NewReader(out.String()))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, out.String())
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "rect":
			r := rect{}
			for _, a := range se.Attr {
				switch a.Name.Local {
				case "width":
					r.width, _ = strconv.ParseFloat(a.Value, 64)
				case "fill":
					r.fill = a.Value
				}
			}
			if r.fill != "white" { // the background
				rects = append(rects, r)
			}
		case "text":
			var s string
			if err := dec.DecodeElement(&s, &se); err != nil {
				t.Fatal(err)
			}
			texts = append(texts, s)
		}
	}

	// The sample's contenders by events/s: hand-built 500k, kafka-go-raw
	// 1M, sloghandler 250k, slog-kafka 125k, python-kafkaesk 4k; CPU µs
	// per event 4, 2, 5, 16, 240.
	order := []string{"kafka-go-raw", "hand-built", "sloghandler", "slog-kafka", "python-kafkaesk"}
	if len(rects) != 2*len(order) {
		t.Fatalf("%d bars, want %d (two panels of %d)", len(rects), 2*len(order), len(order))
	}
	events, cpu := rects[:len(order)], rects[len(order):]
	for i := 1; i < len(order); i++ {
		if events[i].width >= events[i-1].width {
			t.Errorf("events/s bar of %s (%.1f) not shorter than %s's (%.1f)", order[i], events[i].width, order[i-1], events[i-1].width)
		}
	}
	for i := 1; i < len(order); i++ { // here also the order of CPU per event, least first
		if cpu[i].width <= cpu[i-1].width {
			t.Errorf("CPU bar of %s (%.1f) not longer than %s's (%.1f)", order[i], cpu[i].width, order[i-1], cpu[i-1].width)
		}
	}
	for i, name := range order {
		want := "#9e9e9e"
		switch name {
		case "sloghandler":
			want = "#1f77b4"
		case "python-kafkaesk":
			want = "#ff7f0e"
		}
		if events[i].fill != want || cpu[i].fill != want {
			t.Errorf("%s's bars are %s and %s, want %s", name, events[i].fill, cpu[i].fill, want)
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"kafka-go-raw", "python-kafkaesk", "1,000,000", "4,000", "240 µs", "2 µs", "1M", "1k"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in the chart; its texts:\n%s", want, all)
		}
	}
}

func TestChartWithoutEndToEnd(t *testing.T) {
	res, err := parse(strings.NewReader("BenchmarkPerCall/h=sloghandler-2 100 2000 ns/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeChart(io.Discard, res); err == nil {
		t.Error("a chart without end-to-end results: got no error")
	}
}

func TestDecade(t *testing.T) {
	for _, tt := range []struct {
		d    float64
		want string
	}{
		{-2, "0.01"}, {-1, "0.1"}, {0, "1"}, {2, "100"}, {3, "1k"}, {5, "100k"}, {6, "1M"}, {9, "1G"},
	} {
		if got := decade(tt.d); got != tt.want {
			t.Errorf("decade(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
