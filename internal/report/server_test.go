package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
)

// serverSection returns the JSON report's server section of r.
func serverSection(t *testing.T, r *Report) map[string]any {
	t.Helper()
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Server map[string]any `json:"server"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	return got.Server
}

func summaryOf(t *testing.T, r *Report) string {
	t.Helper()
	var sum bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	return sum.String()
}

// checkSummary checks r's summary holds every string of want and none of
// not.
func checkSummary(t *testing.T, r *Report, want, not []string) {
	t.Helper()
	sum := summaryOf(t, r)
	for _, s := range want {
		if !strings.Contains(sum, s) {
			t.Errorf("summary lacks %q:\n%s", s, sum)
		}
	}
	for _, s := range not {
		if strings.Contains(sum, s) {
			t.Errorf("summary has %q:\n%s", s, sum)
		}
	}
}

func hasNote(r *Report, part string) bool {
	for _, n := range r.Notes {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

func TestPOP3MarksSeenReport(t *testing.T) {
	for _, tt := range []struct {
		name     string
		m        audit.POP3Marking
		want     any // JSON value of pop3_marks_seen
		summary  string
		noteLike string
	}{
		{"marks", audit.POP3Marking{Downloaded: 20, Seen: 20}, true, "the server marks downloaded mail \\Seen: true (20 of 20 checked)", ""},
		{"does not mark", audit.POP3Marking{Downloaded: 20, Seen: 0}, false, "the server marks downloaded mail \\Seen: false (0 of 20 checked)", "does not mark mail downloaded over POP3"},
		{"mixed", audit.POP3Marking{Downloaded: 20, Seen: 10}, nil, "POP3 read marking: mixed (10 of 20 checked", "POP3 read marking is mixed"},
		{"nothing checked", audit.POP3Marking{}, nil, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t)
			in.Audit.POP3Marking = tt.m
			r := Build(in)
			srv := serverSection(t, r)
			if v, ok := srv["pop3_marks_seen"]; !ok || v != tt.want {
				t.Errorf("server.pop3_marks_seen = %v (present %v), want %v", v, ok, tt.want)
			}
			if srv["pop3_checked"] != float64(tt.m.Downloaded) || srv["pop3_seen"] != float64(tt.m.Seen) {
				t.Errorf("server.pop3_checked/seen = %v/%v, want %d/%d", srv["pop3_checked"], srv["pop3_seen"], tt.m.Downloaded, tt.m.Seen)
			}
			sum := summaryOf(t, r)
			if tt.summary != "" && !strings.Contains(sum, tt.summary) {
				t.Errorf("summary lacks %q:\n%s", tt.summary, sum)
			}
			if tt.summary == "" && strings.Contains(sum, "POP3 read marking") {
				t.Errorf("summary has a POP3 read marking line with nothing checked:\n%s", sum)
			}
			if tt.noteLike != "" && !hasNote(r, tt.noteLike) {
				t.Errorf("notes lack %q: %v", tt.noteLike, r.Notes)
			}
		})
	}
}

func TestPushLatencyReport(t *testing.T) {
	push := PushInput{Samples: 40, P50: 10 * time.Second, P95: 30 * time.Second, Max: time.Minute}
	for _, tt := range []struct {
		name  string
		push  PushInput
		scale float64
		sim   float64
		warn  bool
	}{
		{"slow push at time_scale 60", push, 60, 600, true},
		{"slow push at time_scale 1", push, 1, 10, false},
		{"fast push at time_scale 60", PushInput{Samples: 40, P50: time.Millisecond, P95: 2 * time.Millisecond, Max: 3 * time.Millisecond}, 60, 0.06, false},
		{"scale unset is 1", push, 0, 10, false},
		{"deliveries forgotten", PushInput{Samples: 40, P50: time.Millisecond, P95: 2 * time.Millisecond, Max: 3 * time.Millisecond, Forgotten: 7, Horizon: 90 * time.Second}, 60, 0.06, false},
		{"no samples", PushInput{}, 60, 0, false},
		{"no samples, deliveries forgotten", PushInput{Forgotten: 5, Horizon: time.Minute}, 60, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t)
			in.Push, in.TimeScale = tt.push, tt.scale
			r := Build(in)
			srv := serverSection(t, r)
			pl, _ := srv["push_latency"].(map[string]any)
			if tt.push.Samples == 0 {
				if v, ok := srv["push_latency"]; !ok || v != nil {
					t.Errorf("server.push_latency = %v (present %v), want null", v, ok)
				}
			} else if pl == nil || pl["samples"] != float64(tt.push.Samples) || pl["p50_s"] != tt.push.P50.Seconds() ||
				pl["max_s"] != tt.push.Max.Seconds() || pl["p50_sim_s"] != tt.sim {
				t.Errorf("server.push_latency = %v, want samples %d p50 %v max %v sim %v", pl, tt.push.Samples, tt.push.P50.Seconds(), tt.push.Max.Seconds(), tt.sim)
			}
			if got := hasNote(r, "push latency (delivery"); got != tt.warn {
				t.Errorf("push latency note %v, want %v: %v", got, tt.warn, r.Notes)
			}
			forgot := tt.push.Samples > 0 && tt.push.Forgotten > 0
			if got := hasNote(r, "the tracker forgot"); got != forgot {
				t.Errorf("forgotten deliveries note %v, want %v: %v", got, forgot, r.Notes)
			}
			if forgot && (pl["forgotten_deliveries"] != float64(tt.push.Forgotten) || pl["horizon_s"] != tt.push.Horizon.Seconds()) {
				t.Errorf("server.push_latency = %v, want forgotten_deliveries %d horizon_s %v", pl, tt.push.Forgotten, tt.push.Horizon.Seconds())
			}
			if sum := summaryOf(t, r); strings.Contains(sum, "push latency (delivery to IDLE notification)") != (tt.push.Samples > 0) {
				t.Errorf("summary push latency line present %v, want %v:\n%s", !(tt.push.Samples > 0), tt.push.Samples > 0, sum)
			}
		})
	}
}

// TestPushSim: the one rule of the push latency warning (report notes and
// mailsim validate): large above 5 simulated minutes, time_scale 0 as 1.
func TestPushSim(t *testing.T) {
	for _, tt := range []struct {
		wall  time.Duration
		scale float64
		sim   time.Duration
		large bool
	}{
		{5 * time.Second, 60, 5 * time.Minute, false},
		{5*time.Second + time.Millisecond, 60, 5*time.Minute + 60*time.Millisecond, true},
		{8 * time.Second, 120, 16 * time.Minute, true},
		{time.Millisecond, 240, 240 * time.Millisecond, false},
		{6 * time.Minute, 0, 6 * time.Minute, true},
		{4 * time.Minute, -1, 4 * time.Minute, false},
	} {
		sim, large := PushSim(tt.wall, tt.scale)
		if sim != tt.sim || large != tt.large {
			t.Errorf("PushSim(%s, %g) = %s, %v; want %s, %v", tt.wall, tt.scale, sim, large, tt.sim, tt.large)
		}
	}
}
