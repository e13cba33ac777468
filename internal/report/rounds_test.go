package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRoundSim: the one rule of the sync-round note: a round is large
// against a convergence budget above a quarter of it in simulated time;
// the time_scale named is the largest that keeps it at a quarter.
func TestRoundSim(t *testing.T) {
	for _, tt := range []struct {
		wall, budget time.Duration
		scale        float64
		sim          time.Duration
		large        bool
		fit          float64
	}{
		{11 * time.Second, 30 * time.Minute, 240, 44 * time.Minute, true, 40},
		{100 * time.Millisecond, 30 * time.Minute, 240, 24 * time.Second, false, 4500},
		{2 * time.Second, 30 * time.Minute, 240, 8 * time.Minute, true, 225},
		{1875 * time.Millisecond, 30 * time.Minute, 240, 450 * time.Second, false, 240}, // exactly a quarter
		{11 * time.Second, 30 * time.Minute, 0, 11 * time.Second, false, 40},            // time_scale 0 is 1
		{0, 30 * time.Minute, 240, 0, false, 0},
		{time.Hour, 30 * time.Minute, 1, time.Hour, true, 0.12}, // too slow even in real time
	} {
		sim, large, fit := RoundSim(tt.wall, tt.budget, tt.scale)
		if sim != tt.sim || large != tt.large || fit != tt.fit {
			t.Errorf("RoundSim(%s, %s, %g) = %s, %v, %g; want %s, %v, %g", tt.wall, tt.budget, tt.scale, sim, large, fit, tt.sim, tt.large, tt.fit)
		}
	}
}

// TestSyncRoundsReport: sync_rounds in the report and the summary, and
// the note on a convergence threshold near or past its budget, for each
// device profile whose rounds at the threshold's quantile are large
// against it. The sample run's deliver lags have p50 5s and p99 15m.
func TestSyncRoundsReport(t *testing.T) {
	slow := map[string]SyncRoundInput{
		"webmail":    {Rounds: 300, P50: 2 * time.Second, P99: 11 * time.Second, Max: 12 * time.Second},
		"phone-imap": {Rounds: 40, P50: 50 * time.Millisecond, P99: 100 * time.Millisecond, Max: 200 * time.Millisecond},
	}
	for _, tt := range []struct {
		name   string
		expr   string
		rounds map[string]SyncRoundInput
		scale  float64
		notes  []string // the profiles noted, in order
		fit    string   // the time_scale the note names
	}{
		{"failing p99, slow webmail", "convergence_p99{change=deliver} < 10m", slow, 240, []string{"webmail"}, "13"},
		{"near-failing p99", "convergence_p99{change=deliver} < 16m", slow, 240, []string{"webmail"}, "21"},
		{"far from its budget", "convergence_p99{change=deliver} < 2h", slow, 240, nil, ""},
		{"time_scale 1", "convergence_p99{change=deliver} < 10m", slow, 1, nil, ""},
		{"without change label", "convergence_p99 <= 15m", slow, 240, []string{"webmail"}, "20"},
		{"p50 weighs the rounds' p50", "convergence_p50{change=deliver} < 6s", slow, 2, []string{"webmail"}, "0.75"},
		{"both profiles slow", "convergence_p99{change=deliver} < 10m", map[string]SyncRoundInput{
			"webmail": slow["webmail"], "phone-imap": {Rounds: 1, P50: 3 * time.Second, P99: 3 * time.Second, Max: 3 * time.Second}}, 240,
			[]string{"phone-imap", "webmail"}, "13"},
		{"not a budget", "convergence_p99{change=deliver} > 10m", slow, 240, nil, ""},
		{"not a convergence threshold", "p99(imap.FETCH) < 1ms", slow, 240, nil, ""},
		{"no rounds", "convergence_p99{change=deliver} < 10m", nil, 240, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t, tt.expr)
			in.SyncRounds, in.TimeScale = tt.rounds, tt.scale
			r := Build(in)
			var notes []string
			for _, n := range r.Notes {
				if strings.Contains(n, "sync rounds at the") {
					notes = append(notes, n)
				}
			}
			if len(tt.notes) == 0 {
				if len(notes) > 0 {
					t.Errorf("notes %q, want none", notes)
				}
			} else if len(notes) != 1 {
				t.Errorf("%d sync-round notes, want 1: %q", len(notes), r.Notes)
			} else {
				if !strings.HasPrefix(notes[0], tt.expr+" is ") {
					t.Errorf("note does not start with the threshold: %s", notes[0])
				}
				at := 0
				for _, p := range tt.notes {
					i := strings.Index(notes[0][at:], p+" ")
					if i < 0 {
						t.Errorf("note does not name %s after the profiles before it: %s", p, notes[0])
						break
					}
					at += i
				}
				for _, p := range []string{"webmail", "phone-imap"} {
					if !slices.Contains(tt.notes, p) && strings.Contains(notes[0], p+" ") {
						t.Errorf("note names %s: %s", p, notes[0])
					}
				}
				if !strings.HasSuffix(notes[0], "at time_scale "+tt.fit+" or lower each such round takes at most a quarter of the budget") {
					t.Errorf("note does not end naming time_scale %s: %s", tt.fit, notes[0])
				}
			}
			var buf bytes.Buffer
			if err := r.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				SyncRounds map[string]map[string]float64 `json:"sync_rounds"`
			}
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if len(tt.rounds) == 0 {
				if doc.SyncRounds != nil {
					t.Errorf("sync_rounds = %v, want absent", doc.SyncRounds)
				}
				return
			}
			w := doc.SyncRounds["webmail"]
			if w["rounds"] != 300 || w["p50_s"] != 2 || w["p99_s"] != 11 || w["max_s"] != 12 || w["p99_sim_s"] != 11*tt.scale {
				t.Errorf("sync_rounds.webmail = %v", w)
			}
			if sum := summaryOf(t, r); !strings.Contains(sum, "sync rounds of webmail: p50 2s, p99 11s, max 12s wall over 300;") {
				t.Errorf("summary has no sync rounds line for webmail:\n%s", sum)
			}
		})
	}
}

// TestSyncRoundLine: the summary's sync rounds line says how many rounds
// failed, left out of its quantiles, and when none completed says so
// rather than print quantiles of nothing.
func TestSyncRoundLine(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    SyncRound
		want string
	}{
		{"all completed", SyncRound{Rounds: 300, P50S: 2, P99S: 11, MaxS: 12, P99SimS: 660},
			"sync rounds of webmail: p50 2s, p99 11s, max 12s wall over 300; p99 11m0s simulated"},
		{"some failed", SyncRound{Rounds: 300, Failed: 12, P50S: 2, P99S: 11, MaxS: 12, P99SimS: 660},
			"sync rounds of webmail: p50 2s, p99 11s, max 12s wall over 300 (12 failed, left out); p99 11m0s simulated"},
		{"none completed", SyncRound{Failed: 7}, "sync rounds of webmail: none completed (7 failed, left out)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.line("webmail"); got != tt.want {
				t.Errorf("line = %q\nwant   %q", got, tt.want)
			}
		})
	}
}
