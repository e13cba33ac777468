package capacity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// knee passes every step up to k users and fails above, naming a QoS line.
func knee(k int, saturateFrom int) StepFunc {
	return func(_ context.Context, users int) (Step, error) {
		st := Step{Pass: users <= k}
		if !st.Pass {
			st.FirstFailed = "p95(imap.UID FETCH) < 300ms"
		}
		if saturateFrom > 0 && users >= saturateFrom {
			st.HarnessSaturated, st.HarnessReasons = true, []string{"cpu"}
			st.Pass = false
		}
		return st, nil
	}
}

func usersOf(steps []Step) []int {
	var out []int
	for _, s := range steps {
		out = append(out, s.Users)
	}
	return out
}

func TestSearchFindsTheKnee(t *testing.T) {
	tests := []struct {
		name      string
		k         int
		o         Options
		wantUsers int
		wantLimit string
		wantSteps []int
		wantClaim int
	}{
		{
			name: "grow, bisect to 10%, confirm", k: 100,
			o:         Options{Start: 10, Max: 1000, Growth: 2, Resolution: 0.1, Confirm: true},
			wantUsers: 100, wantLimit: "p95(imap.UID FETCH) < 300ms",
			// 10 20 40 80 160 fail; bisect 120 fail, 100 pass, 110 fail -> gap 10 <= 10% of 100.
			// Claim 83: 66, 83, 100 pass.
			wantSteps: []int{10, 20, 40, 80, 160, 120, 100, 110, 66, 83, 100},
			wantClaim: 83,
		},
		{
			name: "every step passes up to max", k: 1 << 20,
			o:         Options{Start: 4, Max: 20, Growth: 3},
			wantUsers: 20, wantLimit: "max_users",
			wantSteps: []int{4, 12, 20},
		},
		{
			name: "fine resolution bisects to one user", k: 13,
			o:         Options{Start: 8, Max: 64, Growth: 2, Resolution: 0.01},
			wantUsers: 13, wantLimit: "p95(imap.UID FETCH) < 300ms",
			wantSteps: []int{8, 16, 12, 14, 13},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen []int
			tc.o.OnStep = func(s Step) { seen = append(seen, s.Users) }
			res, err := Search(context.Background(), knee(tc.k, 0), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Users != tc.wantUsers || res.LimitedBy != tc.wantLimit {
				t.Errorf("users %d limited by %q, want %d %q", res.Users, res.LimitedBy, tc.wantUsers, tc.wantLimit)
			}
			if got := usersOf(res.Steps); !reflect.DeepEqual(got, tc.wantSteps) {
				t.Errorf("steps %v, want %v", got, tc.wantSteps)
			}
			if !reflect.DeepEqual(seen, tc.wantSteps) {
				t.Errorf("OnStep saw %v", seen)
			}
			if res.Claim != tc.wantClaim {
				t.Errorf("claim %d, want %d", res.Claim, tc.wantClaim)
			}
			if tc.o.Confirm != (res.Confirmed != nil) {
				t.Errorf("confirmed %v with Confirm %v", res.Confirmed, tc.o.Confirm)
			}
		})
	}
}

func TestSearchHarnessSaturated(t *testing.T) {
	// The server would hold 1000, but the harness saturates at 50.
	res, err := Search(context.Background(), knee(1000, 50), Options{Start: 10, Max: 5000, Growth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.LimitedBy != "harness" || res.Users != 40 || res.FirstFailing != 0 {
		t.Errorf("result %+v, want 40 users limited by the harness and no failing step", res)
	}
	last := res.Steps[len(res.Steps)-1]
	if !last.HarnessSaturated || len(res.Notes) == 0 {
		t.Errorf("last step %+v notes %v", last, res.Notes)
	}
	// Saturation during the bisection stops it, without blaming the server.
	res, err = Search(context.Background(), knee(70, 75), Options{Start: 10, Max: 5000, Growth: 2, Resolution: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if res.LimitedBy != "harness" {
		t.Errorf("limited by %q, want harness", res.LimitedBy)
	}
}

func TestSearchFirstStepFails(t *testing.T) {
	res, err := Search(context.Background(), knee(5, 0), Options{Start: 10, Max: 100, Confirm: true})
	if !errors.Is(err, ErrNoPass) || res.Users != 0 || res.FirstFailing != 10 || res.LimitedBy == "" || len(res.Steps) != 1 {
		t.Errorf("result %+v err %v", res, err)
	}
}

func TestSearchInvalidRunNamesIt(t *testing.T) {
	run := func(_ context.Context, users int) (Step, error) {
		if users > 20 {
			return Step{Invalid: []string{"3 of 40 deliveries (7.5%) were not delivered"}}, nil
		}
		return Step{Pass: true}, nil
	}
	res, err := Search(context.Background(), run, Options{Start: 10, Max: 100, Resolution: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if res.LimitedBy != "invalid run: 3 of 40 deliveries (7.5%) were not delivered" {
		t.Errorf("limited by %q", res.LimitedBy)
	}
}

func TestSearchStopsOnError(t *testing.T) {
	boom := errors.New("server unreachable")
	calls := 0
	run := func(ctx context.Context, users int) (Step, error) {
		calls++
		if calls == 3 {
			return Step{}, boom
		}
		return Step{Pass: true}, nil
	}
	res, err := Search(context.Background(), run, Options{Start: 1, Max: 100})
	if !errors.Is(err, boom) || len(res.Steps) != 2 {
		t.Errorf("err %v after %d steps", err, len(res.Steps))
	}
	// What passed before the error stands, as a lower bound.
	if res.Users != 2 || res.LimitedBy != "stopped" {
		t.Errorf("users %d limited by %q after the error, want 2 and stopped", res.Users, res.LimitedBy)
	}
}

func TestSearchConfirmationRetries(t *testing.T) {
	// Passes up to 100, except that 64..70 fail (an unstable region): the
	// first claim (83: 66, 83, 100) fails at 66, the next (74: 59, 74, 89)
	// holds.
	run := func(_ context.Context, users int) (Step, error) {
		ok := users <= 100 && (users < 64 || users > 70)
		st := Step{Pass: ok}
		if !ok {
			st.FirstFailed = "error_rate < 1%"
		}
		return st, nil
	}
	res, err := Search(context.Background(), run, Options{Start: 10, Max: 1000, Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Claim != 74 || res.Confirmed == nil || !*res.Confirmed {
		t.Errorf("claim %d confirmed %v; steps %v", res.Claim, res.Confirmed, usersOf(res.Steps))
	}
	// 66 failed below the capacity of 100: the report says so.
	want := "66 users failed below the capacity of 100 users (the first: error_rate < 1%)"
	if notes := strings.Join(res.Notes, "\n"); res.Users != 100 || !strings.Contains(notes, want) {
		t.Errorf("users %d notes %q, want %q", res.Users, notes, want)
	}
}

// TestSearchConfirmationHarnessSaturated: a confirm step whose harness
// saturated (twice) does not judge its claim: a lower claim is tried, a
// note names the step, and when every round was cut the claim is
// neither confirmed nor refuted (confirmed null), not "the QoS is not
// stable near the knee".
func TestSearchConfirmationHarnessSaturated(t *testing.T) {
	// knee 100: growth 10..80 pass, 160 fails; the bisection ends at 100
	// (120, 100, 110), so the first claim is 83 (66, 83, 100), the next 74
	// (59, 74, 89), the third 66 (53, 66, 79).
	tests := []struct {
		name          string
		saturated     map[int]bool
		wantClaim     int
		wantConfirmed *bool
		wantNotes     []string
	}{
		{name: "first claim cut", saturated: map[int]bool{83: true}, wantClaim: 74, wantConfirmed: ptr(true),
			wantNotes: []string{"the claim 83 was not judged: the harness was saturated at 83 users ([cpu])"}},
		{name: "every claim cut", saturated: map[int]bool{83: true, 74: true, 66: true}, wantConfirmed: nil,
			wantNotes: []string{"the claim 66 was not judged", "no claim was confirmed or refuted after 3 round(s): the harness was saturated in each"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := func(ctx context.Context, users int) (Step, error) {
				if tc.saturated[users] {
					return Step{HarnessSaturated: true, HarnessReasons: []string{"cpu"}}, nil
				}
				return knee(100, 0)(ctx, users)
			}
			res, err := Search(context.Background(), run, Options{Start: 10, Max: 1000, Resolution: 0.1, Confirm: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Users != 100 || res.Claim != tc.wantClaim || !reflect.DeepEqual(res.Confirmed, tc.wantConfirmed) {
				t.Errorf("users %d claim %d confirmed %v; want 100, %d, %v (steps %v)", res.Users, res.Claim, res.Confirmed, tc.wantClaim, tc.wantConfirmed, usersOf(res.Steps))
			}
			notes := strings.Join(res.Notes, "\n")
			for _, want := range tc.wantNotes {
				if !strings.Contains(notes, want) {
					t.Errorf("notes %q, want %q", notes, want)
				}
			}
			if strings.Contains(notes, "not stable") || strings.Contains(notes, "failed below") {
				t.Errorf("notes %q blame the QoS for the harness", notes)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{Start: 0, Max: 10}, {Start: 10, Max: 5}, {Start: 1, Max: 2, Growth: 1}, {Start: 1, Max: 2, Resolution: 1}} {
		if errs := o.Validate(); len(errs) == 0 {
			t.Errorf("%+v: no error", o)
		}
		if _, err := Search(context.Background(), knee(1, 0), o); err == nil {
			t.Errorf("Search(%+v) ran", o)
		}
	}
	if got := confirmSteps(1); !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("confirmSteps(1) = %v", got)
	}
}

// TestSearchRetriesTransientSaturation: a step saturated once (a burst of
// load from elsewhere) is run again, and the search goes on.
func TestSearchRetriesTransientSaturation(t *testing.T) {
	seen := map[int]int{}
	run := func(_ context.Context, users int) (Step, error) {
		seen[users]++
		if users == 40 && seen[users] == 1 {
			return Step{HarnessSaturated: true, HarnessReasons: []string{"scheduler"}}, nil
		}
		return knee(100, 0)(context.Background(), users)
	}
	res, err := Search(context.Background(), run, Options{Start: 10, Max: 1000, Resolution: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Users != 100 || res.LimitedBy == "harness" {
		t.Errorf("users %d limited by %q, want 100 and a QoS line", res.Users, res.LimitedBy)
	}
	if seen[40] != 2 || res.Steps[3].Phase != "retry" || !res.Steps[2].HarnessSaturated {
		t.Errorf("steps %+v, want the saturated 40 run again as a retry", usersOf(res.Steps))
	}
}

// TestSearchLiveGrowth: with Options.Live the growth phase's steps (and
// a saturated step's retry) run on the live population, with counts that
// never decrease; EndLive is called once, before the first bisection or
// confirmation step, which run fresh populations.
func TestSearchLiveGrowth(t *testing.T) {
	tests := []struct {
		name              string
		k, saturateFrom   int
		o                 Options
		wantLive, wantRun []int
	}{
		{
			name: "grow live, bisect and confirm fresh", k: 100,
			o:        Options{Start: 10, Max: 1000, Growth: 2, Resolution: 0.1, Confirm: true},
			wantLive: []int{10, 20, 40, 80, 160}, wantRun: []int{120, 100, 110, 66, 83, 100},
		},
		{
			name: "saturated live step retried live", k: 100, saturateFrom: 40,
			o:        Options{Start: 10, Max: 1000, Growth: 2, Resolution: 0.1},
			wantLive: []int{10, 20, 40, 40}, wantRun: nil,
		},
		{
			name: "every live step passes", k: 1 << 20,
			o:        Options{Start: 4, Max: 20, Growth: 3},
			wantLive: []int{4, 12, 20}, wantRun: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var live, fresh []int
			ended := 0
			step := knee(tc.k, tc.saturateFrom)
			tc.o.Live = func(ctx context.Context, users int) (Step, error) {
				if ended > 0 {
					t.Errorf("live step of %d users after EndLive", users)
				}
				if len(live) > 0 && users < live[len(live)-1] {
					t.Errorf("live population shrinks from %d to %d", live[len(live)-1], users)
				}
				live = append(live, users)
				return step(ctx, users)
			}
			tc.o.EndLive = func() { ended++ }
			tc.o.GrowthReason = "why"
			res, err := Search(context.Background(), func(ctx context.Context, users int) (Step, error) {
				if ended != 1 {
					t.Errorf("fresh step of %d users while the live population runs", users)
				}
				fresh = append(fresh, users)
				return step(ctx, users)
			}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(live, tc.wantLive) || !reflect.DeepEqual(fresh, tc.wantRun) {
				t.Errorf("live steps %v, fresh %v; want %v, %v", live, fresh, tc.wantLive, tc.wantRun)
			}
			if ended != 1 {
				t.Errorf("EndLive called %d times, want once", ended)
			}
			if res.GrowthMode != GrowthLive || res.GrowthReason != "why" {
				t.Errorf("growth mode %q (%q), want live", res.GrowthMode, res.GrowthReason)
			}
			for i, st := range res.Steps {
				if want := i < len(tc.wantLive); st.Live != want {
					t.Errorf("step %d (%d users): live %v, want %v", i, st.Users, st.Live, want)
				}
			}
		})
	}
	res, err := Search(context.Background(), knee(5, 0), Options{Start: 2, Max: 4})
	if err != nil || res.GrowthMode != GrowthRestart {
		t.Errorf("without Live: growth mode %q, %v; want restart", res.GrowthMode, err)
	}
}

// TestSearchStoppedDuringAStep: a step a stop cut (ErrStopped) is neither
// judged nor counted, and a step that already failed keeps its reason.
func TestSearchStoppedDuringAStep(t *testing.T) {
	line := "p95(imap.UID FETCH) < 300ms"
	tests := []struct {
		name        string
		stopAt      int // the call that is cut
		err         error
		confirm     bool
		wantUsers   int
		wantLimit   string
		wantFailing int
		wantSteps   []int
		wantNote    string
	}{
		{name: "cut grow step", stopAt: 3, err: ErrStopped, wantUsers: 8, wantLimit: "stopped",
			wantSteps: []int{4, 8}, wantNote: "stopped during the grow step of 16 users"},
		{name: "cut bisect step", stopAt: 4, err: ErrStopped, wantUsers: 8, wantLimit: line, wantFailing: 16,
			wantSteps: []int{4, 8, 16}, wantNote: "while bisecting between 8 and 16 users"},
		{name: "server lost while bisecting", stopAt: 4, err: errors.New("server unreachable"), wantUsers: 8, wantLimit: line, wantFailing: 16,
			wantSteps: []int{4, 8, 16}, wantNote: "ended while bisecting between 8 and 16 users"},
		{name: "cut confirm step", stopAt: 7, err: ErrStopped, confirm: true, wantUsers: 12, wantLimit: line, wantFailing: 13,
			// 4 8 16, bisect 12 14 13, confirm 8 (cut)
			wantSteps: []int{4, 8, 16, 12, 14, 13}, wantNote: "confirmation was stopped during the confirm step of 8 users"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			run := func(ctx context.Context, users int) (Step, error) {
				calls++
				if calls == tc.stopAt {
					// What a cut step would look like if it were judged.
					return Step{Pass: true}, tc.err
				}
				return knee(12, 0)(ctx, users)
			}
			res, err := Search(context.Background(), run, Options{Start: 4, Max: 100, Resolution: 0.01, Confirm: tc.confirm})
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if res.Users != tc.wantUsers || res.LimitedBy != tc.wantLimit || res.FirstFailing != tc.wantFailing || res.Stopped == tc.confirm {
				t.Errorf("users %d limited by %q first failing %d stopped %v; want %d %q %d %v (a stopped confirmation leaves the capacity found)",
					res.Users, res.LimitedBy, res.FirstFailing, res.Stopped, tc.wantUsers, tc.wantLimit, tc.wantFailing, !tc.confirm)
			}
			if got := usersOf(res.Steps); !reflect.DeepEqual(got, tc.wantSteps) {
				t.Errorf("steps %v, want %v", got, tc.wantSteps)
			}
			if res.Confirmed != nil {
				t.Errorf("confirmed %v, want null: neither confirmed nor refuted", *res.Confirmed)
			}
			if !strings.Contains(strings.Join(res.Notes, "\n"), tc.wantNote) {
				t.Errorf("notes %q lack %q", res.Notes, tc.wantNote)
			}
		})
	}
}

// TestSearchHarnessSaturatedFirst: a harness saturated before any step
// passed found no capacity, and the note suggests only what capacity
// accepts.
func TestSearchHarnessSaturatedFirst(t *testing.T) {
	res, err := Search(context.Background(), knee(1000, 10), Options{Start: 10, Max: 100, Confirm: true})
	if !errors.Is(err, ErrHarness) || res.Users != 0 || res.LimitedBy != "harness" || res.Confirmed != nil {
		t.Errorf("result %+v err %v, want ErrHarness with 0 users limited by harness", res, err)
	}
	notes := strings.Join(res.Notes, "\n")
	if strings.Contains(notes, "--shard") || !strings.Contains(notes, "--procs") {
		t.Errorf("notes %q: want no --shard (capacity has none), a --procs hint", notes)
	}
}

// TestSearchHarnessSaturatedWhileBisecting: the growth step that failed a
// QoS line stands; the harness only cut the bisection short.
func TestSearchHarnessSaturatedWhileBisecting(t *testing.T) {
	// 10 20 40 80 fail (QoS); bisect 60 saturates (twice).
	run := func(ctx context.Context, users int) (Step, error) {
		if users == 60 {
			return Step{HarnessSaturated: true, HarnessReasons: []string{"cpu"}}, nil
		}
		return knee(50, 0)(ctx, users)
	}
	res, err := Search(context.Background(), run, Options{Start: 10, Max: 5000, Growth: 2, Resolution: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if res.Users != 40 || res.LimitedBy != "p95(imap.UID FETCH) < 300ms" || res.FirstFailing != 80 {
		t.Errorf("users %d limited by %q first failing %d; want 40, the QoS line, 80", res.Users, res.LimitedBy, res.FirstFailing)
	}
	notes := strings.Join(res.Notes, "\n")
	if strings.Contains(notes, "knee was not reached") || !strings.Contains(notes, "bisection was cut short") {
		t.Errorf("notes %q", notes)
	}
}

// TestSearchConfirmSmallPopulations: no claim of one user or more means no
// confirmation (confirmed null), and a claim whose 80/100/120% round to
// fewer populations says so.
func TestSearchConfirmSmallPopulations(t *testing.T) {
	tests := []struct {
		name          string
		k, max        int
		wantClaim     int
		wantConfirmed *bool
		wantSteps     []int
		wantNote      string
	}{
		{name: "capacity 1", k: 1, max: 10, wantNote: "no confirmation"},
		{name: "capacity 2", k: 1 << 20, max: 3, wantClaim: 2, wantConfirmed: ptr(true), wantSteps: []int{2}, wantNote: "fewer than three distinct populations"},
		{name: "capacity 12", k: 12, max: 100, wantClaim: 10, wantConfirmed: ptr(true), wantSteps: []int{8, 10, 12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Search(context.Background(), knee(tc.k, 0), Options{Start: 1, Max: tc.max, Resolution: 0.01, Confirm: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Claim != tc.wantClaim || !reflect.DeepEqual(res.Confirmed, tc.wantConfirmed) || !reflect.DeepEqual(res.ClaimSteps, tc.wantSteps) {
				t.Errorf("claim %d confirmed %v at %v; want %d %v %v", res.Claim, res.Confirmed, res.ClaimSteps, tc.wantClaim, tc.wantConfirmed, tc.wantSteps)
			}
			notes := strings.Join(res.Notes, "\n")
			if strings.Contains(notes, "rounds") || (tc.wantNote != "" && !strings.Contains(notes, tc.wantNote)) || (tc.wantNote == "" && len(res.Notes) > 0) {
				t.Errorf("notes %q, want %q", notes, tc.wantNote)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestSearchStepNotes: a note of the search that concerns a step is in
// that step's own notes too (and in the JSON of the step), the same
// string as in Result.Notes; the other steps have none. Before, the
// notes were only the result's, naming the step in their text.
func TestSearchStepNotes(t *testing.T) {
	failAt := func(bad int) StepFunc {
		return func(ctx context.Context, users int) (Step, error) {
			if users == bad {
				return Step{FirstFailed: "error_rate < 1%"}, nil
			}
			return knee(100, 0)(ctx, users)
		}
	}
	saturatedAt := func(k, sat int) StepFunc {
		return func(ctx context.Context, users int) (Step, error) {
			if users == sat {
				return Step{HarnessSaturated: true, HarnessReasons: []string{"cpu"}}, nil
			}
			return knee(k, 0)(ctx, users)
		}
	}
	tests := []struct {
		name string
		run  StepFunc
		o    Options
		// want are the notes of the steps that have some, by index in
		// Result.Steps: a fragment of each note, in order.
		want map[int][]string
	}{
		{name: "harness saturated while growing", run: knee(1000, 50), o: Options{Start: 10, Max: 5000},
			// 10 20 40 80 (saturated) 80 (retry, saturated)
			want: map[int][]string{4: {"the harness was saturated at 80 users ([cpu]): the server's knee was not reached"}}},
		{name: "first step fails", run: knee(5, 0), o: Options{Start: 10, Max: 100},
			want: map[int][]string{0: {"the first step (10 users) failed: p95(imap.UID FETCH) < 300ms"}}},
		{name: "harness saturated while bisecting", run: saturatedAt(50, 60), o: Options{Start: 10, Max: 5000, Resolution: 0.01},
			// 10 20 40 80; bisect 60 (saturated) 60 (retry, saturated)
			want: map[int][]string{5: {"the harness was saturated at 60 users ([cpu]) while bisecting between 40 and 80 users"}}},
		{name: "confirmation cut by the harness", run: saturatedAt(100, 83), o: Options{Start: 10, Max: 1000, Resolution: 0.1, Confirm: true},
			// 10 20 40 80 160, bisect 120 100 110, confirm 66 83 (saturated) 83 (retry), 59 74 89
			want: map[int][]string{10: {"the claim 83 was not judged: the harness was saturated at 83 users"}}},
		{name: "failed below the capacity", run: failAt(83), o: Options{Start: 10, Max: 1000, Resolution: 0.1, Confirm: true},
			// 10 20 40 80 160, bisect 120 100 110, confirm 66 83 (fails), 59 74 89
			want: map[int][]string{9: {"83 users failed below the capacity of 100 users (the first: error_rate < 1%)"}}},
		{name: "small claim", run: knee(1<<20, 0), o: Options{Start: 1, Max: 3, Resolution: 0.01, Confirm: true},
			// 1 2 3, confirm 2
			want: map[int][]string{3: {"80%, 100% and 120% of the claim 2 round to 2 users"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := Search(context.Background(), tc.run, tc.o)
			if len(res.Steps) == 0 {
				t.Fatal("no steps")
			}
			for i, st := range res.Steps {
				js, err := json.Marshal(st)
				if err != nil {
					t.Fatal(err)
				}
				var got struct {
					Notes []string `json:"notes"`
				}
				if err := json.Unmarshal(js, &got); err != nil {
					t.Fatal(err)
				}
				want := tc.want[i]
				if len(got.Notes) != len(want) {
					t.Errorf("step %d (%d users, %s): notes %q, want %d like %q (result's notes %q)", i, st.Users, st.Phase, got.Notes, len(want), want, res.Notes)
					continue
				}
				for j, n := range got.Notes {
					if !strings.Contains(n, want[j]) || !slices.Contains(res.Notes, n) {
						t.Errorf("step %d (%d users): note %q, want one like %q that is also the result's (%q)", i, st.Users, n, want[j], res.Notes)
					}
				}
			}
		})
	}
}

// TestSearchRunNotes: the notes of the steps' own runs (Step.RunNotes)
// are the result's notes and the notes of the steps that gave them, the
// same strings: one per distinct text, naming the steps (as the progress
// lines number them) and their users; at most maxRunNotes, then one note
// counts the rest. Before, they were dropped.
func TestSearchRunNotes(t *testing.T) {
	const failed = "3 commands failed: pop3 CONNECT 3 (reset 3)"
	withNotes := func(notes map[int][]string) StepFunc {
		return func(ctx context.Context, users int) (Step, error) {
			st, err := knee(100, 0)(ctx, users)
			st.RunNotes = notes[users]
			return st, err
		}
	}
	many := map[int][]string{}
	for i := range maxRunNotes + 3 {
		many[10] = append(many[10], fmt.Sprintf("note %d", i))
	}
	many[20] = []string{"note 0"}
	tests := []struct {
		name string
		run  StepFunc
		// want are fragments of the notes of each step that has some, by
		// index in Result.Steps; all want are the result's notes from the
		// steps' runs.
		want map[int][]string
		all  int
	}{
		{name: "one step", run: withNotes(map[int][]string{20: {failed}}),
			// 10 20 40 80
			want: map[int][]string{1: {"at step 2 (20 users) the run noted: " + failed}}, all: 1},
		{name: "the same text at two steps, another at one", run: withNotes(map[int][]string{20: {failed, "push"}, 80: {failed, failed}}),
			want: map[int][]string{
				1: {"at steps 2 and 4 (20 and 80 users) the runs noted: " + failed, "at step 2 (20 users) the run noted: push"},
				3: {"at steps 2 and 4 (20 and 80 users) the runs noted: " + failed}}, all: 2},
		{name: "bounded", run: withNotes(many),
			want: map[int][]string{0: {"note 0"}, 1: {"note 0"}}, all: maxRunNotes + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Search(context.Background(), tc.run, Options{Start: 10, Max: 80})
			if err != nil {
				t.Fatal(err)
			}
			var fromRuns []string
			for _, n := range res.Notes {
				if strings.HasPrefix(n, "at step") || strings.Contains(n, "more notes of the runs of") {
					fromRuns = append(fromRuns, n)
				}
			}
			if len(fromRuns) != tc.all {
				t.Errorf("%d notes from the steps' runs, want %d: %q", len(fromRuns), tc.all, res.Notes)
			}
			for i, st := range res.Steps {
				want := tc.want[i]
				if tc.name == "bounded" && i == 0 {
					// note 0 ... note 19 and the count of the 3 left out.
					if len(st.Notes) != maxRunNotes+1 || !strings.Contains(st.Notes[0], "steps 1 and 2 (10 and 20 users) the runs noted: note 0") ||
						!strings.HasPrefix(st.Notes[maxRunNotes], "3 more notes of the runs of step 1 (10 users) are left out") {
						t.Errorf("step 0: notes %q", st.Notes)
					}
					continue
				}
				if len(st.Notes) != len(want) {
					t.Errorf("step %d (%d users): notes %q, want %d like %q", i, st.Users, st.Notes, len(want), want)
					continue
				}
				for j, n := range st.Notes {
					if !strings.Contains(n, want[j]) || !slices.Contains(res.Notes, n) {
						t.Errorf("step %d (%d users): note %q, want one like %q that is also the result's (%q)", i, st.Users, n, want[j], res.Notes)
					}
				}
			}
		})
	}
}
