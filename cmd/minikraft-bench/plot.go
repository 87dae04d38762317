package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// A grouped bar chart drawn with the standard library and a bitmap font, so the command needs
// no plotting tool: one group per record size, one bar per server and direction.

const (
	plotW, plotH                      = 960, 540
	padLeft, padRight, padTop, padBot = 80, 20, 70, 80
)

var (
	colBackground = color.RGBA{255, 255, 255, 255}
	colAxis       = color.RGBA{60, 60, 60, 255}
	colGrid       = color.RGBA{225, 225, 225, 255}
	colLimit      = color.RGBA{200, 30, 30, 255}
)

type series struct {
	name string
	col  color.RGBA
	get  func(*measurement, int) (float64, bool)
}

func writePlot(path string, r *results) error {
	produce := func(m *measurement, size int) (float64, bool) { x, ok := m.produce[size]; return x.mbps, ok }
	consume := func(m *measurement, size int) (float64, bool) { x, ok := m.consume[size]; return x.mbps, ok }
	type bar struct {
		s      series
		target string
	}
	// Produce bars first, then consume, each in the same server order, so a group reads as two
	// comparisons side by side.
	bars := []bar{
		{series{"minikraft produce", color.RGBA{31, 90, 170, 255}, produce}, nameMinikraft},
		{series{"kfake produce", color.RGBA{230, 120, 20, 255}, produce}, nameKfake},
	}
	if haveCluster {
		bars = append(bars, bar{series{"3-node RF3 produce", color.RGBA{40, 140, 70, 255}, produce}, nameCluster3})
	}
	bars = append(bars,
		bar{series{"minikraft consume", color.RGBA{120, 170, 230, 255}, consume}, nameMinikraft},
		bar{series{"kfake consume", color.RGBA{250, 190, 120, 255}, consume}, nameKfake})
	if haveCluster {
		bars = append(bars, bar{series{"3-node RF3 consume", color.RGBA{130, 200, 140, 255}, consume}, nameCluster3})
	}
	sizes := r.o.sizes
	vals := make([][]float64, len(sizes))
	top := 0.0
	for i, size := range sizes {
		vals[i] = make([]float64, len(bars))
		for j, b := range bars {
			v, ok := r.median(b.target, func(m *measurement) (float64, bool) { return b.s.get(m, size) })
			if !ok {
				v = math.NaN()
			}
			vals[i][j] = v
			if v > top {
				top = v
			}
		}
	}
	limit := r.lim.loopbackMBps
	showLimit := limit > 0 && limit <= 1.6*top
	if showLimit {
		top = limit
	}
	yMax, step := niceScale(top)

	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	draw.Draw(img, img.Bounds(), image.NewUniform(colBackground), image.Point{}, draw.Src)
	x0, x1, y0, y1 := padLeft, plotW-padRight, plotH-padBot, padTop // y0 is the axis (bottom)
	yOf := func(v float64) int { return y0 - int(math.Round(v/yMax*float64(y0-y1))) }

	runs := "1 run"
	if r.o.repeat > 1 {
		runs = fmt.Sprintf("median of %d runs", r.o.repeat)
	}
	title := fmt.Sprintf("Throughput against record size: MB/s of record values, %s, acks=all, %d partitions", runs, r.o.partitions)
	text(img, title, x0, 24, colAxis)
	sub := fmt.Sprintf("loopback TCP limit %.0f MB/s", limit)
	if !showLimit {
		sub += " (off the scale)"
	}
	sub += fmt.Sprintf("; disk write+fsync %.0f MB/s", r.lim.diskMBps)
	text(img, sub, x0, 42, colLimit)

	for v := 0.0; v <= yMax+step/2; v += step {
		y := yOf(v)
		hline(img, x0, x1, y, colGrid)
		label := fmt.Sprintf("%.0f", v)
		text(img, label, x0-8-textWidth(label), y+4, colAxis)
	}
	text(img, "MB/s", 8, y1-10, colAxis)
	vline(img, x0, y1, y0, colAxis)
	hline(img, x0, x1, y0, colAxis)

	groupW := float64(x1-x0) / float64(len(sizes))
	barW := int(groupW * 0.8 / float64(len(bars)))
	for i, size := range sizes {
		gx := x0 + int(groupW*float64(i)+groupW*0.1)
		for j, b := range bars {
			v := vals[i][j]
			bx := gx + j*barW
			if math.IsNaN(v) {
				text(img, "x", bx+barW/2-3, y0-4, colAxis)
				continue
			}
			fill(img, image.Rect(bx+1, yOf(v), bx+barW-1, y0), b.s.col)
			label := fmt.Sprintf("%.0f", v)
			if w := textWidth(label); w <= barW+4 {
				text(img, label, bx+(barW-w)/2, yOf(v)-4, colAxis)
			}
		}
		label := sizeLabel(size) + " records"
		text(img, label, gx+(len(bars)*barW-textWidth(label))/2, y0+20, colAxis)
	}
	if showLimit {
		y := yOf(limit)
		for x := x0; x < x1; x += 10 {
			hline(img, x, min(x+6, x1), y, colLimit)
		}
	}

	// Legend, under the axis, wrapping onto a second row when it does not fit.
	lx, ly := x0, y0+38
	for _, b := range bars {
		w := 16 + textWidth(b.s.name) + 24
		if lx+w > plotW {
			lx, ly = x0, ly+18
		}
		fill(img, image.Rect(lx, ly-11, lx+12, ly+1), b.s.col)
		text(img, b.s.name, lx+16, ly, colAxis)
		lx += w
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

// niceScale picks an axis maximum and a tick step of 1, 2 or 5 times a power of ten, so there
// are four to ten gridlines.
func niceScale(top float64) (yMax, step float64) {
	if top <= 0 || math.IsNaN(top) {
		return 1, 0.2
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return math.Ceil(top/step) * step, step
}

func text(img *image.RGBA, s string, x, y int, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func textWidth(s string) int { return font.MeasureString(basicfont.Face7x13, s).Ceil() }

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func hline(img *image.RGBA, xa, xb, y int, c color.Color) { fill(img, image.Rect(xa, y, xb+1, y+1), c) }
func vline(img *image.RGBA, x, ya, yb int, c color.Color) { fill(img, image.Rect(x, ya, x+1, yb+1), c) }
