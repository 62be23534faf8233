// This file owns -scaling: a plot of how long single events take to spread
// against the cluster size, drawn from the -out folders of earlier runs
// (their events.csv and summary.csv), next to Serf's convergence model. It
// runs no simulation.

package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// serfModel is Serf's convergence model at LAN settings (gossip every
// 200 ms to 3 nodes, no loss) as Serf publishes it: seconds until 99.99%
// of the nodes know an event.
var serfModel = []struct {
	nodes   int
	seconds float64
}{{1000, 2.15}, {10000, 2.46}}

// spreadPoint is one event kind's spread in one run.
type spreadPoint struct {
	nodes          int
	kind           string
	t50, t99, t100 float64
}

// readSpread reads the events of the run whose -out folder is dir.
func readSpread(dir string) ([]spreadPoint, error) {
	readCSV := func(name string) ([][]string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, badInput("-scaling: %v (give the -out folders of earlier runs)", err)
		}
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil || len(rows) < 1 {
			return nil, badInput("-scaling: %s is not a CSV file this command wrote: %v", filepath.Join(dir, name), err)
		}
		return rows, nil
	}
	sum, err := readCSV("summary.csv")
	if err != nil {
		return nil, err
	}
	nodes := 0
	for _, row := range sum {
		if len(row) >= 2 && row[0] == "nodes" {
			nodes, _ = strconv.Atoi(row[1])
		}
	}
	if nodes <= 0 {
		return nil, badInput("-scaling: %s names no node count", filepath.Join(dir, "summary.csv"))
	}
	ev, err := readCSV("events.csv")
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range ev[0] {
		col[h] = i
	}
	for _, h := range []string{"kind", "t50_s", "t99_s", "t100_s"} {
		if _, ok := col[h]; !ok {
			return nil, badInput("-scaling: %s has no column %s", filepath.Join(dir, "events.csv"), h)
		}
	}
	var out []spreadPoint
	for _, row := range ev[1:] {
		p := spreadPoint{nodes: nodes, kind: row[col["kind"]]}
		ok := true
		for _, f := range []struct {
			dst  *float64
			name string
		}{{&p.t50, "t50_s"}, {&p.t99, "t99_s"}, {&p.t100, "t100_s"}} {
			var err error
			*f.dst, err = strconv.ParseFloat(row[col[f.name]], 64)
			ok = ok && err == nil
		}
		if ok { // an event that never reached everyone ("never") is left out
			out = append(out, p)
		}
	}
	return out, nil
}

// scalingPlot draws scaling.svg from the runs in dirs.
func scalingPlot(dirs []string) ([]byte, error) {
	var pts []spreadPoint
	for _, d := range dirs {
		p, err := readSpread(d)
		if err != nil {
			return nil, err
		}
		pts = append(pts, p...)
	}
	slices.SortStableFunc(pts, func(a, b spreadPoint) int { return a.nodes - b.nodes })
	kinds := []string{}
	for _, p := range pts {
		if !slices.Contains(kinds, p.kind) {
			kinds = append(kinds, p.kind)
		}
	}
	slices.Sort(kinds)
	if len(kinds) == 0 {
		return nil, badInput("-scaling: no event in %s reached every node", strings.Join(dirs, ", "))
	}
	pl := plot.New()
	pl.Title.Text = "time until a single event is known, against cluster size (LAN settings)"
	pl.X.Label.Text = "nodes"
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	pl.Y.Label.Text = "seconds"
	pl.Y.Min = 0
	pl.Legend.Top = true
	pl.Legend.Left = true
	ci := 0
	for _, k := range kinds {
		for _, q := range []struct {
			name string
			get  func(spreadPoint) float64
			dash []vg.Length
		}{
			{"50%", func(p spreadPoint) float64 { return p.t50 }, []vg.Length{vg.Points(2), vg.Points(2)}},
			{"100%", func(p spreadPoint) float64 { return p.t100 }, nil},
		} {
			var xy plotter.XYs
			for _, p := range pts {
				if p.kind == k {
					xy = append(xy, plotter.XY{X: float64(p.nodes), Y: q.get(p)})
				}
			}
			l, s, err := plotter.NewLinePoints(xy)
			if err != nil {
				return nil, err
			}
			l.Color, s.Color = palette[ci%len(palette)], palette[ci%len(palette)]
			l.Dashes = q.dash
			pl.Add(l, s)
			pl.Legend.Add(fmt.Sprintf("%s known by %s", k, q.name), l, s)
		}
		ci++
	}
	var model plotter.XYs
	for _, m := range serfModel {
		model = append(model, plotter.XY{X: float64(m.nodes), Y: m.seconds})
	}
	s, err := plotter.NewScatter(model)
	if err != nil {
		return nil, err
	}
	s.Shape = draw.CrossGlyph{}
	s.Radius = vg.Points(5)
	pl.Add(s)
	pl.Legend.Add("Serf's model: 99.99% of the nodes", s)
	return svgBytes(pl)
}
