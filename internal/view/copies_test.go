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
		{Copy{Folder: "INBOX", UID: 9}, Copy{Folder: "Trash", UID: 1}, "", true},
		{Copy{Folder: "Trash", UID: 1}, Copy{Folder: "Archive", UID: 9}, "", false},
		{Copy{Folder: "Deleted Items", UID: 1}, Copy{Folder: "Trash", UID: 9}, "Deleted Items", false},
		{Copy{Folder: "Trash", UID: 1}, Copy{Folder: "Deleted Items", UID: 9}, "Deleted Items", true}, // "Trash" is an ordinary folder there
		{Copy{Folder: "INBOX.Trash", UID: 1}, Copy{Folder: "INBOX.Archive", UID: 9}, "", false},       // trash by role under a namespace prefix
		{Copy{Folder: "INBOX.Archive", UID: 9}, Copy{Folder: "INBOX.Trash", UID: 1}, "", true},
		{Copy{Folder: "INBOX", UID: 9}, Copy{Folder: "Archive", UID: 1}, "", true},
		{Copy{Folder: "Archive", UID: 9}, Copy{Folder: "INBOX", UID: 1}, "", false},
		{Copy{Folder: "Archive", UID: 9}, Copy{Folder: "Sent", UID: 1}, "", true},
		{Copy{Folder: "INBOX", UID: 3}, Copy{Folder: "INBOX", UID: 4}, "", true},
		{Copy{Folder: "INBOX", UID: 4}, Copy{Folder: "INBOX", UID: 3}, "", false},
		{Copy{Folder: "INBOX", UID: 4}, Copy{Folder: "INBOX", UID: 4}, "", false},
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
		{"<a>", Copy{Folder: "INBOX", UID: 7}, Seen},
		{"<a>", Copy{Folder: "INBOX", UID: 5}, Flagged}, // two deliveries into INBOX: UID 5 wins
		{"<a>", Copy{Folder: "Trash", UID: 2}, Answered},
		{"<b>", Copy{Folder: "Sent", UID: 3}, Seen},
		{"<b>", Copy{Folder: "INBOX", UID: 9}, 0}, // sent to oneself: INBOX wins
		{"<c>", Copy{Folder: "Archive", UID: 4}, Forwarded | 1<<7},
		{"<d>", Copy{Folder: "Trash", UID: 8}, Seen}, // only in Trash: shown there
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
	got := Pick("", 0, func(add func(string, Copy, Flags)) { calls++; add("<x>", Copy{Folder: "INBOX", UID: 1}, Seen) })
	if calls != 1 || got["<x>"] != (Message{ID: "<x>", Folder: "INBOX", Flags: Seen}) {
		t.Errorf("single copy: %v after %d calls", got, calls)
	}
}
