package clients

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// roundLog collects OnSyncRound calls.
type roundLog struct {
	mu     sync.Mutex
	walls  []time.Duration
	failed []bool
}

func (r *roundLog) on(wall time.Duration, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.walls = append(r.walls, wall)
	r.failed = append(r.failed, failed)
}

// wait waits until n rounds were reported (a liveness bound, not a timing
// assertion) and returns them.
func (r *roundLog) wait(t *testing.T, n int) []time.Duration {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		got := append([]time.Duration(nil), r.walls...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sync rounds reported, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSyncRoundsReported: every kind of device reports each scheduled
// sync round of its loop, with the wall time it took, to OnSyncRound.
func TestSyncRoundsReported(t *testing.T) {
	for _, kind := range []Kind{KindPC, KindPhone, KindWebmail} {
		t.Run("imap "+string(kind), func(t *testing.T) {
			env := newIMAPEnv(t)
			var log roundLog
			o := env.options(kind, nil, func(p *Profile) { p.StatusInterval = time.Minute })
			o.OnSyncRound = log.on
			startDevice(t, o)
			for i, w := range log.wait(t, 2) {
				if w <= 0 {
					t.Errorf("round %d took %v", i, w)
				}
			}
		})
	}
	t.Run("pop3", func(t *testing.T) {
		f := newPOP3Fixture(t, KindPC, func(p *Profile) { p.PollInterval = time.Minute })
		var log roundLog
		f.dev.o.OnSyncRound = log.on
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.dev.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		for i, w := range log.wait(t, 2) {
			if w <= 0 {
				t.Errorf("round %d took %v", i, w)
			}
		}
		if log.failed[0] || log.failed[1] {
			t.Errorf("rounds on a working server reported failed: %v", log.failed)
		}
	})
	// A round that fails (the server refuses the connection) is reported
	// as failed: the report counts it apart from the rounds' times.
	t.Run("pop3 refused", func(t *testing.T) {
		addr := faketest.RefusedAddr(t)
		var log roundLog
		prof := &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3, PollInterval: time.Minute, LeaveOnServer: true}
		d, err := New(Options{ID: "alice/pc", Profile: prof, Username: "alice", Password: "x", Address: "alice@example.com",
			POP3: transport.Endpoint{Addr: addr, TLS: transport.TLSNone}, Submitter: &c2Submitter{}, Clock: c2Clock(),
			Recorder: &eventRecorder{}, Seed: 1, Timeout: 5 * time.Second, OnSyncRound: log.on})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		defer func() {
			cancel()
			<-done
		}()
		log.wait(t, 1)
		log.mu.Lock()
		defer log.mu.Unlock()
		if !log.failed[0] {
			t.Errorf("a round whose connection was refused reported as completed (%v)", log.walls[0])
		}
	})
}

// TestViewFolderSynced: an IMAP device's view says when each folder's
// last sync began (the auditor takes a change as shown at its folder's
// sync, docs/report.md "Changes and convergence lag"); Synced is the
// earliest of them.
func TestViewFolderSynced(t *testing.T) {
	env := newIMAPEnv(t)
	d := startDevice(t, env.options(KindWebmail, nil, nil))
	v := waitView(t, d, "a first sync", func(v view.Snapshot) bool { return !v.Synced.IsZero() })
	if _, ok := v.FolderSynced[view.FolderInbox]; !ok || len(v.FolderSynced) < 2 {
		t.Fatalf("FolderSynced = %v, want INBOX and the other folders", v.FolderSynced)
	}
	earliest := time.Time{}
	for name, s := range v.FolderSynced {
		if s.IsZero() {
			t.Errorf("folder %s synced at the zero time", name)
		}
		if earliest.IsZero() || s.Before(earliest) {
			earliest = s
		}
	}
	// Synced is the earliest folder's, or the last LIST's start when
	// that is earlier (TestViewSyncedCoversFolderList).
	if v.Synced.IsZero() || v.Synced.After(earliest) {
		t.Errorf("Synced = %v, want at most the earliest folder's %v", v.Synced, earliest)
	}
}

// TestViewSyncedCoversFolderList: a folder created after the device's
// last LIST is one it does not know, so its Synced is no later than that
// LIST's start, however recently it synced the folders it knows: a
// webmail lists its folders once a session (10 simulated minutes) and
// reloads one folder per page load, so without the LIST in it Synced
// passed a move into a new folder the device could not show yet, and the
// auditor took the device as synced since (folder-not-synced, an
// until-synced settle ended early).
func TestViewSyncedCoversFolderList(t *testing.T) {
	env := newIMAPEnv(t)
	o := env.options(KindWebmail, nil, nil)
	d := startDevice(t, o)
	// Created after the first page load (the first LIST), well before
	// the next LIST (10 simulated minutes on).
	waitView(t, d, "a first page load", func(v view.Snapshot) bool { return len(v.FolderSynced) > 0 })
	created := o.Clock.Now()
	if err := pcSession(t, env, nil).createFolder("Projects"); err != nil {
		t.Fatal(err)
	}
	// Every folder the webmail knows reloaded since (a page load each).
	v := waitView(t, d, "every known folder synced after the CREATE", func(v view.Snapshot) bool {
		for _, s := range v.FolderSynced {
			if s.Before(created) {
				return false
			}
		}
		return true
	})
	if _, known := v.FolderSynced["Projects"]; known || v.Synced.IsZero() {
		// A list since the CREATE: the webmail knows the folder (read,
		// or not yet, which leaves Synced zero).
		t.Skip("the webmail listed its folders again meanwhile: nothing to check")
	}
	if !v.Synced.Before(created) {
		t.Errorf("Synced = %v, after the CREATE at %v of a folder the webmail has not listed (FolderSynced %v)", v.Synced, created, v.FolderSynced)
	}
}
