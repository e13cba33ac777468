package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHarnessReadsStateAtScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	active := 1
	lostCounted := false
	h := NewHarness(reg, HarnessOptions{
		Scenario: "pop3-vs-imap",
		Shard:    "1/4",
		Elapsed:  func() time.Duration { return 1500 * time.Millisecond },
		Devices: func() []DeviceCount {
			return []DeviceCount{{"pc-pop3", "pop3", active}, {"pc-pop3", "pop3", 2}, {"phone-imap", "imap", 5}}
		},
		Users: func() map[string]int { return map[string]int{"pop3-office": 4, "bad group name!": 1} },
		Divergence: func() Divergence {
			return Divergence{
				ByDimension:      map[string]int{"presence": 4, "weird": 1},
				RatioByGroup:     map[string]float64{"pop3-office": 0.25},
				ConvergedByGroup: map[string]float64{"pop3-office": 0.5},
				Unconverged:      map[UnconvergedKey]int{{"read", "pop3-local-only"}: 3, {"teleport", "pop3-local-only"}: 1},
				Lost:             2,
				LostCounted:      lostCounted,
			}
		},
	})
	h.ObserveConvergence("deliver", 90*time.Second)
	h.ObserveConvergence("nonsense", time.Second)

	want := `
# HELP mailsim_devices Active simulated devices, by device profile and protocol.
# TYPE mailsim_devices gauge
mailsim_devices{device="pc-pop3",protocol="pop3"} 3
mailsim_devices{device="phone-imap",protocol="imap"} 5
# HELP mailsim_divergent_messages Messages whose presence, folder or flags differ between a user's devices now, summed over users, by dimension.
# TYPE mailsim_divergent_messages gauge
mailsim_divergent_messages{dimension="flags"} 0
mailsim_divergent_messages{dimension="folder"} 0
mailsim_divergent_messages{dimension="other"} 1
mailsim_divergent_messages{dimension="presence"} 4
# HELP mailsim_run_elapsed_seconds Wall-clock seconds since the run started.
# TYPE mailsim_run_elapsed_seconds gauge
mailsim_run_elapsed_seconds 1.5
# HELP mailsim_run_info Always 1; labels name the scenario and the shard of this mailsim process.
# TYPE mailsim_run_info gauge
mailsim_run_info{scenario="pop3-vs-imap",shard="1/4"} 1
# HELP mailsim_unconverged_changes Changes that have not reached every device of their user, by change kind and reason.
# TYPE mailsim_unconverged_changes gauge
mailsim_unconverged_changes{change="other",reason="pop3-local-only"} 1
mailsim_unconverged_changes{change="read",reason="pop3-local-only"} 3
# HELP mailsim_users Simulated users started, by user group.
# TYPE mailsim_users gauge
mailsim_users{group="other"} 1
mailsim_users{group="pop3-office"} 4
`
	names := []string{"mailsim_devices", "mailsim_divergent_messages",
		"mailsim_run_elapsed_seconds", "mailsim_run_info", "mailsim_unconverged_changes", "mailsim_users"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// Lost mail is the final audit's: absent, not 0, until it counted it.
	if n, err := testutil.GatherAndCount(reg, "mailsim_messages_lost"); err != nil || n != 0 {
		t.Errorf("mailsim_messages_lost has %d series (%v) before the final audit counted it, want none", n, err)
	}
	lostCounted = true
	const lost = `
# HELP mailsim_messages_lost Delivered or sent messages on no device and not on the server that no simulated person deleted, as the final audit counted them (absent until it has, and when it could not read every user's state on the server); 0 on a correct server.
# TYPE mailsim_messages_lost gauge
mailsim_messages_lost 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(lost), "mailsim_messages_lost"); err != nil {
		t.Errorf("once the final audit counted it: %v", err)
	}
	active = 11
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, `protocol="pop3"} 3`, `protocol="pop3"} 13`, 1)), "mailsim_devices"); err != nil {
		t.Errorf("devices not re-read at scrape: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	lags := map[string][2]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "mailsim_convergence_seconds" {
			for _, m := range mf.GetMetric() {
				lags[m.GetLabel()[0].GetValue()] = [2]float64{float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()}
			}
		}
	}
	if lags["deliver"] != [2]float64{1, 90} || lags["other"] != [2]float64{1, 1} {
		t.Errorf("convergence (count, sum) by change = %v, want deliver (1, 90) and other (1, 1)", lags)
	}
	if n, err := testutil.GatherAndCount(reg, "mailsim_convergence_seconds"); err != nil || n != len(ChangeKinds())+1 {
		t.Errorf("convergence series = %d (%v), want one per change kind and other", n, err)
	}
}

func TestHarnessBoundsReasons(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewHarness(reg, HarnessOptions{Divergence: func() Divergence {
		u := map[UnconvergedKey]int{}
		for i := 0; i < 100; i++ {
			u[UnconvergedKey{"read", fmt.Sprintf("reason-%d", i)}] = 1
		}
		return Divergence{Unconverged: u}
	}})
	n, err := testutil.GatherAndCount(reg, "mailsim_unconverged_changes")
	if err != nil {
		t.Fatal(err)
	}
	if n > maxReasons+1 {
		t.Errorf("%d unconverged series for 100 reasons, want at most %d", n, maxReasons+1)
	}
}
