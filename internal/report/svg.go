package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// palette colours the series of a chart, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// series is one named line or bar set of a chart.
type series struct {
	name string
	ys   []float64 // NaN: no point
}

// chart geometry.
const (
	chartW, chartH                     = 720, 280
	padLeft, padRight, padTop, padBott = 64, 150, 30, 40
)

// lineChart draws series over xs as an SVG line chart. yFmt formats axis
// values; xFmt the x axis.
func lineChart(title, xLabel string, xs []float64, ss []series, xFmt, yFmt func(float64) string) string {
	var b strings.Builder
	openChart(&b, title)
	if len(xs) == 0 || len(ss) == 0 {
		noData(&b)
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
	px := func(x float64) float64 { return padLeft + (x-xmin)/(xmax-xmin)*(chartW-padLeft-padRight) }
	py := func(y float64) float64 { return chartH - padBott - y/ymax*(chartH-padTop-padBott) }
	axes(&b, ymax, py, yFmt)
	for i := 0; i <= 4; i++ {
		x := xmin + float64(i)/4*(xmax-xmin)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" class="tick">%s</text>`, px(x), chartH-padBott+16, html.EscapeString(xFmt(x)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="label">%s</text>`, (padLeft+chartW-padRight)/2, chartH-4, html.EscapeString(xLabel))
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
		legend(&b, i, s.name, color)
	}
	b.WriteString("</svg>")
	return b.String()
}

// barChart draws grouped bars: one group per category, one bar per series.
func barChart(title, xLabel string, cats []string, ss []series, yFmt func(float64) string) string {
	var b strings.Builder
	openChart(&b, title)
	if len(cats) == 0 || len(ss) == 0 {
		noData(&b)
		return b.String()
	}
	ymax := 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			ymax = math.Max(ymax, y)
		}
	}
	ymax = niceMax(ymax)
	py := func(y float64) float64 { return chartH - padBott - y/ymax*(chartH-padTop-padBott) }
	axes(&b, ymax, py, yFmt)
	slot := float64(chartW-padLeft-padRight) / float64(len(cats))
	bw := slot * 0.8 / float64(len(ss))
	for c, cat := range cats {
		x0 := padLeft + float64(c)*slot
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" class="tick">%s</text>`, x0+slot/2, chartH-padBott+16, html.EscapeString(cat))
		for i, s := range ss {
			if c >= len(s.ys) || s.ys[c] <= 0 {
				continue
			}
			y := py(s.ys[c])
			fmt.Fprintf(&b, `<rect class="series" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
				x0+slot*0.1+float64(i)*bw, y, bw, float64(chartH-padBott)-y, palette[i%len(palette)],
				html.EscapeString(s.name), html.EscapeString(cat), html.EscapeString(yFmt(s.ys[c])))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="label">%s</text>`, (padLeft+chartW-padRight)/2, chartH-4, html.EscapeString(xLabel))
	for i, s := range ss {
		legend(&b, i, s.name, palette[i%len(palette)])
	}
	b.WriteString("</svg>")
	return b.String()
}

func openChart(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(title))
	fmt.Fprintf(b, `<title>%s</title><rect width="%d" height="%d" fill="#fff"/>`, html.EscapeString(title), chartW, chartH)
	fmt.Fprintf(b, `<text x="%d" y="18" class="title">%s</text>`, padLeft, html.EscapeString(title))
}

func noData(b *strings.Builder) {
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" class="label">no data</text></svg>`, chartW/2, chartH/2)
}

func axes(b *strings.Builder, ymax float64, py func(float64) float64, yFmt func(float64) string) {
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padLeft, chartW-padRight, py(y), py(y))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" class="tick">%s</text>`, padLeft-6, py(y)+4, html.EscapeString(yFmt(y)))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="axis"/>`, padLeft, padLeft, padTop, chartH-padBott)
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="axis"/>`, padLeft, chartW-padRight, chartH-padBott, chartH-padBott)
}

func legend(b *strings.Builder, i int, name, color string) {
	y := padTop + 4 + i*18
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`, chartW-padRight+12, y, color)
	fmt.Fprintf(b, `<text x="%d" y="%d" class="legend">%s</text>`, chartW-padRight+30, y+10, html.EscapeString(name))
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
