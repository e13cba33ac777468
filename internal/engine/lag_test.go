package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/view"
)

// TestWebmailLagIsItsFirstSync: a webmail reloads INBOX on every page load
// (every 30 simulated seconds here); a read on the PC shows on it at the
// first reload that began once the server had the read, and the audit,
// which runs once the webmail has reloaded INBOX twice more, takes the lag
// at that first reload's start (view.SyncLog), not the last one before the
// audit. Real devices on the embedded server. Before 2026-12-05 the lag
// was the last reload's start, a minute or more high here (up to an audit
// interval, 8 simulated minutes at time_scale 240, in a run).
func TestWebmailLagIsItsFirstSync(t *testing.T) {
	_, ep, ids := startAlice(t, 1, 5)
	msg := ids[0]

	clock := simclock.New(60, time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC))
	// shownAt is the start of the webmail's INBOX sync whose view first
	// showed the read, taken in its OnChange, which the webmail calls
	// from its sync loop right after that sync changed its view, before
	// it can sync again.
	var (
		mu      sync.Mutex
		web     clients.Device
		stored  time.Time // when the server had the read; zero before
		shownAt time.Time
	)
	onWebChange := func() {
		mu.Lock()
		defer mu.Unlock()
		if web == nil || stored.IsZero() || !shownAt.IsZero() {
			return
		}
		v := web.View()
		if v.Messages[msg].Flags.Has(view.Seen) {
			shownAt = v.FolderSynced[view.FolderInbox]
		}
	}
	var lags []time.Duration
	pc, w, _, a := alicePCAndWebmail(t, ep, clock, 30*time.Second, 10, onWebChange,
		audit.Options{OnConverged: func(_ audit.ChangeKind, lag time.Duration) { lags = append(lags, lag) }})
	mu.Lock()
	web = w
	mu.Unlock()

	shown := func(v view.Snapshot) bool { _, ok := v.Messages[msg]; return ok }
	waitForView(t, pc, "the message", shown)
	waitForView(t, w, "the message", shown)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at := clock.Now()
	res, err := pc.Do(ctx, clients.Action{Kind: clients.ActRead, MessageID: msg})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	read := audit.Change{User: "alice", Device: pc.ID(), Kind: audit.Read, MessageID: msg,
		At: at, Done: clock.Now(), Flags: view.Seen, Published: res.Published}
	mu.Lock()
	stored = read.Stored()
	mu.Unlock()
	a.Record(read)

	// The webmail shows the read, then reloads INBOX twice more (a minute)
	// before the audit.
	first := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return shownAt
	}
	waitForView(t, w, "the read", func(v view.Snapshot) bool { return !first().IsZero() })
	last := waitForView(t, w, "two more INBOX reloads", func(v view.Snapshot) bool {
		return !v.FolderSynced[view.FolderInbox].Before(first().Add(time.Minute))
	}).FolderSynced[view.FolderInbox]
	if first().Before(read.Stored()) {
		// A reload begun while the read ran showed it: no lag to check.
		t.Skipf("the webmail's reload at %v, before the read was stored at %v, showed it", first(), read.Stored())
	}
	a.Audit()
	want := first().Sub(read.Stored())
	if len(lags) != 1 || lags[0] != want {
		t.Errorf("lags %v, want [%v]: the webmail's first INBOX reload since the read began at %v, the read stored at %v (the last reload before the audit at %v, %v)",
			lags, want, first(), read.Stored(), last, last.Sub(read.Stored()))
	}
}
