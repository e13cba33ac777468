package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/scenarios"
)

// cmdPlan implements "mailsim plan REPORT.json [CAPACITY.json] --users N":
// from a run's report it projects the load to a population of N users,
// scaled as a whole and from each group's cost per user (the run's group
// shares or --mix); from a capacity report (mailsim capacity --report) it
// says how many servers N users need with --headroom spare.
func cmdPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", "plan REPORT.json|CAPACITY.json... --users N [--mix group=share,...] [--headroom 30%]", stderr)
	users := fs.Int("users", 0, "population to project to (required, > 0)")
	mixFlag := fs.String("mix", "", "population mix by group, e.g. imap=70%,pop3-download=30% (default: the run's shares)")
	headroomFlag := fs.String("headroom", "30%", "with a capacity report: the share of each server's capacity kept spare")
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) < 1 || len(pos) > 2 {
		fmt.Fprintln(stderr, "mailsim plan: want a JSON report (mailsim run --report), a capacity report (mailsim capacity --report), or one of each")
		return exitScenario
	}
	if *users <= 0 {
		fmt.Fprintln(stderr, "mailsim plan: --users N is required and must be positive")
		return exitScenario
	}
	headroom, err := scenarios.ParsePercent(*headroomFlag)
	if err != nil || headroom < 0 || headroom >= 1 {
		fmt.Fprintf(stderr, "mailsim plan: --headroom %q: want a share from 0%% to below 100%%\n", *headroomFlag)
		return exitScenario
	}
	var run *report.Report
	var capRep *report.CapacityReport
	for _, path := range pos {
		b, err := readReportFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
			return exitScenario
		}
		var probe struct {
			Steps json.RawMessage `json:"steps"`
		}
		_ = json.Unmarshal(b, &probe)
		if probe.Steps != nil {
			if capRep != nil {
				fmt.Fprintln(stderr, "mailsim plan: two capacity reports; give at most one")
				return exitScenario
			}
			if capRep, err = report.ReadCapacityJSON(bytes.NewReader(b)); err != nil {
				fmt.Fprintf(stderr, "mailsim plan: %s: %v\n", path, err)
				return exitScenario
			}
			continue
		}
		if run != nil {
			fmt.Fprintln(stderr, "mailsim plan: two run reports; give at most one")
			return exitScenario
		}
		if run, err = report.ReadJSON(bytes.NewReader(b)); err != nil {
			fmt.Fprintf(stderr, "mailsim plan: %s: %v\n", path, err)
			return exitScenario
		}
		if run.Users <= 0 {
			fmt.Fprintf(stderr, "mailsim plan: %s: the report has no users to project from\n", path)
			return exitScenario
		}
	}
	if run != nil {
		if code := planRun(run, *users, *mixFlag, pos[0], stdout, stderr); code != exitOK {
			return code
		}
	}
	if capRep != nil {
		if run != nil {
			fmt.Fprintln(stdout)
		}
		s, err := report.ServersFor(capRep, *users, headroom)
		if err != nil {
			fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
			return exitScenario
		}
		if err := s.Write(stdout); err != nil {
			fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
			return exitFailure
		}
	}
	return exitOK
}

// planRun writes the projections of a run's report.
func planRun(r *report.Report, users int, mixFlag, path string, stdout, stderr io.Writer) int {
	mix := report.RunMix(r)
	if mixFlag != "" {
		var err error
		if mix, err = report.ParseMix(mixFlag); err != nil {
			fmt.Fprintf(stderr, "mailsim plan: --mix: %v\n", err)
			return exitScenario
		}
	}
	var mp *report.MixProjection
	if len(mix) > 0 {
		p, err := report.ProjectMix(r, users, mix)
		if err != nil {
			fmt.Fprintf(stderr, "mailsim plan: --mix: %s: %v\n", path, err)
			return exitScenario
		}
		mp = &p
	} else if mixFlag == "" {
		fmt.Fprintln(stderr, "mailsim plan: the report has no cost per group (written before mailsim measured it): projecting the whole run only")
	}
	if err := report.Project(r, users).WriteProjection(stdout); err != nil {
		fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
		return exitFailure
	}
	if mp != nil {
		fmt.Fprintln(stdout)
		if err := mp.WriteMixProjection(stdout); err != nil {
			fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
			return exitFailure
		}
	}
	return exitOK
}
