package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strconv"
)

// The scale run's plot: one small panel per figure, each a line over the partition counts on a
// logarithmic x axis (linear y from 0), this run in blue and the baseline, if any, in grey.
// Drawn with the standard library and the bitmap font plot.go uses.

const (
	scalePanelW, scalePanelH = 400, 260
	scaleCols, scaleRows     = 3, 2
)

var (
	colScale     = color.RGBA{31, 90, 170, 255}
	colScaleBase = color.RGBA{160, 160, 160, 255}
)

type scalePanel struct {
	title string
	get   func(scaleRow) float64
}

func writeScalePlot(path string, rows, base []scaleRow) error {
	panels := []scalePanel{
		{"create -> serving last (s)", func(r scaleRow) float64 { return r.CreateSec }},
		{"idle RSS (MB)", func(r scaleRow) float64 { return float64(r.IdleRSS) / 1e6 }},
		{"open files", func(r scaleRow) float64 { return float64(r.OpenFiles) }},
		{"goroutines", func(r scaleRow) float64 { return float64(r.Goroutines) }},
		{"clean restart -> serving last (s)", func(r scaleRow) float64 { return r.CleanStartSec }},
		{"kill -9 restart -> serving last (s)", func(r scaleRow) float64 { return r.KillStartSec }},
	}
	const header = 40
	img := image.NewRGBA(image.Rect(0, 0, scaleCols*scalePanelW, scaleRows*scalePanelH+header))
	fill(img, img.Bounds(), colBackground)
	title := "minikraft, one node: cost against partitions (log x)"
	text(img, title, 12, 22, colAxis)
	legendX := 12 + textWidth(title) + 30
	fill(img, image.Rect(legendX, 14, legendX+18, 24), colScale)
	text(img, "this run", legendX+24, 23, colAxis) // the "after" of a before/after
	if len(base) > 0 {
		fill(img, image.Rect(legendX+110, 14, legendX+128, 24), colScaleBase)
		text(img, "baseline (before)", legendX+134, 23, colAxis)
	}
	// One x range for all panels: the counts of both runs.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, rs := range [][]scaleRow{rows, base} {
		for _, r := range rs {
			lo, hi = math.Min(lo, float64(r.Partitions)), math.Max(hi, float64(r.Partitions))
		}
	}
	if lo >= hi {
		lo, hi = lo/10, hi*10
	}
	for i, p := range panels {
		x0 := (i % scaleCols) * scalePanelW
		y0 := header + (i/scaleCols)*scalePanelH
		drawScalePanel(img, image.Rect(x0, y0, x0+scalePanelW, y0+scalePanelH), p, rows, base, lo, hi)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func drawScalePanel(img *image.RGBA, r image.Rectangle, p scalePanel, rows, base []scaleRow, lo, hi float64) {
	const l, rt, t, b = 60, 20, 28, 36
	text(img, p.title, r.Min.X+l, r.Min.Y+18, colAxis)
	plot := image.Rect(r.Min.X+l, r.Min.Y+t, r.Max.X-rt, r.Max.Y-b)
	top := 0.0
	for _, rs := range [][]scaleRow{rows, base} {
		for _, x := range rs {
			top = math.Max(top, p.get(x))
		}
	}
	if top <= 0 {
		top = 1
	}
	yMax, step := niceScale(top)
	ypix := func(v float64) int { return plot.Max.Y - int(v/yMax*float64(plot.Dy())+0.5) }
	xpix := func(n float64) int {
		return plot.Min.X + int((math.Log10(n)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*float64(plot.Dx())+0.5)
	}
	for v := 0.0; v <= yMax+step/2; v += step {
		y := ypix(v)
		hline(img, plot.Min.X, plot.Max.X, y, colGrid)
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if step < 1 {
			s = fmt.Sprintf("%.1f", v)
		}
		text(img, s, plot.Min.X-6-textWidth(s), y+4, colAxis)
	}
	for d := math.Pow(10, math.Floor(math.Log10(lo))); d <= hi*1.0001; d *= 10 {
		if d < lo*0.9999 {
			continue
		}
		x := xpix(d)
		vline(img, x, plot.Min.Y, plot.Max.Y, colGrid)
		s := groupThousands(strconv.Itoa(int(d)))
		text(img, s, x-textWidth(s)/2, plot.Max.Y+16, colAxis)
	}
	hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, colAxis)
	vline(img, plot.Min.X, plot.Min.Y, plot.Max.Y, colAxis)
	text(img, "partitions", plot.Min.X+plot.Dx()/2-30, plot.Max.Y+31, colAxis)
	for _, s := range []struct {
		rs  []scaleRow
		col color.RGBA
	}{{base, colScaleBase}, {rows, colScale}} {
		var px, py int
		drawn := false
		for _, x := range s.rs {
			if p.get(x) <= 0 { // not measured (the run failed before this figure)
				continue
			}
			cx, cy := xpix(float64(x.Partitions)), ypix(p.get(x))
			if drawn {
				line(img, px, py, cx, cy, s.col)
			}
			drawn = true
			fill(img, image.Rect(cx-3, cy-3, cx+4, cy+4), s.col)
			px, py = cx, cy
		}
	}
}

// line draws a two-pixel-wide straight line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
