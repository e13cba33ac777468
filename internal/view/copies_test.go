package view

import (
	"math/rand/v2"
	"testing"
)

func TestPrefer(t *testing.T) {
	for _, tc := range []struct {
		a, b  Copy
		trash string
		want  bool
	}{
		{Copy{"INBOX", 9}, Copy{"Trash", 1}, "", true},
		{Copy{"Trash", 1}, Copy{"Archive", 9}, "", false},
		{Copy{"Deleted Items", 1}, Copy{"Trash", 9}, "Deleted Items", false},
		{Copy{"Trash", 1}, Copy{"Deleted Items", 9}, "Deleted Items", true}, // "Trash" is an ordinary folder there
		{Copy{"INBOX.Trash", 1}, Copy{"INBOX.Archive", 9}, "", false},       // trash by role under a namespace prefix
		{Copy{"INBOX.Archive", 9}, Copy{"INBOX.Trash", 1}, "", true},
		{Copy{"INBOX", 9}, Copy{"Archive", 1}, "", true},
		{Copy{"Archive", 9}, Copy{"INBOX", 1}, "", false},
		{Copy{"Archive", 9}, Copy{"Sent", 1}, "", true},
		{Copy{"INBOX", 3}, Copy{"INBOX", 4}, "", true},
		{Copy{"INBOX", 4}, Copy{"INBOX", 3}, "", false},
		{Copy{"INBOX", 4}, Copy{"INBOX", 4}, "", false},
	} {
		if got := Prefer(tc.a, tc.b, tc.trash); got != tc.want {
			t.Errorf("Prefer(%v, %v, %q) = %v, want %v", tc.a, tc.b, tc.trash, got, tc.want)
		}
	}
}

// TestPickIsOrderIndependent: whatever order a reader meets the copies in,
// it shows the same copy of each Message-ID.
func TestPickIsOrderIndependent(t *testing.T) {
	type cp struct {
		id string
		c  Copy
		f  Flags
	}
	all := []cp{
		{"<a>", Copy{"INBOX", 7}, Seen},
		{"<a>", Copy{"INBOX", 5}, Flagged}, // two deliveries into INBOX: UID 5 wins
		{"<a>", Copy{"Trash", 2}, Answered},
		{"<b>", Copy{"Sent", 3}, Seen},
		{"<b>", Copy{"INBOX", 9}, 0}, // sent to oneself: INBOX wins
		{"<c>", Copy{"Archive", 4}, Forwarded | 1<<7},
		{"<d>", Copy{"Trash", 8}, Seen}, // only in Trash: shown there
	}
	want := map[string]Message{
		"<a>": {ID: "<a>", Folder: "INBOX", Flags: Flagged},
		"<b>": {ID: "<b>", Folder: "INBOX"},
		"<c>": {ID: "<c>", Folder: "Archive", Flags: Forwarded},
		"<d>": {ID: "<d>", Folder: "Trash", Flags: Seen},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		order := append([]cp(nil), all...)
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		calls := 0
		got := Pick("", 0, func(add func(string, Copy, Flags)) {
			calls++
			for _, c := range order {
				add(c.id, c.c, c.f)
			}
		})
		if len(got) != len(want) {
			t.Fatalf("order %d: %d messages, want %d: %v", i, len(got), len(want), got)
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("order %d: %s = %+v, want %+v", i, id, got[id], w)
			}
		}
		if calls != 2 {
			t.Errorf("copies called %d times, want 2", calls)
		}
	}
	calls := 0
	got := Pick("", 0, func(add func(string, Copy, Flags)) { calls++; add("<x>", Copy{"INBOX", 1}, Seen) })
	if calls != 1 || got["<x>"] != (Message{ID: "<x>", Folder: "INBOX", Flags: Seen}) {
		t.Errorf("single copy: %v after %d calls", got, calls)
	}
}
