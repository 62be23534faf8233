// This file owns the SVG plots.

package main

func drawPlots(*result) (map[string][]byte, error) { return nil, nil }
