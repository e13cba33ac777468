package serverstate

import (
	"context"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/couriertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestAlertWatch: of the bytes a session copies to it, in writes cut
// anywhere, the watch keeps the text of the first [ALERT] response code
// of a status response, tagged or not, and nothing of the client's
// lines, other codes, a line over maxAlertLine or bytes after stop.
func TestAlertWatch(t *testing.T) {
	courier := "* OK [ALERT] Filesystem notification initialization error -- contact your mail administrator (check for configuration errors with the FAM/Gamin library)\r\n"
	for _, tt := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"none", []string{"* OK [CAPABILITY IMAP4rev1] ready\r\n", "T1 LOGIN user1 pass\r\n", "T1 OK LOGIN Ok.\r\n"}, ""},
		{"courier's login", []string{"* OK ready\r\n", "T1 LOGIN user1 pass\r\n", courier, "T1 OK LOGIN Ok.\r\n"},
			"Filesystem notification initialization error -- contact your mail administrator (check for configuration errors with the FAM/Gamin library)"},
		{"cut anywhere", []string{"* OK ready\r\n* O", "K [AL", "ERT] disk ", "full\r", "\nT1 OK done\r\n"}, "disk full"},
		{"the first of two", []string{"* NO [ALERT] one\r\n* BAD [alert] two\r\n"}, "one"},
		{"tagged", []string{"T1 NO [ALERT] account locked\r\n"}, "account locked"},
		{"no text", []string{"* OK [ALERT]\r\n"}, "(no text)"},
		{"not a status", []string{"T1 LOGIN [ALERT] x\r\n", "* LIST () \"/\" \"[ALERT] x\"\r\n", "* OK [ALERTS] x\r\n"}, ""},
		{"over a line's bound", []string{"* OK [ALERT] " + strings.Repeat("x", maxAlertLine), "\r\n* OK [ALERT] short\r\n"}, "short"},
		{"clipped", []string{"* OK [ALERT] " + strings.Repeat("y", 300) + "\r\n"}, strings.Repeat("y", maxIncompleteText) + "…"},
		{"unterminated", []string{"* OK [ALERT] never ends"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var a alertWatch
			for _, w := range tt.writes {
				if n, err := a.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write: %d, %v", n, err)
				}
			}
			if got := a.stop(); got != tt.want {
				t.Errorf("alert %q, want %q", got, tt.want)
			}
			_, _ = a.Write([]byte("* OK [ALERT] after the stop\r\n"))
			if got := a.stop(); got != tt.want {
				t.Errorf("after the stop: alert %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPreflightAlertCourier: Courier without file notification greets
// every login with an [ALERT] that says so, which the preflight keeps
// (MailAtStart.Alert, the run report's note); with gamin it sends none.
func TestPreflightAlertCourier(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    couriertest.Options
		want string
	}{
		{"gamin", couriertest.Options{}, ""},
		{"no file notification", couriertest.Options{NoFAM: true}, "Filesystem notification initialization error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inst := couriertest.Start(t, 2, tt.o)
			p := &Preflight{Users: testUsers(2), IMAP: &transport.Endpoint{Addr: inst.IMAP}}
			for i := range p.Users {
				p.Users[i].Password = inst.Password
			}
			found, err := p.Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if (tt.want == "") != (found.Alert == "") || !strings.Contains(found.Alert, tt.want) {
				t.Errorf("alert %q, want %q", found.Alert, tt.want)
			}
		})
	}
}

// FuzzAlertWatch feeds a server's bytes to the watch in two writes cut
// anywhere: it never panics, holds no more than maxAlertLine bytes of a
// line, and whatever it keeps is the text of an [ALERT] status response,
// clipped, found the same way as when the bytes come in one write.
func FuzzAlertWatch(f *testing.F) {
	for _, s := range []string{
		"* OK [ALERT] Filesystem notification initialization error\r\nT1 OK LOGIN Ok.\r\n",
		"* OK ready\r\nT1 NO [ALERT] account locked\r\n",
		"* OK [ALERT]\r\n",
		"* BYE [ALERT] " + strings.Repeat("z", 200) + "\r\n",
		"T1 LOGIN [ALERT] x\r\n* OK [ALERTS] x\r\n",
	} {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		at := int(cut) % (len(b) + 1)
		var split, whole alertWatch
		_, _ = split.Write(b[:at])
		if len(split.line) > maxAlertLine {
			t.Fatalf("holds %d bytes of a line, over %d", len(split.line), maxAlertLine)
		}
		_, _ = split.Write(b[at:])
		_, _ = whole.Write(b)
		got, want := split.stop(), whole.stop()
		if got != want {
			t.Fatalf("cut at %d: alert %q, in one write %q", at, got, want)
		}
		if len(got) > maxIncompleteText+len("…") {
			t.Fatalf("alert of %d bytes, over the clip of %d", len(got), maxIncompleteText)
		}
	})
}
