package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// palette colours the series of a chart, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// series is one named line or bar set of a chart.
type series struct {
	name string
	ys   []float64 // NaN: no point
}

// Chart geometry. Every chart has the same width and its plot the same
// place and size, whatever its legend, title or tick labels: the charts of
// a report line up, and a page that scales them to a narrow window scales
// them all alike (svg.chart in reportCSS). A longer title, legend entry or
// category label wraps onto more lines, which only makes the chart taller.
const (
	plotW, plotH = 506, 210
	padLeft      = 80  // the y axis' tick labels (axisNum keeps them within it)
	padTop       = 30  // the title's (first) line above the plot
	padBott      = 40  // the x ticks and the x label below the plot
	legendW      = 230 // the legend, right of the plot: a swatch at +12, the text at +30
	chartW       = padLeft + plotW + legendW
	legendText   = legendW - 30 - 8 // a legend entry's lines are at most this wide (px); a longer name wraps
	lineStep     = 13               // px between the lines of a wrapped tick label or legend entry
	titleStep    = 18               // px between the lines of a wrapped title
	tickPx       = 11               // font sizes (px) of reportCSS: ticks and legend,
	labelPx      = 12               // the x label
	titlePx      = 14               // and the title (bold)
)

// chartLayout places a chart's parts: the plot's top left corner, the
// size of the chart and its text wrapped into lines.
type chartLayout struct {
	w, h      int
	left, top int        // the plot's top left corner
	title     []string   // the title's lines
	legend    [][]string // each series' name, in lines
	cats      [][]string // a bar chart's categories, each in lines
	xLabelY   int        // the x label's baseline
}

func (l chartLayout) right() int  { return l.left + plotW }
func (l chartLayout) bottom() int { return l.top + plotH }

// newChartLayout lays out a chart of title with yTicks on the y axis, a
// legend of names and, for a bar chart, categories under the plot. Only a
// tick label wider than padLeft holds (which axisNum does not write) moves
// the plot right, and widens the chart by as much, rather than be cut off.
func newChartLayout(title string, yTicks, names, cats []string) chartLayout {
	l := chartLayout{left: padLeft}
	for _, t := range yTicks {
		l.left = max(l.left, int(math.Ceil(textWidth(t, tickPx)))+12)
	}
	l.w = chartW + l.left - padLeft
	for _, n := range names {
		l.legend = append(l.legend, wrapText(n, legendText, tickPx))
	}
	l.title = wrapText(title, float64(l.w-l.left-8), titlePx*boldWidth)
	l.top = padTop + titleStep*(len(l.title)-1)
	catLines := 1
	if len(cats) > 0 {
		slot := float64(plotW) / float64(len(cats))
		for _, c := range cats {
			lines := wrapText(c, slot-4, tickPx)
			catLines = max(catLines, len(lines))
			l.cats = append(l.cats, lines)
		}
	}
	l.h = l.bottom() + padBott + lineStep*(catLines-1)
	l.xLabelY = l.h - 4
	y := l.top + 4
	for _, lines := range l.legend {
		y += 18 + lineStep*(len(lines)-1)
	}
	l.h = max(l.h, y+4)
	return l
}

// lineChart draws series over xs as an SVG line chart. xFmt formats the x
// axis' values; unit the y axis'.
func lineChart(title, xLabel string, xs []float64, ss []series, xFmt func(float64) string, unit yUnit) string {
	var b strings.Builder
	if len(xs) == 0 || len(ss) == 0 {
		noData(&b, title)
		return b.String()
	}
	xmin, xmax := xs[0], xs[len(xs)-1]
	if xmax <= xmin {
		xmax = xmin + 1
	}
	ymax := 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			if !math.IsNaN(y) && y > ymax {
				ymax = y
			}
		}
	}
	ymax = niceMax(ymax)
	ticks := yTicks(ymax, unit)
	l := newChartLayout(title, ticks, names(ss), nil)
	openChart(&b, l)
	px := func(x float64) float64 { return float64(l.left) + (x-xmin)/(xmax-xmin)*plotW }
	py := func(y float64) float64 { return float64(l.bottom()) - y/ymax*plotH }
	axes(&b, l, ymax, ticks, py)
	for i := 0; i <= 4; i++ {
		x := xmin + float64(i)/4*(xmax-xmin)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" class="tick">%s</text>`, px(x), l.bottom()+16, html.EscapeString(xFmt(x)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="label">%s</text>`, l.left+plotW/2, l.xLabelY, html.EscapeString(xLabel))
	for i, s := range ss {
		color := palette[i%len(palette)]
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline class="series" fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
			} else if len(pts) == 1 {
				xy := strings.Split(pts[0], ",")
				fmt.Fprintf(&b, `<circle class="series" cx="%s" cy="%s" r="2.5" fill="%s"/>`, xy[0], xy[1], color)
			}
			pts = pts[:0]
		}
		for j, y := range s.ys {
			if j >= len(xs) || math.IsNaN(y) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xs[j]), py(y)))
		}
		flush()
	}
	legend(&b, l)
	b.WriteString("</svg>")
	return b.String()
}

// barChart draws grouped bars: one group per category, one bar per series.
func barChart(title, xLabel string, cats []string, ss []series, unit yUnit) string {
	var b strings.Builder
	if len(cats) == 0 || len(ss) == 0 {
		noData(&b, title)
		return b.String()
	}
	ymax := 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			ymax = math.Max(ymax, y)
		}
	}
	ymax = niceMax(ymax)
	ticks := yTicks(ymax, unit)
	l := newChartLayout(title, ticks, names(ss), cats)
	openChart(&b, l)
	py := func(y float64) float64 { return float64(l.bottom()) - y/ymax*plotH }
	axes(&b, l, ymax, ticks, py)
	slot := float64(plotW) / float64(len(cats))
	bw := slot * 0.8 / float64(len(ss))
	for c, cat := range cats {
		x0 := float64(l.left) + float64(c)*slot
		for k, line := range l.cats[c] {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" class="tick">%s</text>`, x0+slot/2, l.bottom()+16+k*lineStep, html.EscapeString(line))
		}
		for i, s := range ss {
			if c >= len(s.ys) || s.ys[c] <= 0 {
				continue
			}
			y := py(s.ys[c])
			fmt.Fprintf(&b, `<rect class="series" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
				x0+slot*0.1+float64(i)*bw, y, bw, float64(l.bottom())-y, palette[i%len(palette)],
				html.EscapeString(s.name), html.EscapeString(cat), html.EscapeString(unit.value(s.ys[c])))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="label">%s</text>`, l.left+plotW/2, l.xLabelY, html.EscapeString(xLabel))
	legend(&b, l)
	b.WriteString("</svg>")
	return b.String()
}

// names are the series' names, in order.
func names(ss []series) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.name
	}
	return out
}

// yTicks are the labels of the y axis' five grid lines, from 0 to ymax.
func yTicks(ymax float64, unit yUnit) []string {
	out := make([]string, 5)
	for i := range out {
		out[i] = unit.tick(ymax*float64(i)/4, ymax)
	}
	return out
}

// yUnit is how a chart's y values read: multiplied by scale, followed by
// suffix.
type yUnit struct {
	scale  float64
	suffix string
}

var (
	plainUnit = yUnit{scale: 1}                // a count, a rate, a size in the title's unit
	shareUnit = yUnit{scale: 100, suffix: "%"} // a share of 1, in percent
	ratioUnit = yUnit{scale: 1, suffix: "×"}   // a ratio to a reference
)

// tick labels v on an axis from 0 to ymax (niceMax's, in four steps).
func (u yUnit) tick(v, ymax float64) string {
	return axisNum(v*u.scale, ymax*u.scale/4, ymax*u.scale) + u.suffix
}

// value labels a single value (a bar's tooltip), to three significant
// figures.
func (u yUnit) value(v float64) string {
	v *= u.scale
	return axisNum(v, math.Abs(v), math.Abs(v)) + u.suffix
}

// axisNum writes v, a multiple of step on an axis up to top, exactly (to
// step's three significant figures, niceMax's steps have no more) and
// short, so that a tick label stays within padLeft: from 10000 on in
// thousands (k), millions (M), billions (G) or trillions (T), below 0.001
// as a multiple of the axis' power of ten ("2.5e-5"), else in decimals.
// Before, a tick of 0.375 read "0.38" and one of 0.000125 "0".
func axisNum(v, step, top float64) string {
	if v == 0 || step <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return trimFloat(v)
	}
	exp, prefix := 0, ""
	switch top = math.Abs(top); {
	case top >= 1e4:
		for _, p := range []struct {
			exp    int
			prefix string
		}{{3, "k"}, {6, "M"}, {9, "G"}, {12, "T"}} {
			if top >= math.Pow10(p.exp) {
				exp, prefix = p.exp, p.prefix
			}
		}
	case top < 1e-3:
		exp = int(math.Floor(math.Log10(top)))
		prefix = "e" + strconv.Itoa(exp)
	}
	v, step = v/math.Pow10(exp), step/math.Pow10(exp)
	decimals := max(0, 2-int(math.Floor(math.Log10(step))))
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s + prefix
}

func openChart(b *strings.Builder, l chartLayout) {
	title := strings.Join(l.title, " ")
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		l.w, l.h, l.w, l.h, html.EscapeString(title))
	fmt.Fprintf(b, `<title>%s</title><rect width="%d" height="%d" fill="#fff"/>`, html.EscapeString(title), l.w, l.h)
	for i, line := range l.title {
		fmt.Fprintf(b, `<text x="%d" y="%d" class="title">%s</text>`, l.left, 18+i*titleStep, html.EscapeString(line))
	}
}

func noData(b *strings.Builder, title string) {
	l := newChartLayout(title, nil, nil, nil)
	openChart(b, l)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" class="label">no data</text></svg>`, l.w/2, l.h/2)
}

func axes(b *strings.Builder, l chartLayout, ymax float64, ticks []string, py func(float64) float64) {
	for i, t := range ticks {
		y := py(ymax * float64(i) / 4)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, l.left, l.right(), y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" class="tick">%s</text>`, l.left-6, y+4, html.EscapeString(t))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="axis"/>`, l.left, l.left, l.top, l.bottom())
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="axis"/>`, l.left, l.right(), l.bottom(), l.bottom())
}

// legend draws a swatch and the name of each series, right of the plot.
func legend(b *strings.Builder, l chartLayout) {
	y := l.top + 4
	for i, lines := range l.legend {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`, l.right()+12, y, palette[i%len(palette)])
		for k, line := range lines {
			fmt.Fprintf(b, `<text x="%d" y="%d" class="legend">%s</text>`, l.right()+30, y+10+k*lineStep, html.EscapeString(line))
		}
		y += 18 + lineStep*(len(lines)-1)
	}
}

// glyphWidths are the advances of DejaVu Sans, the widest of the usual
// default sans-serif fonts, in hundredths of an em, of the ASCII runes ' '
// (32) to '~' (126); textWidth takes any other rune as 1 em.
var glyphWidths = [...]uint8{
	32, 40, 46, 84, 64, 95, 78, 27, 39, 39, 50, 84, 32, 36, 32, 34, // ' ' to '/'
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 34, 34, 84, 84, 84, 53, // '0' to '?'
	100, 68, 69, 70, 77, 63, 58, 77, 75, 29, 29, 66, 56, 86, 75, 79, // '@' to 'O'
	60, 79, 69, 63, 61, 73, 68, 99, 69, 61, 69, 39, 34, 39, 84, 50, // 'P' to '_'
	50, 61, 63, 55, 63, 62, 35, 63, 63, 28, 28, 58, 28, 97, 63, 61, // '`' to 'o'
	63, 63, 41, 52, 39, 63, 59, 82, 59, 59, 52, 64, 34, 64, 84, // 'p' to '~'
}

// boldWidth is how much wider a bold face sets a text (DejaVu Sans Bold's
// advances are 1.10 times the regular ones on average; some more).
const boldWidth = 1.15

// textWidth estimates the width in px of s set in a sans-serif font of px
// size, from the advances of a wide one and with a margin, so that a box
// this wide holds it.
func textWidth(s string, px float64) float64 {
	em := 0.0
	for _, r := range s {
		if r >= ' ' && int(r-' ') < len(glyphWidths) {
			em += float64(glyphWidths[r-' ']) / 100
		} else {
			em++
		}
	}
	return em*px*1.04 + 1
}

// wrapText breaks s into lines no wider than maxW (textWidth at px): at
// spaces, and a word wider than a line within the word.
func wrapText(s string, maxW, px float64) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && textWidth(line+" "+word, px) <= maxW {
			line += " " + word
			continue
		}
		if line != "" {
			lines = append(lines, line)
		}
		line = ""
		for _, r := range word {
			if line != "" && textWidth(line+string(r), px) > maxW {
				lines = append(lines, line)
				line = ""
			}
			line += string(r)
		}
	}
	if line != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}

// niceMax rounds v up to 1, 2, 2.5 or 5 times a power of ten (1 for v <= 0).
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
