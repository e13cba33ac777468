package audit

import "github.com/mailsim/mailsim/internal/view"

// Dimensions counts divergent messages per dimension. One message can count
// in several dimensions.
type Dimensions struct {
	Presence int // shown by some but not all devices
	Folder   int // shown in different folders
	Flags    int // shown with different tracked flags
}

func (d *Dimensions) add(o Dimensions, sign int) {
	d.Presence += sign * o.Presence
	d.Folder += sign * o.Folder
	d.Flags += sign * o.Flags
}

// UserDivergence is the comparison of one user's device views.
type UserDivergence struct {
	// Union is the number of distinct Message-IDs over the views.
	Union int
	// Divergent is the number of those that differ in any dimension.
	Divergent   int
	ByDimension Dimensions
	// Unsynced is set when one of the views is a device's that never
	// completed a sync (view.Snapshot.Synced zero): it shows nothing, so
	// no message of its diverges, and its agreement says nothing.
	Unsynced bool
}

// Converged reports whether the user's devices fully agree, every one of
// them having completed a sync: a user with a device that never synced is
// not converged (it is unsynced, Unsynced), though no message diverges.
// Before 2026-12-05 it was, and a group whose devices could not log in
// read "users converged 80.0%" with none of its changes converged.
func (u UserDivergence) Converged() bool { return u.Divergent == 0 && !u.Unsynced }

// Ratio is Divergent/Union, 0 for an empty union.
func (u UserDivergence) Ratio() float64 { return ratio(u.Divergent, u.Union) }

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// Compare compares the views of one user's devices (docs/report.md, Divergence).
// Fewer than two views never diverge, though their messages count in Union.
func Compare(views []view.Snapshot) UserDivergence {
	var u UserDivergence
	if len(views) == 0 {
		return u
	}
	for _, v := range views {
		// Never completed a sync: no poll (POP3), or no folder (IMAP,
		// whose Synced is zero too while a folder it listed since has
		// not been synced: it did sync the others).
		if v.Synced.IsZero() && len(v.FolderSynced) == 0 {
			u.Unsynced = true
		}
	}
	if len(views) == 1 {
		u.Union = len(views[0].Messages)
		return u
	}
	walkUnion(views, func(_ string, presence, folder, flags bool) {
		u.Union++
		u.count(presence, folder, flags)
	})
	return u
}

// walkUnion calls fn, in no particular order, for every Message-ID shown by
// at least one of two or more views, with whether the views differ on its
// presence, folder and flags.
func walkUnion(views []view.Snapshot, fn func(id string, presence, folder, flags bool)) {
	// Messages shown by the first view are compared against every other
	// view directly; the rest are collected in a small map.
	type acc struct {
		n          int
		folder     string
		flags      view.Flags
		folderDiff bool
		flagsDiff  bool
	}
	var extra map[string]*acc
	first := views[0].Messages
	for id, m := range first {
		n := 1
		folderDiff, flagsDiff := false, false
		for _, v := range views[1:] {
			o, ok := v.Messages[id]
			if !ok {
				continue
			}
			n++
			if !view.SameFolder(o.Folder, m.Folder) {
				folderDiff = true
			}
			if o.Flags&view.Tracked != m.Flags&view.Tracked {
				flagsDiff = true
			}
		}
		fn(id, n < len(views), folderDiff, flagsDiff)
	}
	for _, v := range views[1:] {
		for id, m := range v.Messages {
			if _, ok := first[id]; ok {
				continue
			}
			if extra == nil {
				extra = make(map[string]*acc)
			}
			a := extra[id]
			if a == nil {
				extra[id] = &acc{n: 1, folder: m.Folder, flags: m.Flags & view.Tracked}
				continue
			}
			a.n++
			if !view.SameFolder(a.folder, m.Folder) {
				a.folderDiff = true
			}
			if a.flags != m.Flags&view.Tracked {
				a.flagsDiff = true
			}
		}
	}
	for id, a := range extra {
		fn(id, a.n < len(views), a.folderDiff, a.flagsDiff)
	}
}

func (u *UserDivergence) count(presence, folder, flags bool) {
	if presence {
		u.ByDimension.Presence++
	}
	if folder {
		u.ByDimension.Folder++
	}
	if flags {
		u.ByDimension.Flags++
	}
	if presence || folder || flags {
		u.Divergent++
	}
}

// Divergence is the divergence of a set of users (a group, or everyone).
type Divergence struct {
	// Users is the number of users; ConvergedUsers of them have no
	// divergent message and every device of theirs completed a sync
	// (UserDivergence.Converged); UnsyncedUsers have a device that never
	// completed one (UserDivergence.Unsynced), converged or not otherwise.
	Users, ConvergedUsers, UnsyncedUsers int
	// Union and Divergent are summed over the users.
	Union, Divergent int
	ByDimension      Dimensions
}

// Ratio is ΣDivergent/ΣUnion over the users, 0 when the union is empty.
func (d Divergence) Ratio() float64 { return ratio(d.Divergent, d.Union) }

// UsersConvergedRatio is the share of users with no divergent message
// whose every device completed a sync (UserDivergence.Converged), 1 when
// there are no users.
func (d Divergence) UsersConvergedRatio() float64 {
	if d.Users == 0 {
		return 1
	}
	return float64(d.ConvergedUsers) / float64(d.Users)
}

func (d *Divergence) add(u UserDivergence, sign int) {
	d.Users += sign
	if u.Converged() {
		d.ConvergedUsers += sign
	}
	if u.Unsynced {
		d.UnsyncedUsers += sign
	}
	d.Union += sign * u.Union
	d.Divergent += sign * u.Divergent
	d.ByDimension.add(u.ByDimension, sign)
}
