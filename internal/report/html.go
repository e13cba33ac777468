package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML file: tables and
// inline SVG charts generated here, no script, no external resource, so it
// reads offline. Charts: divergence per group over time, the convergence
// lag distribution per change kind, commands/s and p99 latency per protocol
// over time, server storage and connections over time.
func (r *Report) WriteHTML(w io.Writer) error {
	var summary strings.Builder
	if err := r.WriteSummary(&summary); err != nil {
		return err
	}
	data := struct {
		R       *Report
		Summary string
		Charts  []template.HTML
	}{R: r, Summary: summary.String(), Charts: r.charts()}
	if err := htmlTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("report: write html: %w", err)
	}
	return nil
}

// charts renders every chart of the HTML report.
func (r *Report) charts() []template.HTML {
	tl := r.Timeline
	xs := make([]float64, len(tl))
	for i, s := range tl {
		xs[i] = s.SimulatedSeconds
	}
	byKey := func(get func(SampleJSON) map[string]float64, scale float64) []series {
		keys := map[string]bool{}
		for _, s := range tl {
			for k := range get(s) {
				keys[k] = true
			}
		}
		var out []series
		for _, k := range sortedKeys(keys) {
			ys := make([]float64, len(tl))
			for i, s := range tl {
				v, ok := get(s)[k]
				if !ok {
					v = math.NaN()
				}
				ys[i] = v * scale
			}
			out = append(out, series{name: k, ys: ys})
		}
		return out
	}
	one := func(name string, get func(SampleJSON) float64) []series {
		if len(tl) == 0 {
			return nil
		}
		ys := make([]float64, len(tl))
		for i, s := range tl {
			ys[i] = get(s)
		}
		return []series{{name: name, ys: ys}}
	}
	xFmt := func(s float64) string { return fmtSeconds(s) }
	const xl = "simulated time"

	// Lag distribution: share of converged changes per bucket, per kind.
	cats := make([]string, len(LagBuckets))
	for i, b := range LagBuckets {
		if math.IsInf(b, 1) {
			cats[i] = ">" + shortDur(LagBuckets[i-1])
		} else {
			cats[i] = shortDur(b)
		}
	}
	var lag []series
	for _, k := range kindOrder(r.Convergence) {
		c := r.Convergence[k]
		if c.Converged == 0 || len(c.Histogram) == 0 {
			continue
		}
		total := 0
		for _, n := range c.Histogram {
			total += n
		}
		ys := make([]float64, len(c.Histogram))
		for i, n := range c.Histogram {
			if total > 0 {
				ys[i] = float64(n) / float64(total)
			}
		}
		lag = append(lag, series{name: k, ys: ys})
	}
	// Keep the buckets from the first to the last with a lag in them.
	lo, hi := len(cats), -1
	for _, s := range lag {
		for i, y := range s.ys {
			if y > 0 {
				lo, hi = min(lo, i), max(hi, i)
			}
		}
	}
	if hi >= lo {
		cats = cats[lo : hi+1]
		for i := range lag {
			lag[i].ys = lag[i].ys[lo : hi+1]
		}
	}
	// The store is charted when every sample read it (the embedded
	// server's; a real server's is read at the end only).
	stored := len(xs) > 0
	for _, s := range r.Timeline {
		stored = stored && s.StoredMessages != nil && s.StoredBytes != nil
	}
	storage := func(title, name string, y func(SampleJSON) float64) template.HTML {
		if !stored {
			return ""
		}
		return template.HTML(lineChart(title, xl, xs, one(name, y), xFmt, plainUnit))
	}
	return []template.HTML{
		template.HTML(lineChart("Divergence ratio per group", xl, xs, byKey(func(s SampleJSON) map[string]float64 { return s.DivergenceByGroup }, 1), xFmt, shareUnit)),
		template.HTML(barChart("Convergence lag distribution per change kind (share of converged changes)", "lag, simulated (bucket upper bound)", cats, lag, shareUnit)),
		template.HTML(lineChart("Client commands per second per protocol", xl, xs, byKey(func(s SampleJSON) map[string]float64 { return s.CommandsPerSecond }, 1), xFmt, plainUnit)),
		template.HTML(lineChart("p99 latency per protocol (ms)", xl, xs, byKey(func(s SampleJSON) map[string]float64 { return s.P99ByProtocol }, 1000), xFmt, plainUnit)),
		storage("Server storage (MiB)", "stored", func(s SampleJSON) float64 { return float64(*s.StoredBytes) / (1 << 20) }),
		storage("Server stored messages", "messages", func(s SampleJSON) float64 { return float64(*s.StoredMessages) }),
		template.HTML(lineChart("Open connections", xl, xs, one("connections", func(s SampleJSON) float64 { return float64(s.Connections) }), xFmt, plainUnit)),
		template.HTML(r.costChart()),
	}
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":    func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"ratio":  func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"num":    fmtNum,
	"secs":   fmtSeconds,
	"pctNum": fmtPercent,
	"msNum":  fmtMs,
	"keys": func(m any) []string {
		var ks []string
		switch m := m.(type) {
		case map[string]Group:
			ks = sortedKeys(m)
		case map[string]int:
			ks = sortedKeys(m)
		case map[string]int64:
			ks = sortedKeys(m)
		}
		sort.Strings(ks)
		return ks
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mailsim report: {{.R.Scenario}}</title>
<style>
` + reportCSS + `</style>
</head>
<body>
<h1>mailsim report: {{.R.Scenario}}</h1>
<p>Seed {{.R.Seed}}, shard {{.R.Shard}}, started {{.R.StartedAt.Format "2006-01-02 15:04:05 MST"}};
{{printf "%.1f" .R.WallSeconds}} s wall, {{secs .R.SimulatedSeconds}} simulated;
{{.R.Users}} users, {{.R.Devices}} devices. Mail delivered {{.R.Messages.Delivered}}, sent {{.R.Messages.Sent}},
lost {{if .R.Messages.ServerChecked}}<b{{if .R.Messages.Lost}} class="fail"{{end}}>{{.R.Messages.Lost}}</b>{{with .R.Messages.UsersUnchecked}} ({{.}} of {{$.R.Users}} users not checked){{end}}{{else}}not checked{{end}}.</p>
<p>{{with .R.Messages}}Deliveries (per recipient): {{.DeliveryAttempted}} attempted, {{.DeliveriesDone}} delivered,
<b{{if .DeliveryFailed}} class="fail"{{end}}>{{.DeliveryFailed}} failed</b>{{range $reason := keys .DeliveryFailedByReason}} ({{$reason}} {{index $.R.Messages.DeliveryFailedByReason $reason}}){{end}},
{{.DeliveryRetries}} retries, {{.DeliveryAbandoned}} abandoned.{{with .DeliveryUnknown}}
Of those that failed unknown (no reply after the message data): {{.Stored}} on the server after all, {{.NotStored}} not, {{.Unchecked}} unchecked.{{end}}{{with .DeliveryQueue}}
Waited for one of the injector's {{.Connections}} connections: p50 {{secs .WaitP50S}}, p99 {{secs .WaitP99S}}, max {{secs .WaitMaxS}} wall{{if .Backlog}};
{{.Backlog}} queued when the active phase ended, drained in {{secs .DrainS}}{{if .DrainCut}} (cut: the injector went on during settle){{end}}{{end}}.{{end}}{{end}}</p>
{{with .R.Messages.Submissions}}<p>Devices' submissions (sends, replies, forwards; each try): {{.Started}} started = {{.Sent}} sent + <b{{if .Failed}} class="fail"{{end}}>{{.Failed}} failed</b> + {{.Unanswered}} unanswered{{.AtEndNote}} + {{.Cut}} cut by the end of the run.</p>{{end}}
<p>People's {{.R.Actions.Summary}}.</p>
{{with .R.Messages.SubmissionUnknown}}<p>Devices' submissions without a reply after the message data (per recipient): {{.Stored}} on the server after all, {{.NotStored}} not, {{.Unchecked}} unchecked.</p>{{end}}
{{with .R.Validity}}{{if .OK}}<p class="ok">Validity: ok.</p>{{else}}<h2>Validity</h2>
<p class="fail">{{if .Enabled}}Invalid run: its measurements cannot be trusted (exit 1).{{else}}Validity checks off (validity_checks: false); they would have found:{{end}}</p>
<ul>{{range .Problems}}<li>{{.}}</li>{{end}}</ul>{{end}}{{end}}
{{with .R.Harness}}{{if .Saturated}}<h2>Harness</h2>
<p class="fail">The harness was saturated: {{.Warning}}.</p>{{end}}
<p{{if not .Saturated}} class="ok"{{end}}>Harness over the {{.Span}} ({{printf "%.1f" .WindowS}} s): CPU {{pctNum .CPUShare}} of {{.Cores}} cores, scheduler p99 {{msNum .SchedP99ms}}, arrivals late p99 {{msNum .ArrivalsLateP99ms}} over {{.ArrivalsLate}}, GC {{pctNum .GCCPUShare}} of the CPU; {{.Reason}}. People's actions late p99 {{msNum .LateP99ms}} over {{.LateActions}} (not judged: it includes waits for the server and the writing time).</p>{{else}}<p>Harness: not measured.</p>{{end}}
{{with .R.MailAtStart}}{{if .Found}}<h2>Mail at the start</h2>
<p class="fail">{{.Warning}}.</p>{{else}}<p{{if not .Incomplete}} class="ok"{{end}}>{{.Line}}.</p>{{end}}{{end}}
{{with .R.Thresholds}}<h2>Thresholds</h2>
<div class="wide"><table><tr><th>threshold</th><th class="num">value</th><th>result</th></tr>
{{range .}}<tr><td>{{.Expr}}</td><td class="num">{{num .Value}}</td><td>{{if .OK}}<span class="ok">ok</span>{{else if .Unreliable}}<span class="fail">UNRELIABLE</span> {{.Note}}{{else}}<span class="fail">FAIL</span> {{.Note}}{{end}}</td></tr>
{{end}}</table></div>{{end}}
<h2>Divergence per group</h2>
<div class="wide"><table><tr><th>group</th><th class="num">users</th><th class="num">messages</th><th class="num">divergent</th><th class="num">ratio</th><th class="num">users converged</th><th class="num">unsynced</th><th class="num">presence</th><th class="num">folder</th><th class="num">flags</th><th class="num">lost</th></tr>
{{range $name := keys .R.Groups}}{{with index $.R.Groups $name}}<tr><td>{{$name}}</td><td class="num">{{.Users}}</td><td class="num">{{.Messages}}</td><td class="num">{{.DivergentMessages}}</td><td class="num">{{ratio .Ratio}}</td><td class="num">{{pct .UsersConvergedRatio}}</td><td class="num">{{.UnsyncedUsers}}</td><td class="num">{{.ByDimension.Presence}}</td><td class="num">{{.ByDimension.Folder}}</td><td class="num">{{.ByDimension.Flags}}</td><td class="num">{{.Lost}}</td></tr>
{{end}}{{end}}{{with .R.Divergence.Final}}<tr><td><b>all</b></td><td class="num">{{$.R.Users}}</td><td class="num">{{.Messages}}</td><td class="num">{{.DivergentMessages}}</td><td class="num">{{ratio .Ratio}}</td><td class="num">{{pct .UsersConvergedRatio}}</td><td class="num">{{.UnsyncedUsers}}</td><td class="num">{{.ByDimension.Presence}}</td><td class="num">{{.ByDimension.Folder}}</td><td class="num">{{.ByDimension.Flags}}</td><td class="num">{{$.R.Messages.Lost}}</td></tr>{{end}}
</table></div>
{{with .R.CostRows}}<h2>Cost per user</h2>
<p>What one user of each group costs the server per simulated day, and its ratio to {{$.R.Cost.Reference}}.</p>
<div class="wide"><table><tr><th></th>{{range $.R.CostGroups}}<th class="num" colspan="2">{{.}}</th>{{end}}</tr>
{{range .}}<tr><td>{{.Label}}</td>{{range .Cells}}<td class="num">{{.Value}}</td><td class="num">{{.Ratio}}</td>{{end}}</tr>
{{end}}</table></div>{{end}}
` + htmlTail))

// htmlTail ends the HTML reports (run and capacity): the charts and the
// text summary of the data given to the template.
const htmlTail = `<h2>Charts</h2>
<div class="charts">
{{range .Charts}}{{.}}
{{end}}</div>
<h2>Summary</h2>
<pre>{{.Summary}}</pre>
</body>
</html>
`

// reportCSS styles the HTML reports (run and capacity).
// Prose keeps a readable width. A table takes the window's width (within
// the prose's, the capacity step table was squeezed to its widest words);
// one wider than the window scrolls inside its own box (div.wide), its
// first column (the row's name, on one line) kept in view, rather than the
// whole page sideways; printed, the box does not clip, its cells wrap and
// its text is smaller, so that a table as wide as the step table of a
// capacity search of three QoS lines fits a page. A column's kind sets its
// alignment: numbers right (td.num, th.num), text left. td.nowrap keeps a
// short cell on one line. The charts share one width (svg.go) and shrink
// alike to a narrow window; they sit in a grid of equal columns of at
// least 720 px (88% of a chart), as many as the window holds: two in a
// 1600 px one, where a single column left half of it empty. The summary wraps its long lines rather than
// hide their ends behind a scroll bar, which a printout or a screenshot
// does not have.
const reportCSS = `body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
p, ul { max-width: 1100px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
div.wide { max-width: 100%; overflow-x: auto; margin: .5em 0; }
table { border-collapse: separate; border-spacing: 0; }
th, td { border: solid #ccc; border-width: 0 1px 1px 0; padding: .25em .6em; text-align: left; vertical-align: top; background: #fff; }
tr:first-child > * { border-top-width: 1px; }
th:first-child, td:first-child { border-left-width: 1px; position: sticky; left: 0; z-index: 1; white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.fail { color: #b00; font-weight: bold; } .ok { color: #080; }
pre { background: #f6f6f6; padding: 1em; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
td.nowrap { white-space: nowrap; }
div.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 720px), 1fr)); column-gap: 1em; align-items: start; }
svg.chart { display: block; margin: 1em 0; border: 1px solid #ddd; box-sizing: border-box; max-width: 100%; height: auto; }
svg .title { font-size: 14px; font-weight: bold; } svg .tick, svg .legend { font-size: 11px; }
svg .label { font-size: 12px; fill: #555; } svg .grid { stroke: #eee; } svg .axis { stroke: #888; }
@media print {
  body { margin: 0; }
  div.wide { overflow: visible; }
  th:first-child, td:first-child { position: static; }
  td.nowrap, th:first-child, td:first-child { white-space: normal; }
  table { font-size: 9pt; } th, td { padding: .2em .35em; }
  svg.chart, tr { break-inside: avoid; }
}
`

// shortDur formats seconds compactly for axis labels: 90 -> "1.5m".
func shortDur(s float64) string {
	switch {
	case s >= 3600:
		return trimFloat(s/3600) + "h"
	case s >= 60:
		return trimFloat(s/60) + "m"
	}
	return trimFloat(s) + "s"
}

// trimFloat formats v with at most two decimals and no exponent.
func trimFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
