package clients

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/view"
)

// deliverRaw delivers raw to alice over LMTP in a transaction of its own.
func (e *imapEnv) deliverRaw(t testing.TB, raw []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addrs.LMTP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("carol@example.net", []string{"alice@example.com"}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
}

// inbox returns an IMAP session of alice with INBOX selected, closed when
// the test ends.
func (e *imapEnv) inbox(t *testing.T) *imapclient.Client {
	t.Helper()
	c := e.session(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// session returns a logged-in IMAP session of alice (go-imap's client),
// closed when the test ends.
func (e *imapEnv) session(t *testing.T) *imapclient.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addrs.IMAP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := imapclient.New(conn, nil)
	t.Cleanup(func() { c.Close() })
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// inboxFlags returns the tracked flags of every message in alice's INBOX
// by UID.
func inboxFlags(t *testing.T, c *imapclient.Client) map[imap.UID]view.Flags {
	t.Helper()
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[imap.UID]view.Flags)
	for _, m := range msgs {
		out[m.UID] = flagsOf(m.Flags)
	}
	return out
}

// TestIMAPCopiesOneShownAndActedOn: a message delivered twice into INBOX
// (two copies, one Message-ID) whose copies carry different flags. Every
// device kind shows the copy view.Prefer picks — the lower UID, as the
// server's own state does — every time it is asked, and a read acts on
// that copy, not on the other (issue 11, item 1).
func TestIMAPCopiesOneShownAndActedOn(t *testing.T) {
	for _, kind := range []Kind{KindPC, KindPhone, KindWebmail} {
		t.Run(string(kind), func(t *testing.T) {
			env := newIMAPEnv(t)
			m := env.gen.New(env.rng, "carol@example.net", []string{"alice@example.com"}, 2000, false, time.Now())
			env.deliverRaw(t, m.Raw)
			env.deliverRaw(t, m.Raw)
			// The second copy (UID 2) alone is flagged.
			c := env.inbox(t)
			if err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if got := inboxFlags(t, c); len(got) != 2 || got[1] != 0 || got[2] != view.Flagged {
				t.Fatalf("INBOX flags by UID %v, want two copies, the second flagged", got)
			}
			o := env.options(kind, &imapRecorder{}, func(p *Profile) {
				p.PollInterval, p.Refresh = time.Minute, time.Minute
			})
			d := startDevice(t, o)
			waitView(t, d, "the message", hasAll(m.ID))
			for i := range 30 {
				v := d.View()
				want := env.truth(t).Messages[m.ID]
				got := v.Messages[m.ID]
				got.Stamps = view.Stamps{} // the device's own (a reader of the server keeps none)
				if got != want {
					t.Fatalf("view %d shows %+v, the server's state %+v", i, got, want)
				}
			}
			if _, err := d.Do(context.Background(), Action{Kind: ActRead, MessageID: m.ID}); err != nil {
				t.Fatal(err)
			}
			waitView(t, d, "the read", msgIs(m.ID, "INBOX", view.Seen))
			if got := env.truth(t).Messages[m.ID]; got.Flags != view.Seen {
				t.Errorf("server state %+v after the read, want seen", got)
			}
			if got := inboxFlags(t, c); got[1] != view.Seen || got[2] != view.Flagged {
				t.Errorf("INBOX flags by UID %v, want 1: seen, 2: flagged only", got)
			}
		})
	}
}
