package report

import (
	"html"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// svgText is one <text> element of a chart.
type svgText struct {
	x, y          float64
	anchor, class string
	text          string
}

var (
	svgSizeRE = regexp.MustCompile(`^<svg [^>]*width="(\d+)" height="(\d+)"`)
	svgTextRE = regexp.MustCompile(`<text x="([\d.]+)" y="([\d.]+)"(?: text-anchor="(\w+)")? class="(\w+)">([^<]*)</text>`)
)

// parseChart reads a chart's size and its texts.
func parseChart(t *testing.T, svg string) (w, h float64, texts []svgText) {
	t.Helper()
	m := svgSizeRE.FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no svg size in %.200s", svg)
	}
	w, _ = strconv.ParseFloat(m[1], 64)
	h, _ = strconv.ParseFloat(m[2], 64)
	for _, m := range svgTextRE.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		texts = append(texts, svgText{x: x, y: y, anchor: m[3], class: m[4], text: html.UnescapeString(m[5])})
	}
	return w, h, texts
}

// fontPx are the font sizes of the chart texts' classes (reportCSS).
var fontPx = map[string]float64{"tick": 11, "legend": 11, "label": 12, "title": 14}

// span is the least horizontal extent of a text: half an em per rune is
// narrower than any usual sans-serif font sets words and figures, so a
// text that overflows with it overflows on the page.
func (s svgText) span() (lo, hi float64) {
	w := 0.5 * fontPx[s.class] * float64(utf8.RuneCountInString(s.text))
	switch s.anchor {
	case "middle":
		return s.x - w/2, s.x + w/2
	case "end":
		return s.x - w, s.x
	}
	return s.x, s.x + w
}

// TestChartTextInside: every text of a chart is inside the chart, and the
// category labels under a bar chart do not run into each other. Before,
// the legend had 120 px whatever its names: the capacity report's
// "p95(imap.SELECT) < 250ms" showed as "p95(imap.SELECT) < 2" and
// "delivery_failure_rate < 1%" as "delivery_failure_rate <"; the cost
// chart's categories ("commands / user / day", ...) ran into each other; a
// legend of more series than the plot is tall ran off the chart's bottom.
func TestChartTextInside(t *testing.T) {
	xs := []float64{2, 4, 8, 16}
	ys := []float64{0.1, 0.2, 0.3, 0.4}
	many := make([]series, 14)
	for i := range many {
		many[i] = series{name: "group-" + strconv.Itoa(i), ys: ys}
	}
	costCats := []string{"divergence ratio", "commands / user / day", "bytes / user / day", "connection time / user / day",
		"logins / user / day", "stored / user", "storage growth / user / day", "server time / user / day"}
	for _, tt := range []struct {
		name string
		svg  string
	}{
		{"qos legend", lineChart("QoS: p95(imap.SELECT) < 250ms", "users", xs, []series{{name: "p95(imap.SELECT) < 250ms", ys: ys}, {name: "capacity", ys: ys}}, trimFloat, trimFloat)},
		{"delivery legend", lineChart("QoS: delivery_failure_rate < 1%", "users", xs, []series{{name: "delivery_failure_rate < 1%", ys: ys}}, trimFloat, trimFloat)},
		{"long legend wraps", lineChart("t", "x", xs, []series{{name: strings.Repeat("divergence_ratio{group=a-very-long-group-name} ", 3), ys: ys}, {name: strings.Repeat("x", 90), ys: ys}}, trimFloat, trimFloat)},
		{"legend taller than the plot", lineChart("t", "x", xs, many, trimFloat, trimFloat)},
		{"long title", lineChart("Cost per user relative to "+strings.Repeat("a-long-reference-group-name ", 6)+"(1 = same)", "x", xs, []series{{name: "a", ys: ys}}, trimFloat, trimFloat)},
		{"wide y ticks", lineChart("t", "x", xs, []series{{name: "a", ys: []float64{1e12, 2e12, 3e12, 4e12}}}, trimFloat, trimFloat)},
		{"cost categories", barChart("Cost per user relative to pop3-office (1 = same)", "", costCats, []series{{name: "pop3-office", ys: []float64{1, 1, 1, 1, 1, 1, 1, 1}}, {name: "imap-everywhere", ys: []float64{0.1, 2, 3, 11, 2, 1, 1, 3}}}, trimFloat)},
		{"no data", lineChart("Divergence ratio per group", "x", nil, nil, trimFloat, trimFloat)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, h, texts := parseChart(t, tt.svg)
			if len(texts) == 0 {
				t.Fatal("no texts")
			}
			rows := map[float64][]svgText{}
			for _, s := range texts {
				lo, hi := s.span()
				px := fontPx[s.class]
				if lo < 0 || hi > w || s.y-0.75*px < 0 || s.y+0.25*px > h {
					t.Errorf("%s %q spans x %.0f to %.0f at y %.0f: outside the %.0f × %.0f chart", s.class, s.text, lo, hi, s.y, w, h)
				}
				if s.class == "tick" && s.anchor == "middle" {
					rows[s.y] = append(rows[s.y], s)
				}
			}
			for _, row := range rows {
				sort.Slice(row, func(i, j int) bool { return row[i].x < row[j].x })
				for i := 1; i < len(row); i++ {
					_, hi := row[i-1].span()
					if lo, _ := row[i].span(); hi > lo {
						t.Errorf("x labels %q and %q overlap", row[i-1].text, row[i].text)
					}
				}
			}
		})
	}
}

// TestWrapText: wrapped lines are no wider than asked and keep every
// word, breaking within a word only when it is wider than a line.
func TestWrapText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		maxW float64
		want []string
	}{
		{"", 100, []string{""}},
		{"capacity", 300, []string{"capacity"}},
		{"connection time / user / day", 70, []string{"connection", "time / user", "/ day"}},
		{"p95(imap.SELECT) < 250ms", 300, []string{"p95(imap.SELECT) < 250ms"}},
		{strings.Repeat("x", 30), 60, nil}, // checked by width only
	} {
		got := wrapText(tt.in, tt.maxW, tickPx)
		for _, line := range got {
			if textWidth(line, tickPx) > tt.maxW && utf8.RuneCountInString(line) > 1 {
				t.Errorf("wrapText(%q, %v): line %q is %.0f px wide", tt.in, tt.maxW, line, textWidth(line, tickPx))
			}
		}
		if strings.ReplaceAll(strings.Join(got, ""), " ", "") != strings.ReplaceAll(tt.in, " ", "") {
			t.Errorf("wrapText(%q, %v) = %q: lost text", tt.in, tt.maxW, got)
		}
		if tt.want != nil && strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrapText(%q, %v) = %q, want %q", tt.in, tt.maxW, got, tt.want)
		}
	}
}
