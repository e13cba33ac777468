package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mailsim/mailsim/internal/report"
)

// maxShardReportBytes bounds the size of one shard report read by "mailsim
// report merge"; a report is a few MiB at most (its lists are bounded).
const maxShardReportBytes = 256 << 20

// cmdReport implements "mailsim report SUBCOMMAND".
func cmdReport(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "merge" {
		fmt.Fprintln(stderr, "Usage: mailsim report merge SHARD.json... [--report all.json] [--html all.html]")
		if len(args) > 0 && (args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
			return exitOK
		}
		return exitScenario
	}
	return cmdReportMerge(args[1:], stdout, stderr)
}

// cmdReportMerge implements "mailsim report merge SHARD.json...": the
// report of the whole population from every shard's JSON report, with the
// exit code "mailsim run" would have returned for it.
func cmdReportMerge(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("report merge", "report merge SHARD.json... [--report all.json] [--html all.html]", stderr)
	reportPath := fs.String("report", "", "write the merged JSON report to this file (- for stdout)")
	htmlPath := fs.String("html", "", "write the merged HTML report to this file")
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "mailsim report merge: want the JSON report of every shard (mailsim run --shard i/n --report FILE)")
		return exitScenario
	}
	shards := make([]*report.Report, 0, len(pos))
	for _, path := range pos {
		r, err := readShardReport(path)
		if err != nil {
			fmt.Fprintf(stderr, "mailsim report merge: %s: %v\n", path, err)
			return exitScenario
		}
		shards = append(shards, r)
	}
	merged, err := report.Merge(shards)
	if err != nil {
		fmt.Fprintf(stderr, "mailsim report merge: %v\n", err)
		return exitScenario
	}
	return writeOutputs(merged, *reportPath, *htmlPath, stdout, stderr, "report merge")
}

// readShardReport reads one JSON report, at most maxShardReportBytes.
func readShardReport(path string) (*report.Report, error) {
	b, err := readReportFile(path)
	if err != nil {
		return nil, err
	}
	return report.ReadJSON(bytes.NewReader(b))
}

// readReportFile reads a report file (run, shard or capacity) of at most
// maxShardReportBytes: a larger file is no mailsim report.
func readReportFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxShardReportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxShardReportBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB: not a mailsim report", path, maxShardReportBytes>>20)
	}
	return b, nil
}

// writeOutputs prints rep's summary and writes its JSON and HTML reports
// where asked ("-": the JSON report on stdout, the summary then on
// stderr); it returns the exit code of "mailsim run" for rep: 1 when a
// threshold broke or the measurements are invalid, 4 when a report could
// not be written or the run was stopped early (and no threshold broke).
func writeOutputs(rep *report.Report, reportPath, htmlPath string, stdout, stderr io.Writer, cmd string) int {
	summary := stdout
	if reportPath == "-" {
		summary = stderr
	}
	if err := rep.WriteSummary(summary); err != nil {
		fmt.Fprintf(stderr, "mailsim %s: summary: %v\n", cmd, err)
	}
	code := exitOK
	switch {
	case len(rep.Failed()) > 0 || !rep.Valid():
		code = exitThresholds
	case rep.StoppedEarly:
		// Thresholds that held over part of the run are no pass: a batch
		// job evicted with SIGTERM must not count as one.
		fmt.Fprintf(stderr, "mailsim %s: the run was stopped early: its thresholds held over what ran, which is not the run (exit 4)\n", cmd)
		code = exitFailure
	}
	for _, out := range []struct {
		flag, path string
		write      func(io.Writer) error
		what       string
	}{
		{"--report", reportPath, jsonWriter(rep, reportPath), "JSON report"},
		{"--html", htmlPath, rep.WriteHTML, "HTML report"},
	} {
		if out.path == "" {
			continue
		}
		if err := writeOutput(out.path, stdout, out.write); err != nil {
			fmt.Fprintf(stderr, "mailsim %s: %s: %v\n", cmd, out.flag, err)
			code = exitFailure
		} else if out.path != "-" {
			fmt.Fprintf(stderr, "%s: %s\n", out.what, out.path)
		}
	}
	return code
}

// jsonWriter writes rep's JSON report: indented in a file, on one line on
// stdout ("-"), so that it is one line of a pod's log however the log
// interleaves stderr (deploy/kubernetes/job.yaml greps it out).
func jsonWriter(rep *report.Report, path string) func(io.Writer) error {
	if path != "-" {
		return rep.WriteJSON
	}
	return func(w io.Writer) error {
		var buf bytes.Buffer
		if err := rep.WriteJSON(&buf); err != nil {
			return err
		}
		var line bytes.Buffer
		if err := json.Compact(&line, buf.Bytes()); err != nil {
			return fmt.Errorf("compact json: %w", err)
		}
		line.WriteByte('\n')
		_, err := w.Write(line.Bytes())
		return err
	}
}

// writeOutput writes a report to path through writeFile, or to stdout when
// path is "-" (a Kubernetes pod's log collects it).
func writeOutput(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path != "-" {
		return writeFile(path, write)
	}
	if err := write(stdout); err != nil {
		return errors.Join(errors.New("stdout"), err)
	}
	return nil
}
