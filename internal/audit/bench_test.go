package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// benchRig builds users × 3 devices × msgs messages: the PC and webmail
// agree, the phone lacks a few and shows others unread. Every message was
// delivered (and converged or not) before the benchmark starts.
func benchRig(b *testing.B, users, msgs int) (*Auditor, *fakeServer, []string) {
	b.Helper()
	a := New(Options{})
	server := newFakeServer()
	names := make([]string, users)
	for u := range users {
		name := fmt.Sprintf("user%d", u)
		names[u] = name
		spec := UserSpec{Name: name, Group: fmt.Sprintf("g%d", u%4)}
		devs := []*fakeDevice{newFakeDevice(0), newFakeDevice(100), newFakeDevice(0)}
		for i, d := range devs {
			d.sync(t0.Add(30 * time.Minute))
			spec.Devices = append(spec.Devices, DeviceSpec{ID: fmt.Sprintf("%s/%d", name, i), View: d.View})
		}
		for m := range msgs {
			id := fmt.Sprintf("<%d.%d@bench>", u, m)
			server.put(name, id, "INBOX", view.Seen)
			devs[0].put(id, "INBOX", view.Seen)
			devs[2].put(id, "INBOX", view.Seen)
			if m%10 != 0 {
				f := view.Seen
				if m%7 == 0 {
					f = 0
				}
				devs[1].put(id, "INBOX", f)
			}
			a.Record(Change{User: name, Kind: Deliver, MessageID: id, At: t0, Folder: "INBOX"})
		}
		a.AddUser(spec)
	}
	a.Audit()
	return a, server, names
}

func BenchmarkAuditIncremental1Percent(b *testing.B) {
	a, _, names := benchRig(b, 10000, 100)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		for range len(names) / 100 {
			a.Touch(names[i%len(names)])
			i++
		}
		a.Audit()
	}
}

func BenchmarkAuditAllDirty(b *testing.B) {
	a, _, names := benchRig(b, 10000, 100)
	b.ResetTimer()
	for b.Loop() {
		for _, n := range names {
			a.Touch(n)
		}
		a.Audit()
	}
}

func BenchmarkFinal(b *testing.B) {
	a, server, _ := benchRig(b, 10000, 100)
	b.ResetTimer()
	for b.Loop() {
		res, err := a.Final(context.Background(), server)
		if err != nil || res.Users != 10000 {
			b.Fatalf("Final: %v, %d users", err, res.Users)
		}
	}
}

func BenchmarkState(b *testing.B) {
	a, _, _ := benchRig(b, 10000, 100)
	b.ResetTimer()
	for b.Loop() {
		_ = a.State()
	}
}
