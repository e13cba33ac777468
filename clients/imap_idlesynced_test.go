package clients

import (
	"context"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// TestIdleUpdateKeepsLastSync: IDLE moves INBOX's synced time to its
// start, as changes reach the device at once while it runs; but an update
// that came before it (a message delivered after the last sync, announced
// by a NOOP's EXISTS: a change the view lacks) ends the IDLE at once, and
// INBOX must stay synced as of its last sync, not the IDLE's start: the
// auditor would take the device as synced since the delivery it does not
// show.
func TestIdleUpdateKeepsLastSync(t *testing.T) {
	env := newIMAPEnv(t)
	s := pcSession(t, env, nil)
	d := s.d
	if err := d.syncFull(s, view.FolderInbox); err != nil {
		t.Fatal(err)
	}
	synced := d.View().FolderSynced[view.FolderInbox]
	id := env.deliver(t, 1000)
	if err := s.do("NOOP", s.c.Noop); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := d.idle(ctx, s, newIMAPSlot(d), time.Minute); err != nil {
		t.Fatal(err)
	}
	if !s.stale {
		t.Fatal("the IDLE ended without the update: nothing to check")
	}
	v := d.View()
	if _, shown := v.Messages[id]; shown {
		t.Fatalf("the view shows %s before a sync", id)
	}
	if got := v.FolderSynced[view.FolderInbox]; !got.Equal(synced) {
		t.Errorf("INBOX synced at %v after an IDLE that brought an update, want its last sync's %v", got, synced)
	}
}
