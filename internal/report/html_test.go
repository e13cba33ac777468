package report

import (
	"bytes"
	"context"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func writeHTML(t *testing.T) string {
	t.Helper()
	r := Build(sampleInput(t, "lost_messages == 0", "divergence_ratio{group=pop3-office} < 1%"))
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestHTMLSelfContained(t *testing.T) {
	out := writeHTML(t)
	if n := strings.Count(out, "<svg "); n != 7 {
		t.Errorf("HTML has %d charts, want 7", n)
	}
	for _, bad := range []string{"<script", "src=", "href=", "<link", "@import"} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML contains %q: not self-contained", bad)
		}
	}
	for _, want := range []string{"pop3-office", "Divergence ratio per group", "Convergence lag distribution", "polyline", "FAIL", "deleted-from-server=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(out, "no data") {
		t.Error("a chart has no data although the timeline has samples")
	}
}

func TestHTMLEscapes(t *testing.T) {
	in := sampleInput(t)
	in.Scenario = `<b>"x"</b>`
	in.Audit.Groups["<evil>"] = in.Audit.Groups["pop3-office"]
	in.Timeline.Add(Sample{DivergenceByGroup: map[string]float64{"<evil>": 0.5}})
	var buf bytes.Buffer
	if err := Build(in).WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<evil>") || strings.Contains(buf.String(), `<b>"x"</b>`) {
		t.Error("HTML does not escape names")
	}
}

// chromium runs headless Chromium on page with the extra flags and returns
// its stdout; it skips the test when Chromium is not installed.
func chromium(t *testing.T, page string, extra ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install -y chromium): skipping the browser rendering test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + filepath.Join(filepath.Dir(page), "profile")}, extra...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestHTMLInChromium renders the report in headless Chromium and checks the
// charts are in the DOM. Set MAILSIM_SCREENSHOT=path.png to keep a
// screenshot.
func TestHTMLInChromium(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(writeHTML(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(chromium(t, page, "--dump-dom"))
	if n := len(regexp.MustCompile(`<svg[^>]*class="chart"`).FindAllString(dom, -1)); n != 7 {
		t.Errorf("rendered DOM has %d charts, want 7", n)
	}
	if n := strings.Count(dom, `class="series"`); n < 10 {
		t.Errorf("rendered DOM has %d series elements, want the chart lines and bars", n)
	}
	shot := os.Getenv("MAILSIM_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "shot.png")
	}
	chromium(t, page, "--screenshot="+shot, "--window-size=1200,2400", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 10000 {
		t.Errorf("screenshot is %d bytes, not a rendered PNG", len(png))
	}
}

// fitScript, added to a report for TestHTMLFitsInChromium only (the
// reports have no script), lists what the browser laid out cut off or
// crowded: a chart text outside its chart, two x labels of a chart that
// overlap, a table cell of more than two lines, a <pre> whose lines run
// past its box, the page scrolling sideways, charts that differ in width
// or in their plot's place within them, charts that use less than 2/3 of
// the page's width, a cell aligned against its column's kind.
const fitScript = `<script>
var bad = [];
document.querySelectorAll("svg.chart").forEach(function (svg) {
  var W = svg.width.baseVal.value, H = svg.height.baseVal.value, rows = {};
  svg.querySelectorAll("text").forEach(function (t) {
    var b = t.getBBox();
    if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > W + 0.5 || b.y + b.height > H + 0.5)
      bad.push("chart text cut: " + t.textContent + " at x " + b.x.toFixed(0) + " to " + (b.x + b.width).toFixed(0) + ", y " + b.y.toFixed(0) + " to " + (b.y + b.height).toFixed(0) + " of " + W + " x " + H);
    if (t.getAttribute("class") == "tick" && t.getAttribute("text-anchor") == "middle")
      (rows[t.getAttribute("y")] = rows[t.getAttribute("y")] || []).push({t: t.textContent, b: b});
  });
  Object.keys(rows).forEach(function (y) {
    var r = rows[y].sort(function (a, b) { return a.b.x - b.b.x; });
    for (var i = 1; i < r.length; i++)
      if (r[i - 1].b.x + r[i - 1].b.width > r[i].b.x + 0.5) bad.push("x labels overlap: " + r[i - 1].t + " | " + r[i].t);
  });
});
document.querySelectorAll("td").forEach(function (td) {
  var first = td.parentNode.cells[1] || td, range = document.createRange(), one = document.createRange();
  range.selectNodeContents(td);
  one.selectNodeContents(first);
  var lines = Math.round(range.getBoundingClientRect().height / one.getBoundingClientRect().height);
  if (lines > 2) bad.push("cell of " + lines + " lines: " + td.textContent);
});
document.querySelectorAll("pre").forEach(function (pre) {
  if (pre.scrollWidth > pre.clientWidth + 1) bad.push("pre lines run past its box: " + pre.scrollWidth + " > " + pre.clientWidth);
});
var root = document.documentElement;
if (root.scrollWidth > root.clientWidth + 1) bad.push("the page scrolls sideways: " + root.scrollWidth + " > " + root.clientWidth);
var plot = null, charts = document.querySelectorAll("svg.chart"), from = Infinity, to = -Infinity;
charts.forEach(function (svg) {
  var s = svg.getBoundingClientRect(), axes = svg.querySelectorAll("line.axis");
  from = Math.min(from, s.left);
  to = Math.max(to, s.right);
  if (axes.length != 2) return;
  var p = [s.width, axes[0].getBoundingClientRect().left - s.left, axes[1].getBoundingClientRect().width];
  plot = plot || p;
  if (p.some(function (v, i) { return Math.abs(v - plot[i]) > 0.5; }))
    bad.push("charts differ (width, plot left within it, plot width): " + p.map(function (v) { return v.toFixed(1); }).join(" ") + " vs " + plot.map(function (v) { return v.toFixed(1); }).join(" "));
});
if (charts.length > 1 && to - from < document.body.clientWidth * 2 / 3)
  bad.push("the charts use " + (to - from).toFixed(0) + " px of the page's " + document.body.clientWidth);
document.querySelectorAll("th, td").forEach(function (c) {
  var align = getComputedStyle(c).textAlign, want = c.classList.contains("num") ? "right" : "left";
  if (align != want && !(want == "left" && align == "start")) bad.push(c.tagName + " " + c.textContent + " aligned " + align + ", want " + want);
});
var out = document.createElement("pre");
out.id = "fit";
out.textContent = "FIT[" + bad.join("\n") + "]FIT";
document.body.appendChild(out);
</script>
`

// TestHTMLFitsInChromium lays the run and the capacity report out in
// headless Chromium, in a narrow window and in the window of
// docs/capacity-example.png, and checks nothing is cut off or crowded
// (fitScript). Before, the capacity report's legends were cut
// ("p95(imap.SELECT) < 2"), its step table's server cell ran to 3 or 4
// lines, the cost chart's category labels ran into each other and the
// summary's long lines ran under a scroll bar; then, in an 800 px window
// the divergence table made the whole page scroll sideways, the charts
// differed in width with their legends and text cells were right-aligned;
// then, at 1600 px, the charts stood in one column of 816 px, half the
// page empty ("the charts use 816 px of the page's 1536").
func TestHTMLFitsInChromium(t *testing.T) {
	long := "imap-everywhere-with-a-long-group-name"
	in := sampleInput(t, "lost_messages == 0", "divergence_ratio{group="+long+"} < 1%")
	in.Audit.Groups[long] = in.Audit.Groups["pop3-office"]
	in.Timeline.Add(Sample{DivergenceByGroup: map[string]float64{long: 0.5}})
	in.Cost = costInput() // the cost chart's categories: "commands / user / day", ...
	var run bytes.Buffer
	if err := Build(in).WriteHTML(&run); err != nil {
		t.Fatal(err)
	}
	_, capHTML := renderCapacity(t, kneeCapacityReport())
	for _, tt := range []struct{ name, html, window string }{
		{"run 800", run.String(), "800,3400"},
		{"run 1600", run.String(), "1600,3400"},
		{"capacity 800", capHTML, "800,3400"},
		{"capacity 1600", capHTML, "1600,3400"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page := filepath.Join(t.TempDir(), "report.html")
			if err := os.WriteFile(page, []byte(strings.Replace(tt.html, "</body>", fitScript+"</body>", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			dom := string(chromium(t, page, "--dump-dom", "--window-size="+tt.window))
			_, rest, ok := strings.Cut(dom, `<pre id="fit">FIT[`)
			found, _, ok2 := strings.Cut(rest, "]FIT</pre>")
			if !ok || !ok2 {
				t.Fatalf("the fit script did not report:\n%.2000s", dom)
			}
			if found != "" {
				t.Errorf("laid out cut off or crowded:\n%s", html.UnescapeString(found))
			}
		})
	}
}

// TestDeliveriesDelivered: the summary and the HTML report both say how
// many of the injector's deliveries were delivered (attempted less
// failed); the HTML's own line said only attempted and failed.
func TestDeliveriesDelivered(t *testing.T) {
	r := Build(sampleInput(t))
	r.Messages.DeliveryAttempted, r.Messages.DeliveryFailed = 10, 3
	r.Messages.DeliveryFailedByReason = map[string]int64{"timeout": 3}
	var html, sum bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"HTML": html.String(), "summary": sum.String()} {
		// The HTML's own line, not the summary it shows too.
		want := "Deliveries (per recipient): 10 attempted, 7 delivered,"
		if name == "summary" {
			want = strings.ToLower(want)
		}
		if !strings.Contains(out, want) {
			t.Errorf("the %s report lacks %q", name, want)
		}
	}
}

var (
	tableRE    = regexp.MustCompile(`(?s)<table>(.*?)</table>`)
	rowRE      = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRE     = regexp.MustCompile(`(?s)<(th|td)([^>]*)>(.*?)</(?:th|td)>`)
	tagRE      = regexp.MustCompile(`<[^>]*>`)
	colspanRE  = regexp.MustCompile(`colspan="(\d+)"`)
	numClassRE = regexp.MustCompile(`class="[^"]*\bnum\b`)
	// numberRE is a figure as the tables write one: "-", "42", "0.908",
	// "100.0%", "1.93×", "25.6 MiB", "5h1m5s", "465ms".
	numberRE = regexp.MustCompile(`^(-|\d[\d.]*(e-?\d+)?[a-zµ%×\d.]*( [KMGT]?i?B)?)$`)
)

// tableColumns reads the tables of a report: for each table, each
// column's header and cells, each as its text and whether it has the num
// class.
type tableCell struct {
	text string
	num  bool
}

func tableColumns(t *testing.T, page string) [][][]tableCell {
	t.Helper()
	var tables [][][]tableCell
	for _, tm := range tableRE.FindAllStringSubmatch(page, -1) {
		var cols [][]tableCell
		for r, rm := range rowRE.FindAllStringSubmatch(tm[1], -1) {
			c := 0
			for _, cm := range cellRE.FindAllStringSubmatch(rm[1], -1) {
				span := 1
				if m := colspanRE.FindStringSubmatch(cm[2]); m != nil {
					span, _ = strconv.Atoi(m[1])
				}
				cell := tableCell{text: strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(cm[3], ""))),
					num: numClassRE.MatchString(cm[2])}
				for range span {
					if r == 0 {
						cols = append(cols, nil)
					}
					if c >= len(cols) {
						t.Fatalf("row %d has more cells than the header: %s", r, rm[1])
					}
					cols[c] = append(cols[c], cell)
					c++
				}
			}
		}
		tables = append(tables, cols)
	}
	return tables
}

// TestHTMLTableAlignment: in every table of the run and the capacity
// report, a column of figures is right-aligned (class num on its header
// and every cell) and a column of text is not, whatever a cell holds: the
// column's kind decides. Before, every cell but the first of a row was
// right-aligned, text ("ok", "pass", "busy 1.69/s, store 256.4 KiB") too.
func TestHTMLTableAlignment(t *testing.T) {
	in := sampleInput(t, "lost_messages == 0", "divergence_ratio{group=pop3-office} < 1%")
	in.Cost = costInput()
	var run bytes.Buffer
	if err := Build(in).WriteHTML(&run); err != nil {
		t.Fatal(err)
	}
	_, capHTML := renderCapacity(t, kneeCapacityReport())
	for _, tt := range []struct {
		name, page string
		tables     int
	}{{"run", run.String(), 3}, {"capacity", capHTML, 1}} {
		tables := tableColumns(t, tt.page)
		if len(tables) != tt.tables {
			t.Errorf("%s report: %d tables, want %d", tt.name, len(tables), tt.tables)
		}
		for i, cols := range tables {
			for _, col := range cols {
				head, numbers, cells := col[0], 0, 0
				for _, c := range col[1:] {
					if c.text == "" {
						continue
					}
					cells++
					if numberRE.MatchString(c.text) {
						numbers++
					}
					if c.num != head.num {
						t.Errorf("%s report, table %d, column %q: cell %q num %v, its header's %v", tt.name, i+1, head.text, c.text, c.num, head.num)
					}
				}
				if isNum := cells > 0 && 2*numbers > cells; head.num != isNum {
					t.Errorf("%s report, table %d, column %q: num %v, but %d of its %d cells are figures", tt.name, i+1, head.text, head.num, numbers, cells)
				}
			}
		}
	}
}
