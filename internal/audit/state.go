package audit

// KindState counts the changes of one kind so far.
type KindState struct {
	// Changes recorded and examined by an audit; Converged of them reached
	// every other device; Pending have not yet.
	Changes, Converged, Pending int
	// Unconverged counts, by reason, the pending changes (live reasons:
	// pop3-local-only, not-synced-yet or pending) and the changes that
	// can no longer converge (superseded).
	Unconverged map[Reason]int
}

// State is the live picture after the latest audit.
type State struct {
	// Overall is the divergence over every user; Groups by group name.
	Overall Divergence
	Groups  map[string]Divergence
	// Changes by kind, over every user.
	Changes map[ChangeKind]KindState
}

// State returns the aggregates as of the latest Audit. Users not audited
// yet count as converged with an empty union.
func (a *Auditor) State() State {
	a.usersMu.RLock()
	users := make(map[string]int, len(a.registered))
	for g, n := range a.registered {
		if n > 0 {
			users[g] = n
		}
	}
	a.usersMu.RUnlock()

	st := State{Groups: make(map[string]Divergence), Changes: make(map[ChangeKind]KindState)}
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	for name, g := range a.groups {
		d := g.div
		// Users registered but not audited yet: converged, empty.
		if n := users[name] - d.Users; n > 0 {
			d.Users += n
			d.ConvergedUsers += n
		}
		st.Groups[name] = d
		for k, ka := range g.kinds {
			ks := st.Changes[k]
			ks.Changes += ka.changes
			ks.Converged += ka.converged
			ks.Pending += ka.pending
			if ks.Unconverged == nil {
				ks.Unconverged = make(map[Reason]int)
			}
			for r, n := range ka.unconverged {
				ks.Unconverged[r] += n
			}
			st.Changes[k] = ks
		}
	}
	for name, n := range users {
		if _, ok := st.Groups[name]; !ok {
			st.Groups[name] = Divergence{Users: n, ConvergedUsers: n}
		}
	}
	for _, d := range st.Groups {
		st.Overall.Users += d.Users
		st.Overall.ConvergedUsers += d.ConvergedUsers
		st.Overall.UnsyncedUsers += d.UnsyncedUsers
		st.Overall.Union += d.Union
		st.Overall.Divergent += d.Divergent
		st.Overall.ByDimension.add(d.ByDimension, 1)
	}
	return st
}
