package serverstate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestPreflightDovecot runs the preflight against a private Dovecot with 5
// users: a plan of those 5 passes; for a plan of 8 the sample (user1, user2, user4, user6, user8)
// finds user6 and user8 missing, over IMAP and over POP3.
func TestPreflightDovecot(t *testing.T) {
	inst := dovecottest.Start(t, 5)
	for _, proto := range []clients.Protocol{clients.IMAP, clients.POP3} {
		t.Run(string(proto), func(t *testing.T) {
			check := func(n int) error {
				p := dovecotPreflight(inst, n, proto)
				p.Delivery, p.LMTP = &transport.Endpoint{Addr: inst.LMTP}, true
				_, err := p.Check(context.Background())
				return err
			}
			if err := check(5); err != nil {
				t.Fatal(err)
			}
			err := check(8)
			const want = "2 of 5 sampled users: user6, user8"
			if !errors.Is(err, ErrLoginRefused) || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want only ErrLoginRefused naming %q", err, want)
			}
		})
	}
}

// TestPreflightMailAtStartDovecot: against a private Dovecot whose user1
// and user5 hold mail (delivered over LMTP, as an earlier run leaves it),
// the preflight finds it over IMAP (user1's folders, the others' INBOX)
// and over POP3 alone, and sends the commands MailAtStart counts.
func TestPreflightMailAtStartDovecot(t *testing.T) {
	inst := dovecottest.Start(t, 5)
	for k := range 3 {
		lmtpSend(t, inst.LMTP, inst.Username(1)+"@example.com", k)
	}
	lmtpSend(t, inst.LMTP, inst.Username(5)+"@example.com", 10)
	for _, proto := range []clients.Protocol{clients.IMAP, clients.POP3} {
		t.Run(string(proto), func(t *testing.T) {
			found, err := dovecotPreflight(inst, 5, proto).Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{"user1/INBOX": 3, "user5/INBOX": 1}
			if got := folderCounts(found); found.Incomplete != "" || len(found.Users) != 5 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("found %v (%+v), want %v", got, found, want)
			}
			t.Logf("%s: user1's folders %+v, listed %d; commands %v", proto, found.Users[0].Folders, found.Users[0].Listed, found.Commands)
		})
	}
}

// dovecotPreflight is the preflight of n users (testUsers, inst's
// password) of inst over proto.
func dovecotPreflight(inst *dovecottest.Instance, n int, proto clients.Protocol) *Preflight {
	p := &Preflight{Users: testUsers(n)}
	for i := range p.Users {
		p.Users[i].Password = inst.Password
	}
	if proto == clients.IMAP {
		p.IMAP = &transport.Endpoint{Addr: inst.IMAP}
	} else {
		p.POP3 = &transport.Endpoint{Addr: inst.POP3}
	}
	return p
}
