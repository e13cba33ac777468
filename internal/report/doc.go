// Package report turns a finished run into its reports: the end-of-run
// summary table, the JSON report (docs/report.md, "The report", a contract),
// a self-contained HTML report with SVG charts, and a capacity projection of
// the run to a target population. Thresholds of the scenario are evaluated
// by Build.
package report
