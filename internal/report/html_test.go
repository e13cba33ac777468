package report

import (
	"bytes"
	"context"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
// past its box.
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
var out = document.createElement("pre");
out.id = "fit";
out.textContent = "FIT[" + bad.join("\n") + "]FIT";
document.body.appendChild(out);
</script>
`

// TestHTMLFitsInChromium lays the run and the capacity report out in
// headless Chromium, in the window of docs/capacity-example.png, and
// checks nothing is cut off or crowded (fitScript). Before, the capacity
// report's legends were cut ("p95(imap.SELECT) < 2"), its step table's
// server cell ran to 3 or 4 lines, the cost chart's category labels ran
// into each other and the summary's long lines ran under a scroll bar.
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
	for _, tt := range []struct{ name, html string }{{"run", run.String()}, {"capacity", capHTML}} {
		t.Run(tt.name, func(t *testing.T) {
			page := filepath.Join(t.TempDir(), "report.html")
			if err := os.WriteFile(page, []byte(strings.Replace(tt.html, "</body>", fitScript+"</body>", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			dom := string(chromium(t, page, "--dump-dom", "--window-size=1600,3400"))
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
