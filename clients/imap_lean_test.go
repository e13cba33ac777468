package clients

import (
	"context"
	"errors"
	"net"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestLeanOutcomes checks that the lean client's failures classify as the
// devices count them: a server that is not IMAP and an oversized line are
// errors, a silent server a timeout, a wrong password auth.
func TestLeanOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script faketest.IMAPMode
		want   transport.Outcome
	}{
		{"garbage", faketest.IMAPGarbage, transport.OutcomeError},
		{"huge line", faketest.IMAPHugeLine, transport.OutcomeError},
		{"silent", faketest.IMAPSilent, transport.OutcomeTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := faketest.StartIMAP(t, tc.script, faketest.Options{}).Addr
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c, err := leanimap.New(conn, leanimap.Options{Timeout: 500 * time.Millisecond})
			if err == nil {
				if err = c.Login("alice", "secret"); err == nil {
					err = c.UIDFetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, "(UID BODY.PEEK[])", func(*leanimap.Message) error { return nil })
				}
			}
			if o := transport.OutcomeOf(err); err == nil || o != tc.want {
				t.Fatalf("%v: outcome %s, want %s", err, o, tc.want)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		env := newIMAPEnv(t)
		conn, err := net.DialTimeout("tcp", env.addrs.IMAP, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c, err := leanimap.New(conn, leanimap.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login("alice", "wrong")
		if o := transport.LoginOutcome(err); o != transport.OutcomeAuth {
			t.Fatalf("%v: login outcome %s, want auth", err, o)
		}
	})
}

// TestLeanFetchItems checks that the items the lean client sends are the
// profile's: written back from the parsed options, they parse to the same
// options.
func TestLeanFetchItems(t *testing.T) {
	for _, items := range []string{
		FetchNewThunderbird, FetchNewK9, FetchNewRoundcube, FetchOpenDefault,
		"UID BODYSTRUCTURE BODY.PEEK[]<0.131072>", "UID ENVELOPE BODY", "BINARY.PEEK[1] BINARY.SIZE[1] BODY[1.MIME]",
		"BODY.PEEK[HEADER.FIELDS.NOT (Received)] INTERNALDATE",
	} {
		o, err := parseFetchItems(items)
		if err != nil {
			t.Fatalf("%s: %v", items, err)
		}
		o.UID = true // the lean client always asks for the UID, first
		wire := string(appendFetchItems(nil, o))
		if wire[0] != '(' || wire[len(wire)-1] != ')' {
			t.Fatalf("%s: %q is not a list", items, wire)
		}
		back, err := parseFetchItems(wire[1 : len(wire)-1])
		if err != nil {
			t.Fatalf("%s: written as %q, which does not parse: %v", items, wire, err)
		}
		if !reflect.DeepEqual(back, o) {
			t.Errorf("%s: written as %q, parsed back as %+v, want %+v", items, wire, back, o)
		}
	}
}

// TestLeanSearch checks the search criteria the devices send as UID
// SEARCH arguments, and that any other criteria are refused, not dropped.
func TestLeanSearch(t *testing.T) {
	for _, tc := range []struct {
		c    *imap.SearchCriteria
		want string
		err  error
	}{
		{&imap.SearchCriteria{}, "ALL", nil},
		{&imap.SearchCriteria{SeqNum: []imap.SeqSet{{imap.SeqRange{Start: 3, Stop: 9}}}, NotFlag: []imap.Flag{imap.FlagDeleted}}, "3:9 NOT DELETED", nil},
		{&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: `<a"b\c@x>`}}}, `HEADER "Message-ID" "<a\"b\\c@x>"`, nil},
		{&imap.SearchCriteria{NotFlag: []imap.Flag{"$Junk"}}, "NOT KEYWORD $Junk", nil},
		{&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, "", errUnsupportedSearch},
		{&imap.SearchCriteria{Larger: 10}, "", errUnsupportedSearch},
	} {
		got, err := searchString(tc.c)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%+v: %q, %v; want %q, %v", tc.c, got, err, tc.want, tc.err)
		}
	}
}

// TestLeanLoginCommands checks that a lean session asks CAPABILITY after
// LOGIN or AUTHENTICATE exactly when the server's completion carried no
// [CAPABILITY] code: the embedded server sends one, Dovecot does not (its
// capabilities come untagged before), as go-imap's client does, so that
// the report's command counts and Dovecot's cross-check
// (cmd/mailsim/crosscheck_test.go: one post-login CAPABILITY per session)
// do not depend on the client.
func TestLeanLoginCommands(t *testing.T) {
	asks := map[string]bool{"embedded": false, "dovecot": true}
	for _, srv := range storeServerBases {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			for _, full := range []bool{true, false} {
				rec := &imapRecorder{}
				env := newIMAPEnvNoServer()
				env.client = IMAPClientLean
				o := env.options(KindPC, rec, nil)
				o.Username, o.Password = s.user, s.pass
				o.IMAP.Addr = s.imap
				d, err := newIMAPDevice(o, KindPC)
				if err != nil {
					t.Fatal(err)
				}
				sess, err := d.dialIMAP(context.Background(), full)
				if err != nil {
					t.Fatal(err)
				}
				sess.close()
				names := rec.names()
				if got := count(names, "CAPABILITY") == 2; got != asks[srv.name] {
					t.Errorf("full %v: sent %v; want a CAPABILITY after login: %v", full, names, asks[srv.name])
				}
			}
		})
	}
}

// TestLeanFailureAfterIdle: a lean session whose IDLE wait ended by its
// own timer (a read deadline that passed, by design), and whose next
// command then fails, records that failure by its own cause — a cut
// connection is an error, a silent server a timeout — and is not used
// again: one failed command, not one per later command (office-day
// against Courier counted 36 after one unparsed response, as timeouts).
func TestLeanFailureAfterIdle(t *testing.T) {
	for _, tc := range []struct {
		name string
		mute bool // else the connection is cut
		want transport.Outcome
	}{
		{"cut", false, transport.OutcomeError},
		{"silent", true, transport.OutcomeTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newIMAPEnv(t)
			p := startProxy(t, &injectProxy{target: env.addrs.IMAP, match: regexp.MustCompile(`^L\d+ NOOP`), cut: !tc.mute, mute: tc.mute})
			env.client = IMAPClientLean
			rec := &imapRecorder{}
			o := env.options(KindPC, rec, nil)
			o.IMAP.Addr = p.ln.Addr().String()
			o.Timeout = time.Second
			d, err := newIMAPDevice(o, KindPC)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			s, err := d.dialIMAP(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			if _, err := s.selectBox("INBOX", false); err != nil {
				t.Fatal(err)
			}
			idl, err := s.c.Idle()
			if err != nil {
				t.Fatal(err)
			}
			if changed, err := idl.Wait(ctx, &imapSlot{}, s.updates, 20*time.Millisecond); changed || err != nil {
				t.Fatalf("IDLE wait on an empty INBOX: %v, %v; want its timer to end it", changed, err)
			}
			if err := idl.Done(); err != nil {
				t.Fatal(err)
			}
			if s.broken {
				t.Fatal("session broken by an IDLE wait that ended by its timer")
			}
			if err := s.do("NOOP", s.c.Noop); err == nil {
				t.Fatal("NOOP succeeded through a failed connection")
			}
			rec.mu.Lock()
			last := rec.cmds[len(rec.cmds)-1]
			rec.mu.Unlock()
			if last.Command != "NOOP" || last.Outcome != tc.want {
				t.Errorf("recorded %s %s, want NOOP %s", last.Command, last.Outcome, tc.want)
			}
			if !s.broken {
				t.Error("session not broken after the failure: the device would send every later command into it")
			}
		})
	}
}

// TestLeanIdleActionInterrupts: an action on a lean phone or
// one-connection PC that IDLEs on its only connection ends the IDLE (the
// requester interrupts the wait) and is served on that connection, next:
// the commands after it are the IDLE it ended, then the action's
// commands — no reconnection, no other round between — and IDLE resumes.
// The simulated clock runs at wall speed, so the IDLE's own restart
// (24–29 minutes) and the next poll or folders round lie far beyond the
// action's bound: only the interrupt ends the wait in time.
func TestLeanIdleActionInterrupts(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind Kind
		mod  func(p *Profile)
		// first are the commands after the first action; later ones
		// send [IDLE UID STORE].
		first []string
	}{
		// The phone IDLEs on an EXAMINEd INBOX: the first flag selects it.
		{"phone", KindPhone, func(p *Profile) { p.PollInterval, p.Idle = time.Hour, true }, []string{"IDLE", "SELECT", "UID STORE"}},
		{"pc", KindPC, func(p *Profile) { p.Connections = 1 }, []string{"IDLE", "UID STORE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newIMAPEnv(t)
			env.client = IMAPClientLean
			rec := &imapRecorder{}
			o := env.options(tc.kind, rec, tc.mod)
			o.Clock = simclock.New(1, time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC))
			ids := []string{env.deliver(t, 1000), env.deliver(t, 1000), env.deliver(t, 1000)}
			dev, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			d := dev.(*imapDevice)
			stop := runUntilStop(t, d)
			defer stop()
			waitView(t, d, "all messages", hasAll(ids...))
			for i, id := range ids {
				waitLeanIdling(t, d)
				before := len(rec.names())
				// Bounded: an action the IDLE does not give way to waits
				// for its restart, far beyond this.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := d.Do(ctx, Action{Kind: ActFlag, MessageID: id})
				cancel()
				if err != nil {
					t.Fatalf("action %d: %v", i, err)
				}
				want := []string{"IDLE", "UID STORE"}
				if i == 0 {
					want = tc.first
				}
				if got := rec.names()[before:]; !slices.Equal(got, want) {
					t.Errorf("action %d: commands %v, want %v: the IDLE it ended, then the action", i, got, want)
				}
			}
			waitLeanIdling(t, d)
			rec.mu.Lock()
			conns := rec.conns
			rec.mu.Unlock()
			if conns != 1 {
				t.Errorf("%d connections, want 1 (the actions on the IDLE one)", conns)
			}
		})
	}
}

// waitLeanIdling waits until the owner of d's last slot is in a lean IDLE
// wait.
func waitLeanIdling(t *testing.T, d *imapDevice) {
	t.Helper()
	sl := d.slots[len(d.slots)-1]
	idling := func() bool {
		l := sl.idler.Load()
		if l == nil {
			return false
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.idling
	}
	deadline := time.Now().Add(20 * time.Second)
	for !idling() {
		if time.Now().After(deadline) {
			t.Fatal("the device does not IDLE")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdleAfterUpdateBeforeIt: mail delivered while a command runs on a
// PC's IDLE connection is announced (EXISTS) in the response to that
// command, not again in the IDLE that follows: an action's command on a
// one-connection PC, or the new-mail header fetch of the INBOX sync on a
// two-connection one (the mail arrived after the sync's UID FETCH 1:*).
// The PC must sync it then, not idle past it until the IDLE's restart (the
// lean client did, and left a delivery unsynced at the end of a run). The
// simulated clock runs at wall speed, so that restart (24–29 minutes) and
// the next folders round lie far beyond the wait for the mail. Both
// clients must agree.
func TestIdleAfterUpdateBeforeIt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conns int
		// match is the command before which the mail is delivered; act:
		// an action sends it.
		match string
		act   bool
	}{
		{"action", 1, `^\S+ UID STORE`, true},
		{"header-fetch", 2, `^\S+ UID FETCH .*(ENVELOPE|BODY|RFC822\.SIZE|INTERNALDATE)`, false},
	} {
		for _, client := range []string{IMAPClientGoIMAP, IMAPClientLean} {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				env := newIMAPEnv(t)
				env.client = client
				reached, delivered := make(chan struct{}), make(chan struct{})
				p := startProxy(t, &injectProxy{target: env.addrs.IMAP, match: regexp.MustCompile(tc.match), before: func() {
					close(reached)
					select { // the test delivers the mail meanwhile
					case <-delivered:
					case <-time.After(20 * time.Second):
					}
				}})
				o := env.options(KindPC, &imapRecorder{}, func(p *Profile) { p.Connections = tc.conns })
				o.IMAP.Addr = p.ln.Addr().String()
				o.Clock = simclock.New(1, time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC))
				first := env.deliver(t, 1000)
				dev, err := New(o)
				if err != nil {
					t.Fatal(err)
				}
				d := dev.(*imapDevice)
				stop := runUntilStop(t, d)
				defer stop()
				acted := make(chan error, 1)
				if tc.act {
					waitView(t, d, "the first message", hasAll(first))
					if client == IMAPClientLean {
						waitLeanIdling(t, d)
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					go func() {
						_, err := d.Do(ctx, Action{Kind: ActFlag, MessageID: first})
						acted <- err
					}()
				} else {
					acted <- nil
				}
				select {
				case <-reached:
				case <-time.After(20 * time.Second):
					t.Fatalf("no command matched %s", tc.match)
				}
				late := env.deliver(t, 1000)
				close(delivered)
				if err := <-acted; err != nil {
					t.Fatalf("action: %v", err)
				}
				waitView(t, d, "the mail announced before the IDLE", hasAll(first, late))
			})
		}
	}
}

// TestCapSet: the lean client's upper-cased capability names are go-imap's
// names once in a CapSet, so what IMAP4rev2 implies is seen (a server that
// announces IMAP4rev2 and not NAMESPACE, MOVE or UIDPLUS; the devices ask for
// SPECIAL-USE or IMAP4rev2 themselves).
func TestCapSet(t *testing.T) {
	for _, tc := range []struct {
		names []string
		has   []imap.Cap
		lacks []imap.Cap
	}{
		{[]string{"IMAP4REV2"}, []imap.Cap{imap.CapIMAP4rev2, imap.CapNamespace, imap.CapMove, imap.CapUIDPlus}, []imap.Cap{imap.CapIMAP4rev1}},
		{[]string{"IMAP4REV1", "MOVE"}, []imap.Cap{imap.CapIMAP4rev1, imap.CapMove}, []imap.Cap{imap.CapIMAP4rev2, imap.CapNamespace}},
		{[]string{"AUTH=PLAIN", "IDLE"}, []imap.Cap{imap.AuthCap("PLAIN"), imap.CapIdle}, []imap.Cap{imap.CapIMAP4rev2}},
	} {
		set := capSet(tc.names)
		for _, c := range tc.has {
			if !set.Has(c) {
				t.Errorf("capSet(%q) lacks %s", tc.names, c)
			}
		}
		for _, c := range tc.lacks {
			if set.Has(c) {
				t.Errorf("capSet(%q) has %s", tc.names, c)
			}
		}
	}
}
