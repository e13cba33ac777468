package audit

import "testing"

// TestAddChangeAllocs pins the allocations of recording a change a user's
// other device has to show (a move, seen by a PC and a phone): the pending
// change alone; its folders and waiting devices start in its own array and
// the audit's delta is reused (Auditor.scratch).
func TestAddChangeAllocs(t *testing.T) {
	a := &Auditor{}
	spec := UserSpec{Name: "u", Devices: []DeviceSpec{{ID: "pc"}, {ID: "phone"}}}
	u := &user{}
	c := Change{Kind: Move, Folder: "Archive", MessageID: "<m@x>", Device: "pc"}
	u.pending = make([]*pendingChange, 0, 1)
	run := func() {
		u.pending = u.pending[:0]
		d := &a.scratch
		d.reset()
		a.addChange(u, spec, c, d)
	}
	run()
	if len(u.pending) != 1 || len(u.pending[0].waiting) != 1 || u.pending[0].waiting[0] != "phone" ||
		len(u.pending[0].accept) != 1 || u.pending[0].accept[0] != "Archive" || len(a.scratch.recorded) != 1 {
		t.Fatalf("pending %+v, delta %+v", u.pending, a.scratch)
	}
	allocs := testing.AllocsPerRun(50, run)
	t.Logf("%.1f allocations per change", allocs)
	if allocs > 1 {
		t.Errorf("%.1f allocations per change, want ≤ 1", allocs)
	}
}
