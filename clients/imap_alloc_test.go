package clients

import (
	"context"
	"testing"

	"github.com/mailsim/mailsim/internal/view"
)

// TestSyncFullAllocs pins the allocations of a PC's poll of a folder with
// nothing new (syncFull: SELECT, UID FETCH 1:* (UID FLAGS) over 20
// messages), the client's alone: the server runs in a child process. The
// folder's copy (known), the map built and the flag fetch's callback come
// from the device's syncScratch, and an unchanged folder keeps its map
// (installAt), so what is left is the lean client's SELECT data, the
// recorder's and the connection's.
func TestSyncFullAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	env := startServerProcess(t)
	env.client = IMAPClientLean
	for range 20 {
		env.deliver(t, 2000)
	}
	d, err := newIMAPDevice(env.options(KindPC, nil, nil), KindPC)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.dialIMAP(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	poll := func() {
		s.selected = "" // a poll SELECTs (pcSync.inboxStep)
		if err := d.syncFull(s, view.FolderInbox); err != nil {
			t.Fatal(err)
		}
	}
	poll()
	if n := len(d.View().Messages); n != 20 {
		t.Fatalf("%d messages in the view, want 20", n)
	}
	allocs := testing.AllocsPerRun(20, poll)
	t.Logf("%.1f allocations per poll", allocs)
	if allocs > 6 {
		t.Errorf("%.1f allocations per poll of an unchanged folder, want ≤ 6", allocs)
	}
}
