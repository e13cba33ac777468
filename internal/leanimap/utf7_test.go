package leanimap

import "testing"

// TestMailboxNames checks modified UTF-7 both ways with RFC 3501's example.
func TestMailboxNames(t *testing.T) {
	for _, tc := range []struct{ utf8, wire string }{
		{"INBOX", "INBOX"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"Tom & Jerry", "Tom &- Jerry"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"😀", "&2D3eAA-"},
	} {
		if got := encodeMailbox(tc.utf8); got != tc.wire {
			t.Errorf("encode %q: %q, want %q", tc.utf8, got, tc.wire)
		}
		if got, err := decodeMailbox(tc.wire); err != nil || got != tc.utf8 {
			t.Errorf("decode %q: %q, %v; want %q", tc.wire, got, err, tc.utf8)
		}
	}
	for _, bad := range []string{"&", "&U,BTFw", "&!!-", "&AA-"} {
		if got, err := decodeMailbox(bad); err == nil {
			t.Errorf("decode %q: %q, want an error", bad, got)
		}
	}
}
