package audit

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// BenchmarkAuditMemory measures what the auditor keeps per message of a
// user once every change converged: msgs deliveries to one user with two
// devices that show them all, recorded, audited, then the live heap
// (HeapAlloc after two GCs) the auditor added, per message (B/msg). The
// Message-IDs and the devices' views are allocated before the first
// measurement, so the figure is the audit's own (its string headers and
// tables, not the Message-IDs' bytes, which a user's interner shares:
// internal/view/intern.go).
//
//	go test -run '^$' -bench AuditMemory -benchtime 1x ./internal/audit
func BenchmarkAuditMemory(b *testing.B) {
	const msgs = 5000
	ids := make([]string, msgs)
	devs := []*fakeDevice{newFakeDevice(0), newFakeDevice(0)}
	for i := range ids {
		ids[i] = fmt.Sprintf("<%016x.%016x@example.com>", i, i*7919)
		for _, d := range devs {
			d.put(ids[i], view.FolderInbox, 0)
			d.sync(t0.Add(time.Hour))
		}
	}
	for range b.N {
		m0 := memNow()
		a := New(Options{})
		spec := UserSpec{Name: "u1", Group: "g"}
		for i, d := range devs {
			spec.Devices = append(spec.Devices, DeviceSpec{ID: fmt.Sprintf("u1/%d", i), View: d.View})
		}
		a.AddUser(spec)
		for _, id := range ids {
			a.Record(Change{User: "u1", Kind: Deliver, MessageID: id, At: t0, Folder: view.FolderInbox, Published: true})
		}
		a.Audit()
		if st := a.State(); st.Changes[Deliver].Converged != msgs {
			b.Fatalf("%d of %d deliveries converged", st.Changes[Deliver].Converged, msgs)
		}
		m1 := memNow()
		b.ReportMetric((float64(m1.HeapAlloc)-float64(m0.HeapAlloc))/msgs, "B/msg")
		runtime.KeepAlive(a)
	}
}

// memNow returns the memory statistics after two GCs.
func memNow() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}
