package loadgen

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart size: 10×7 inches at 96 dpi, 960×672 pixels.
const (
	plotWidth  = 10 * vg.Inch
	plotHeight = 7 * vg.Inch
)

// WritePlot draws r's samples as a PNG of panels sharing the time axis:
// throughput (sent and acknowledged events/s per sample interval, the
// outage shaded) at the top; with a disk spool, the backlog (events in
// the queue and on disk) below it; the callers' p99 latency per interval
// (log scale) at the bottom.
func WritePlot(w io.Writer, r *Result) error {
	top, err := throughputPlot(r)
	if err != nil {
		return err
	}
	panels := []*plot.Plot{top}
	if r.Spool != nil {
		backlog, err := backlogPlot(r)
		if err != nil {
			return err
		}
		panels = append(panels, backlog)
	}
	bottom, err := latencyPlot(r)
	if err != nil {
		return err
	}
	panels = append(panels, bottom)
	// The same time axis for every panel.
	xmax := 0.0
	for _, p := range panels {
		xmax = math.Max(xmax, p.X.Max)
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		p.X.Min, p.X.Max = 0, xmax
		plots[i] = []*plot.Plot{p}
	}

	height := plotHeight
	if len(panels) > 2 {
		height += plotHeight / 2
	}
	img := vgimg.New(plotWidth, height)
	dc := draw.New(img)
	tiles := draw.Tiles{
		Rows: len(panels), Cols: 1,
		PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter,
		PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter,
	}
	canvases := plot.Align(plots, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

func throughputPlot(r *Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("kafkaesk bench, scenario %s: %d goroutines, queue %d (%s)",
		r.Scenario, r.Goroutines, r.QueueSize, r.WhenFull)
	p.Y.Label.Text = "events/s"
	p.X.Label.Text = "seconds"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())

	sent := make(plotter.XYs, 0, len(r.samples)+1)
	acked := make(plotter.XYs, 0, len(r.samples)+1)
	sent = append(sent, plotter.XY{})
	acked = append(acked, plotter.XY{})
	ymax := 1.0
	for _, s := range r.samples {
		t := s.at.Seconds()
		sent = append(sent, plotter.XY{X: t, Y: s.sentRate})
		acked = append(acked, plotter.XY{X: t, Y: s.ackedRate})
		ymax = math.Max(ymax, math.Max(s.sentRate, s.ackedRate))
	}
	if err := addOutage(p, r, ymax); err != nil {
		return nil, err
	}
	if err := addLine(p, "sent", sent, 0); err != nil {
		return nil, err
	}
	if err := addLine(p, "acknowledged", acked, 1); err != nil {
		return nil, err
	}
	// Headroom for the legend above the lines.
	p.Y.Min, p.Y.Max = 0, ymax*1.35
	p.Y.Tick.Marker = siTicks{}
	return p, nil
}

// backlogPlot draws what was accepted and not acknowledged yet: the
// events in the handler's queue and in the disk spool, the outage
// shaded, so that the spool is seen filling and draining.
func backlogPlot(r *Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "backlog: events in the queue and on disk"
	p.Y.Label.Text = "events"
	p.X.Label.Text = "seconds"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	queued := plotter.XYs{{}}
	onDisk := plotter.XYs{{}}
	ymax := 1.0
	for _, s := range r.samples {
		t := s.at.Seconds()
		queued = append(queued, plotter.XY{X: t, Y: float64(s.queued)})
		onDisk = append(onDisk, plotter.XY{X: t, Y: float64(s.onDisk)})
		ymax = math.Max(ymax, float64(max(s.queued, s.onDisk)))
	}
	if err := addOutage(p, r, ymax); err != nil {
		return nil, err
	}
	if err := addLine(p, "in the queue", queued, 3); err != nil {
		return nil, err
	}
	if err := addLine(p, "on disk (spool)", onDisk, 4); err != nil {
		return nil, err
	}
	p.Y.Min, p.Y.Max = 0, ymax*1.35
	p.Y.Tick.Marker = siTicks{}
	return p, nil
}

// addOutage shades r's outage, if any, up to ymax.
func addOutage(p *plot.Plot, r *Result, ymax float64) error {
	o := r.Outage
	if o == nil {
		return nil
	}
	band, err := plotter.NewPolygon(plotter.XYs{
		{X: o.StartSeconds, Y: 0}, {X: o.EndSeconds, Y: 0},
		{X: o.EndSeconds, Y: ymax}, {X: o.StartSeconds, Y: ymax},
	})
	if err != nil {
		return err
	}
	band.Color = color.RGBA{R: 255, G: 220, B: 220, A: 255}
	band.LineStyle.Width = 0
	p.Add(band)
	p.Legend.Add("outage", band)
	return nil
}

func latencyPlot(r *Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "caller latency, p99 per 250ms"
	p.Y.Label.Text = "µs"
	p.X.Label.Text = "seconds"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())

	var p99 plotter.XYs
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range r.samples {
		if s.calls == 0 {
			continue // the drain: no calls
		}
		us := micros(s.p99)
		p99 = append(p99, plotter.XY{X: s.at.Seconds(), Y: us})
		lo, hi = math.Min(lo, us), math.Max(hi, us)
	}
	if len(p99) > 0 {
		if err := addLine(p, "p99", p99, 2); err != nil {
			return nil, err
		}
	} else {
		lo, hi = 1, 10
	}
	if hi/lo > 20 {
		// Spikes (a GC, a preemption) would flatten the rest: log scale,
		// on a positive range that is not a point.
		p.Title.Text += " (log scale)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = lo/2, hi*2
	} else {
		p.Y.Min, p.Y.Max = 0, hi*1.35
	}
	if last := len(r.samples); last > 0 {
		p.X.Max = r.samples[last-1].at.Seconds()
	}
	return p, nil
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, i int) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// siTicks labels an axis of rates shortly: 25k rather than 25000.00.
type siTicks struct{}

func (siTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = si(ticks[i].Value)
		}
	}
	return ticks
}
