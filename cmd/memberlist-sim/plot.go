// This file owns the SVG plots, drawn with gonum.org/v1/plot: the infection
// curve (the fraction of live nodes that know an event, over time since
// it), the distribution of crash detection latency, and the members each
// live node counts over time. The same result gives the same bytes.

package main

import (
	"bytes"
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

func title(r *result, what string) string {
	lg := ""
	if !r.p.lifeguard {
		lg = ", Lifeguard off"
	}
	return fmt.Sprintf("%s: %s, %d nodes, loss %.2f%s, seed %d", what, r.p.scenario, r.p.n, r.p.loss, lg, r.p.seed)
}

func drawPlots(r *result) (map[string][]byte, error) {
	out := map[string][]byte{}
	add := func(name string, p *plot.Plot, err error) error {
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		if p == nil {
			return nil
		}
		b, err := svgBytes(p)
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		out[name] = b
		return nil
	}
	p, err := infectionPlot(r)
	if err := add("infection.svg", p, err); err != nil {
		return nil, err
	}
	p, err = detectionPlot(r)
	if err := add("detection.svg", p, err); err != nil {
		return nil, err
	}
	p, err = membersPlot(r)
	if err := add("members.svg", p, err); err != nil {
		return nil, err
	}
	return out, nil
}

// svgBytes renders p as a 7 × 4 inch SVG, the size of every plot here.
func svgBytes(p *plot.Plot) ([]byte, error) {
	c := vgsvg.New(7*vg.Inch, 4*vg.Inch)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// infectionPlot draws, for each event whose every observer time was kept,
// the fraction of eligible nodes that knew it against the time since it.
func infectionPlot(r *result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title(r, "Infection curve")
	p.X.Label.Text = "seconds since the event"
	p.Y.Label.Text = "fraction of live nodes that know it"
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top = true
	p.Legend.Left = true
	k := 0
	for _, e := range r.m.events {
		if !e.keep || len(e.times) == 0 || e.target == 0 {
			continue
		}
		pts := make(plotter.XYs, 0, 2*len(e.times)+1)
		pts = append(pts, plotter.XY{X: 0, Y: 0})
		prev := 0.0
		for i, d := range e.times {
			x := d.Seconds()
			pts = append(pts, plotter.XY{X: x, Y: prev})
			prev = float64(i+1) / float64(e.target)
			pts = append(pts, plotter.XY{X: x, Y: prev})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = palette[k%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s of %s", e.kind, r.names[e.member]), l)
		k++
		if k == 5 {
			break
		}
	}
	if k == 0 {
		return nil, nil
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// detectionPlot is the histogram of crash detection latency over every
// (crashed node, observer) pair.
func detectionPlot(r *result) (*plot.Plot, error) {
	var v plotter.Values
	for _, e := range r.m.events {
		if e.kind != "death" {
			continue
		}
		for _, d := range e.times {
			v = append(v, d.Seconds())
		}
	}
	if len(v) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = title(r, "Crash detection latency")
	p.X.Label.Text = "seconds from the crash until the observer marks it dead"
	p.Y.Label.Text = "observers"
	bins := 40
	if len(v) < 200 {
		bins = 15
	}
	h, err := plotter.NewHist(v, bins)
	if err != nil {
		return nil, err
	}
	h.FillColor = palette[0]
	h.LineStyle.Width = vg.Points(0.5)
	p.Add(h)
	p.Add(plotter.NewGrid())
	return p, nil
}

// membersPlot draws the least, mean and most members a live node counts,
// each second: from the start in formation, else from a little before the
// fault.
func membersPlot(r *result) (*plot.Plot, error) {
	series := r.series
	if r.p.scenario != "formation" {
		from := r.faultAt - 5*time.Second
		for len(series) > 0 && series[0].at < from {
			series = series[1:]
		}
	}
	if len(series) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = title(r, "Members seen")
	p.X.Label.Text = "virtual seconds since the start"
	if r.p.scenario != "formation" {
		p.X.Label.Text += fmt.Sprintf(" (fault at %.0f s)", r.faultAt.Seconds())
	}
	p.Y.Label.Text = "members a live node counts (alive or suspect)"
	p.Legend.Top = false
	p.Legend.Left = true
	lines := []struct {
		name string
		y    func(s sample) float64
	}{
		{"most", func(s sample) float64 { return float64(s.seenMax) }},
		{"mean", func(s sample) float64 { return s.seenMean }},
		{"least", func(s sample) float64 { return float64(s.seenMin) }},
		{"live nodes", func(s sample) float64 { return float64(s.live) }},
	}
	for i, ln := range lines {
		pts := make(plotter.XYs, len(series))
		for j, s := range series {
			pts[j] = plotter.XY{X: s.at.Seconds(), Y: ln.y(s)}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.2)
		if ln.name == "live nodes" {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(ln.name, l)
	}
	p.Add(plotter.NewGrid())
	return p, nil
}
