package clients

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// storeServer is a real server with one user for the STORE tests: the
// embedded server or a private Dovecot.
type storeServer struct {
	imap, lmtp, user, pass, addr string
	// client is the phone's Profile.IMAPClient.
	client string
}

// storeServerCase starts one server of the STORE tests.
type storeServerCase struct {
	name  string
	start func(t *testing.T) storeServer
}

// storeServers are the servers the STORE tests run against, each with
// every IMAP client of the devices (named server/client).
var storeServers = func() []storeServerCase {
	var out []storeServerCase
	for _, b := range storeServerBases {
		for _, c := range IMAPClients {
			out = append(out, storeServerCase{b.name + "/" + c, func(t *testing.T) storeServer {
				s := b.start(t)
				s.client = c
				return s
			}})
		}
	}
	return out
}()

// storeServerBases starts the servers the STORE tests run against, by
// name. Dovecot is skipped (by dovecottest) where it cannot run.
var storeServerBases = []storeServerCase{
	{"embedded", func(t *testing.T) storeServer {
		env := newIMAPEnv(t)
		return storeServer{imap: env.addrs.IMAP, lmtp: env.addrs.LMTP, user: "alice", pass: "secret", addr: "alice@example.com"}
	}},
	{"dovecot", func(t *testing.T) storeServer {
		inst := dovecottest.Start(t, 1)
		return storeServer{imap: inst.IMAP, lmtp: inst.LMTP, user: inst.Username(1), pass: inst.Password, addr: inst.Username(1) + "@example.com"}
	}},
}

// deliver puts a new message into the user's INBOX over LMTP and returns
// its Message-ID.
func (s storeServer) deliver(t *testing.T, env *imapEnv) string {
	t.Helper()
	m := env.gen.New(env.rng, "carol@example.net", []string{s.addr}, 2000, false, time.Now())
	lmtpDeliver(t, s.lmtp, s.addr, m.Raw)
	return m.ID
}

// other runs fn on the INBOX of a second session of the user (another
// device), bounded by a deadline.
func (s storeServer) other(t *testing.T, fn func(c *imapclient.Client)) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.imap, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(s.user, s.pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fn(c)
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

// phone returns the options of a phone on the server that syncs once at
// start and then not for a long while, so its view stays as it was.
func (s storeServer) phone(env *imapEnv, rec Recorder) Options {
	o := env.options(KindPhone, rec, func(p *Profile) { p.PollInterval = 24 * time.Hour })
	o.ID, o.Username, o.Password, o.Address = s.user+"/phone", s.user, s.pass, s.addr
	o.IMAP = transport.Endpoint{Addr: s.imap, TLS: transport.TLSNone}
	o.Profile.IMAPClient = s.client
	return o
}

// count returns how many of names are one of want.
func count(names []string, want ...string) int {
	n := 0
	for _, c := range names {
		if slices.Contains(want, c) {
			n++
		}
	}
	return n
}

// TestIMAPStoreFlagAlreadySet checks, on the embedded server and on
// Dovecot, the STORE of a flag another device set meanwhile (Dovecot
// answers a STORE that changes nothing with a bare OK, no FETCH): the read
// succeeds with one UID STORE, without a retry, a re-SELECT or a re-sync;
// a message the view already shows read is not stored at all; and a STORE
// on a message another device expunged is ErrNoMessage, not success.
func TestIMAPStoreFlagAlreadySet(t *testing.T) {
	for _, srv := range storeServers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			env := newIMAPEnvNoServer()
			stale, shown, gone := s.deliver(t, env), s.deliver(t, env), s.deliver(t, env)
			// shown is read elsewhere before the phone syncs.
			s.other(t, func(c *imapclient.Client) {
				uids, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: shown}}}, nil).Wait()
				if err != nil || len(uids.AllUIDs()) != 1 {
					t.Fatalf("search %s: %v %v", shown, uids, err)
				}
				if err := c.Store(uids.All, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
					t.Fatal(err)
				}
			})
			rec := &imapRecorder{}
			d := startDevice(t, s.phone(env, rec))
			waitView(t, d, "the messages", func(v view.Snapshot) bool {
				return hasAll(stale, gone)(v) && msgIs(shown, "INBOX", view.Seen)(v)
			})
			// Now another device reads stale and expunges gone; the
			// phone's view still shows stale unread and gone.
			s.other(t, func(c *imapclient.Client) {
				for _, id := range []string{stale, gone} {
					uids, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
					if err != nil || len(uids.AllUIDs()) != 1 {
						t.Fatalf("search %s: %v %v", id, uids, err)
					}
					f := imap.FlagSeen
					if id == gone {
						f = imap.FlagDeleted
					}
					if err := c.Store(uids.All, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{f}}, nil).Close(); err != nil {
						t.Fatal(err)
					}
				}
				if err := c.Expunge().Close(); err != nil {
					t.Fatal(err)
				}
			})
			if m := d.View().Messages[stale]; m.Flags.Has(view.Seen) {
				t.Fatalf("the phone synced meanwhile (%+v): the test needs a stale view", m)
			}
			ctx := context.Background()
			tests := []struct {
				act    Action
				stores int
				err    error
			}{
				{Action{Kind: ActRead, MessageID: stale}, 1, nil},
				{Action{Kind: ActRead, MessageID: shown}, 0, nil},
				{Action{Kind: ActFlag, MessageID: gone}, 1, ErrNoMessage},
			}
			for _, tt := range tests {
				before := len(rec.names())
				res, err := d.Do(ctx, tt.act)
				names := rec.names()[before:]
				if tt.err != nil {
					if !errors.Is(err, tt.err) {
						t.Errorf("%s: %v, want %v", tt.act.Kind, err, tt.err)
					}
				} else if err != nil || !res.Published || !res.Flags.Has(view.Seen) {
					t.Errorf("%s: %+v %v, want published with \\Seen", tt.act.Kind, res, err)
				}
				if n := count(names, "UID STORE"); n != tt.stores {
					t.Errorf("%s: %d UID STORE, want %d: %v", tt.act.Kind, n, tt.stores, names)
				}
				// A phone connects for an action and selects once; nothing
				// is selected again after the STORE.
				if i := slices.Index(names, "UID STORE"); tt.err == nil && (count(names, "SELECT") > 1 ||
					i >= 0 && count(names[i:], "SELECT") != 0) {
					t.Errorf("%s: re-selected: %v", tt.act.Kind, names)
				}
				for _, n := range names {
					if strings.Contains(n, ":") {
						t.Errorf("%s: command failed: %v", tt.act.Kind, names)
					}
				}
			}
			if m := d.View().Messages[stale]; m.Flags != view.Seen {
				t.Errorf("view shows %+v after the read", m)
			}
		})
	}
}

// TestIMAPReadBodySetsSeen checks, on the embedded server and on Dovecot,
// a read whose fetch_open is BODY[] (not PEEK): the server sets \Seen and
// says so in the FETCH, so the device does not store it again.
func TestIMAPReadBodySetsSeen(t *testing.T) {
	for _, srv := range storeServers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			env := newIMAPEnvNoServer()
			id := s.deliver(t, env)
			rec := &imapRecorder{}
			o := s.phone(env, rec)
			o.Profile.FetchOpen = "RFC822.SIZE BODY[]"
			d := startDevice(t, o)
			waitView(t, d, "the message", msgIs(id, "INBOX", 0))
			before := len(rec.names())
			res, err := d.Do(context.Background(), Action{Kind: ActRead, MessageID: id})
			names := rec.names()[before:]
			if err != nil || !res.Published || res.Flags != view.Seen {
				t.Fatalf("read: %+v %v, want published with \\Seen", res, err)
			}
			if n := count(names, "UID STORE"); n != 0 {
				t.Errorf("%d UID STORE after a fetch of BODY[], want 0: %v", n, names)
			}
			s.other(t, func(c *imapclient.Client) {
				msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
				if err != nil || len(msgs) != 1 || !slices.Contains(msgs[0].Flags, imap.FlagSeen) {
					t.Errorf("the server's flags: %+v %v, want \\Seen", msgs, err)
				}
			})
		})
	}
}
