package report

import (
	"bytes"
	"context"
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

// TestHTMLInChromium renders the report in headless Chromium and checks the
// charts are in the DOM. Set MAILSIM_SCREENSHOT=path.png to keep a
// screenshot.
func TestHTMLInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install -y chromium): skipping the browser rendering test")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(writeHTML(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile")}, extra...)
		args = append(args, "file://"+page)
		cmd := exec.CommandContext(ctx, bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
		}
		return stdout.Bytes()
	}
	dom := string(run("--dump-dom"))
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
	run("--screenshot="+shot, "--window-size=1200,2400", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 10000 {
		t.Errorf("screenshot is %d bytes, not a rendered PNG", len(png))
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
