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
		{"qos legend", lineChart("QoS: p95(imap.SELECT) < 250ms", "users", xs, []series{{name: "p95(imap.SELECT) < 250ms", ys: ys}, {name: "capacity", ys: ys}}, trimFloat, plainUnit)},
		{"delivery legend", lineChart("QoS: delivery_failure_rate < 1%", "users", xs, []series{{name: "delivery_failure_rate < 1%", ys: ys}}, trimFloat, plainUnit)},
		{"long legend wraps", lineChart("t", "x", xs, []series{{name: strings.Repeat("divergence_ratio{group=a-very-long-group-name} ", 3), ys: ys}, {name: strings.Repeat("x", 90), ys: ys}}, trimFloat, plainUnit)},
		{"legend taller than the plot", lineChart("t", "x", xs, many, trimFloat, plainUnit)},
		{"long title", lineChart("Cost per user relative to "+strings.Repeat("a-long-reference-group-name ", 6)+"(1 = same)", "x", xs, []series{{name: "a", ys: ys}}, trimFloat, plainUnit)},
		{"wide y ticks", lineChart("t", "x", xs, []series{{name: "a", ys: []float64{1e12, 2e12, 3e12, 4e12}}}, trimFloat, plainUnit)},
		{"cost categories", barChart("Cost per user relative to pop3-office (1 = same)", "", costCats, []series{{name: "pop3-office", ys: []float64{1, 1, 1, 1, 1, 1, 1, 1}}, {name: "imap-everywhere", ys: []float64{0.1, 2, 3, 11, 2, 1, 1, 3}}}, plainUnit)},
		{"no data", lineChart("Divergence ratio per group", "x", nil, nil, trimFloat, plainUnit)},
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

var svgAxisRE = regexp.MustCompile(`<line x1="(\d+)" x2="(\d+)" y1="(\d+)" y2="(\d+)" class="axis"/>`)

// TestChartsAlign: the charts of a report have one width and their plots
// one place and size, whatever their legends, titles and tick labels, so
// they line up and a narrow window scales them alike. Before, a chart was
// as wide as its legend: "p95(imap.SELECT) < 250ms" made the capacity
// report's QoS chart 746 px wide beside 720 px charts, and a y axis of
// 1e12 moved its plot right.
func TestChartsAlign(t *testing.T) {
	xs := []float64{2, 4, 8, 16}
	ys := []float64{0.1, 0.2, 0.3, 0.4}
	many := make([]series, 14)
	for i := range many {
		many[i] = series{name: "group-" + strconv.Itoa(i), ys: ys}
	}
	charts := []struct {
		name, svg string
	}{
		{"short legend", lineChart("Client commands per second against users", "users", xs, []series{{name: "commands/s", ys: ys}}, trimFloat, plainUnit)},
		{"qos legend", lineChart("QoS: p95(imap.SELECT) < 250ms", "users", xs, []series{{name: "p95(imap.SELECT) < 250ms", ys: ys}, {name: "capacity", ys: ys}}, trimFloat, plainUnit)},
		{"long legend", lineChart("t", "x", xs, []series{{name: "divergence_ratio{group=a-very-long-group-name} < 50%", ys: ys}}, trimFloat, plainUnit)},
		{"many series", lineChart("t", "x", xs, many, trimFloat, plainUnit)},
		{"long title", lineChart("Cost per user relative to "+strings.Repeat("a-long-reference-group-name ", 6), "x", xs, []series{{name: "a", ys: ys}}, trimFloat, plainUnit)},
		{"huge values", lineChart("t", "x", xs, []series{{name: "a", ys: []float64{1e12, 2e12, 3e12, 4e12}}}, trimFloat, plainUnit)},
		{"tiny values", lineChart("t", "x", xs, []series{{name: "a", ys: []float64{1e-5, 2e-5, 3e-5, 4e-5}}}, trimFloat, shareUnit)},
		{"bars", barChart("Cost per user relative to pop3-office (1 = same)", "", []string{"commands / user / day", "stored / user"}, []series{{name: "pop3-office", ys: []float64{1, 1}}, {name: "imap-everywhere", ys: []float64{250, 0.5}}}, ratioUnit)},
	}
	var want string
	for _, c := range charts {
		w, _, _ := parseChart(t, c.svg)
		axes := svgAxisRE.FindAllStringSubmatch(c.svg, -1)
		if len(axes) != 2 {
			t.Fatalf("%s: %d axis lines, want 2", c.name, len(axes))
		}
		// The y axis' x and the x axis' span: the plot's left and right.
		got := "width " + strconv.Itoa(int(w)) + ", plot x " + axes[0][1] + " to " + axes[1][2]
		if want == "" {
			want = got
		}
		if got != want {
			t.Errorf("%s: %s, the first chart's %s", c.name, got, want)
		}
	}
	w, _, _ := parseChart(t, lineChart("no data", "x", nil, nil, trimFloat, plainUnit))
	if got := "width " + strconv.Itoa(int(w)); !strings.HasPrefix(want, got+",") {
		t.Errorf("an empty chart's %s, the others' %s", got, want)
	}
}

// TestAxisNum: tick labels are exact and short. Before, 0.375 read "0.38",
// 0.000125 "0" and 1e12 "1000000000000".
func TestAxisNum(t *testing.T) {
	for _, tt := range []struct {
		ymax float64
		unit yUnit
		want string
	}{
		{1, plainUnit, "0 0.25 0.5 0.75 1"},
		{0.5, plainUnit, "0 0.125 0.25 0.375 0.5"},
		{2.5, plainUnit, "0 0.625 1.25 1.875 2.5"},
		{200, plainUnit, "0 50 100 150 200"},
		{2500, plainUnit, "0 625 1250 1875 2500"},
		{250000, plainUnit, "0 62.5k 125k 187.5k 250k"},
		{5e6, plainUnit, "0 1.25M 2.5M 3.75M 5M"},
		{1e12, plainUnit, "0 0.25T 0.5T 0.75T 1T"},
		{0.0005, plainUnit, "0 1.25e-4 2.5e-4 3.75e-4 5e-4"},
		{0.0025, plainUnit, "0 0.000625 0.00125 0.001875 0.0025"},
		{1, shareUnit, "0% 25% 50% 75% 100%"},
		{0.025, shareUnit, "0% 0.625% 1.25% 1.875% 2.5%"},
		{20, ratioUnit, "0× 5× 10× 15× 20×"},
	} {
		got := strings.Join(yTicks(tt.ymax, tt.unit), " ")
		if got != tt.want {
			t.Errorf("ticks to %v%s: %q, want %q", tt.ymax, tt.unit.suffix, got, tt.want)
		}
		for _, tick := range strings.Fields(got) {
			if w := textWidth(tick, tickPx); w+12 > padLeft {
				t.Errorf("tick %q is %.0f px wide: more than padLeft holds", tick, w)
			}
		}
	}
	for v, want := range map[float64]string{0.123456: "0.123", 1234.6: "1235", 12345: "12.3k", 0.00012345: "1.23e-4", 2: "2"} {
		if got := plainUnit.value(v); got != want {
			t.Errorf("value(%v) = %q, want %q", v, got, want)
		}
	}
}
