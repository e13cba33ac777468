package engine

import "time"

// dueIndex holds the due times of a person's pending messages by their
// place in the order they were noticed (person.order), so that the person
// finds the earliest due time and the first message due by a time
// without looking at every pending message on every wake-up (a person
// with a full mailbox to work through has thousands). It is a tree of
// minima over a power-of-two number of leaves: leaf i is the due time of
// order[i], zero when that message is no longer pending; an inner node
// is the earlier of its children's (zero: none). set, earliest and first
// cost O(log n). The zero value is empty; only the person's goroutine
// uses it.
type dueIndex struct {
	leaves int         // a power of two, or 0
	nodes  []time.Time // 2*leaves; nodes[1] is the root, nodes[leaves+i] leaf i
}

// dueMinLeaves is the fewest leaves of a dueIndex that holds any: a
// person with little mail keeps 8 times (192 bytes).
const dueMinLeaves = 4

// earlier returns the earlier of a and b, a zero time counting as none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// set makes due the due time of order[i] (zero: not pending).
func (x *dueIndex) set(i int, due time.Time) {
	if i >= x.leaves {
		x.grow(i + 1)
	}
	k := x.leaves + i
	x.nodes[k] = due
	for k > 1 {
		k /= 2
		x.nodes[k] = earlier(x.nodes[2*k], x.nodes[2*k+1])
	}
}

// grow makes room for n leaves, keeping the due times held.
func (x *dueIndex) grow(n int) {
	leaves := max(x.leaves, dueMinLeaves)
	for leaves < n {
		leaves *= 2
	}
	old := x.leafTimes()
	x.reset(leaves)
	copy(x.nodes[leaves:], old)
	x.fix()
}

// leafTimes returns the leaves.
func (x *dueIndex) leafTimes() []time.Time {
	if x.leaves == 0 {
		return nil
	}
	return x.nodes[x.leaves:]
}

// reset empties the index, with room for leaves leaves.
func (x *dueIndex) reset(leaves int) {
	x.leaves = leaves
	x.nodes = make([]time.Time, 2*leaves)
}

// fix recomputes every inner node from the leaves.
func (x *dueIndex) fix() {
	for k := x.leaves - 1; k >= 1; k-- {
		x.nodes[k] = earlier(x.nodes[2*k], x.nodes[2*k+1])
	}
}

// earliest returns the earliest due time held, zero when none.
func (x *dueIndex) earliest() time.Time {
	if x.leaves == 0 {
		return time.Time{}
	}
	return x.nodes[1]
}

// first returns the lowest i whose due time is not after now, or -1.
func (x *dueIndex) first(now time.Time) int {
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	if x.leaves == 0 || !due(x.nodes[1]) {
		return -1
	}
	k := 1
	for k < x.leaves {
		if k = 2 * k; !due(x.nodes[k]) {
			k++
		}
	}
	return k - x.leaves
}
