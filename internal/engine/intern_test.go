package engine

import (
	"context"
	"log/slog"
	"testing"
	"time"
	"unsafe"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// TestChangesShareTheUsersMessageIDs checks that the changes the engine
// records for a user carry the user's interned Message-ID (the string the
// user's devices keep), not a copy: a delivery by the injector and a send
// by the person.
func TestChangesShareTheUsersMessageIDs(t *testing.T) {
	for _, tc := range []struct {
		name string
		// record makes the engine record one change about id for user u.
		record func(t *testing.T, u *user, changes changeSink, id string)
		kind   audit.ChangeKind
	}{
		{"injector delivery", func(t *testing.T, u *user, changes changeSink, id string) {
			in := newInjector(injectorParts{log: slog.New(slog.DiscardHandler), events: &fakeSink{}, changes: changes, push: newPushTracker()}, 1)
			in.delivered(delivery{id: id}, recipient{addr: u.plan.Address, user: u, folder: view.FolderInbox}, "lmtp", time.Now())
		}, audit.Deliver},
		{"person send", func(t *testing.T, u *user, changes changeSink, id string) {
			f := newFakePerson(scenarios.Behavior{}, &fakeDevice{
				profile: clients.Profile{Name: "pc", Kind: clients.KindPC, Protocol: clients.IMAP},
				answer: func(clients.Action, int) (clients.Result, error) {
					return clients.Result{Sent: id, Published: true, Folder: "Sent"}, nil
				},
			})
			f.p.u.ids = u.ids
			f.p.env.changes = changes
			if _, err := f.p.doOn(context.Background(), f.p.u.devices[0], clients.Action{Kind: clients.ActSend, To: []string{"x@example.org"}}); err != nil {
				t.Fatal(err)
			}
		}, audit.Send},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &user{plan: &scenarios.User{Credential: scenarios.Credential{Username: "u1"}, Address: "u1@example.com"}, ids: view.NewInterner()}
			kept := u.ids.Intern("<m1@example.net>") // as a device of u keeps it
			changes := &fakeChanges{}
			tc.record(t, u, changes, string([]byte("<m1@example.net>")))
			if len(changes.got) != 1 || changes.got[0].Kind != tc.kind {
				t.Fatalf("changes %+v, want one %s", changes.got, tc.kind)
			}
			if got := changes.got[0].MessageID; got != kept || unsafe.StringData(got) != unsafe.StringData(kept) {
				t.Errorf("the change carries %q in a string of its own, not the user's", got)
			}
		})
	}
}
