package clients

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/view"
)

// injectProxy relays IMAP between devices and the embedded server and, in
// front of the server's answer to the first UID FETCH or UID STORE whose
// command line matches, writes an unsolicited "* 1 FETCH (UID 1 FLAGS
// (...))" — the flag update a server sends when another session changed
// message 1 (RFC 9051 7.5.2 allows it at any time). The client library
// routes it to the pending command, which names UID 1. With cut, it drops
// the connection at the first matching command line instead, without
// passing the line on (a network failure mid-command). With mute, it passes
// that line on but nothing the server sends from then on (a server that
// stops answering). With before, it calls before at the first matching
// command line and then passes the line on, injecting nothing (something
// that happens on the server just before the command reaches it).
type injectProxy struct {
	ln     net.Listener
	target string
	match  *regexp.Regexp
	flags  string
	cut    bool
	mute   bool
	before func()
	muted  atomic.Bool
	mu     sync.Mutex
	done   bool
	wg     sync.WaitGroup
}

func newInjectProxy(t *testing.T, target string, match *regexp.Regexp, flags string) *injectProxy {
	return startProxy(t, &injectProxy{target: target, match: match, flags: flags})
}

// newCutProxy returns a proxy that drops the connection at the first
// command line that matches.
func newCutProxy(t *testing.T, target string, match *regexp.Regexp) *injectProxy {
	return startProxy(t, &injectProxy{target: target, match: match, cut: true})
}

func startProxy(t *testing.T, p *injectProxy) *injectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *injectProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(2)
		var wmu sync.Mutex // serializes writes to the device
		go func() {        // server → device
			defer p.wg.Done()
			defer c.Close()
			buf := make([]byte, 32<<10)
			for {
				_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
				n, err := s.Read(buf)
				if n > 0 && !p.muted.Load() {
					wmu.Lock()
					_, werr := c.Write(buf[:n])
					wmu.Unlock()
					if werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // device → server, injecting once
			defer p.wg.Done()
			defer s.Close()
			r := bufio.NewReader(c)
			for {
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				line, err := r.ReadString('\n')
				if line != "" {
					if p.match.MatchString(line) && p.first() {
						if p.cut {
							c.Close()
							return
						}
						switch {
						case p.before != nil:
							p.before()
						case p.mute:
							p.muted.Store(true)
						default:
							wmu.Lock()
							_, _ = io.WriteString(c, "* 1 FETCH (UID 1 FLAGS ("+p.flags+"))\r\n")
							wmu.Unlock()
						}
					}
					if _, werr := io.WriteString(s, line); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// injected reports whether the update was sent.
func (p *injectProxy) injected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// warnCounter keeps the messages of warnings logged.
type warnCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnCounter) logger() *slog.Logger { return slog.New(warnHandler{w}) }

func (w *warnCounter) find(sub string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if strings.Contains(m, sub) {
			return m
		}
	}
	return ""
}

type warnHandler struct{ w *warnCounter }

func (h warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h warnHandler) Handle(_ context.Context, r slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.w.msgs = append(h.w.msgs, r.Message)
	return nil
}
func (h warnHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnHandler) WithGroup(string) slog.Handler      { return h }

// first reports true once.
func (p *injectProxy) first() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return false
	}
	p.done = true
	return true
}

// TestIMAPUnsolicitedFetchDuringHeaderFetch checks that a flag update the
// server sends just before its answer to the new-mail fetch is not taken
// for a message without Message-ID: every device kind shows all messages.
func TestIMAPUnsolicitedFetchDuringHeaderFetch(t *testing.T) {
	for _, kind := range []Kind{KindPC, KindPhone, KindWebmail} {
		t.Run(string(kind), func(t *testing.T) {
			env := newIMAPEnv(t)
			ids := []string{env.deliver(t, 1000), env.deliver(t, 1000), env.deliver(t, 1000)}
			proxy := newInjectProxy(t, env.addrs.IMAP, regexp.MustCompile(`(?i)UID FETCH 1[:,].*HEADER\.FIELDS`), `\Seen`)
			rec := &imapRecorder{}
			o := env.options(kind, rec, func(p *Profile) {
				p.Idle = false
				p.PollInterval = time.Minute
				p.FetchImmediate = false
			})
			o.IMAP.Addr = proxy.ln.Addr().String()
			logs := &warnCounter{}
			o.Logger = logs.logger()
			d := startDevice(t, o)
			v := waitView(t, d, "all messages", hasAll(ids...))
			if n := len(v.Messages); n != len(ids) {
				t.Errorf("view has %d messages, want %d: %+v", n, len(ids), v.Messages)
			}
			if !proxy.injected() {
				t.Fatal("the proxy never injected the update; the test tests nothing")
			}
			if w := logs.find("without Message-ID"); w != "" {
				t.Errorf("device logged %q", w)
			}
		})
	}
}

// TestIMAPActionOnMovedMessage checks actions on a message another device
// moved away after this device's last sync: the server answers OK to the
// STORE or MOVE and changes nothing, so the device must not report the
// change as published. It resyncs the folder; a message back in it under a
// new UID is acted on there, one gone is ErrNoMessage.
func TestIMAPActionOnMovedMessage(t *testing.T) {
	tests := []struct {
		name    string
		act     ActionKind
		back    bool // the other device moves the message back (new UID)
		want    error
		flags   view.Flags
		inTrash bool
	}{
		{"flag gone", ActFlag, false, ErrNoMessage, 0, false},
		{"read gone", ActRead, false, ErrNoMessage, 0, false},
		{"delete gone", ActDelete, false, ErrNoMessage, 0, false},
		{"flag moved back", ActFlag, true, nil, view.Flagged, false},
		{"delete moved back", ActDelete, true, nil, 0, true},
		{"delete in Trash expunged", ActDelete, false, ErrNoMessage, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIMAPEnv(t)
			id := env.deliver(t, 1000)
			other := env.deliver(t, 1000)
			slow := func(p *Profile) {
				p.Idle, p.Connections, p.FetchImmediate = false, 1, false
				p.PollInterval = 1000 * time.Hour // no sync of its own during the test
			}
			rec := &imapRecorder{}
			d := startDevice(t, env.options(KindPC, rec, slow))
			waitView(t, d, "the messages", hasAll(id, other))
			ctx := context.Background()
			expunged := tt.want != nil && tt.inTrash
			if expunged {
				if _, err := d.Do(ctx, Action{Kind: ActDelete, MessageID: id}); err != nil {
					t.Fatal(err)
				}
			}
			o2 := env.options(KindPC, &imapRecorder{}, slow)
			o2.ID = "alice/other-pc"
			d2 := startDevice(t, o2)
			waitView(t, d2, "the messages", hasAll(id, other))
			if expunged {
				// The other device empties it from Trash; this one still
				// shows it there.
				if _, err := d2.Do(ctx, Action{Kind: ActDelete, MessageID: id}); err != nil {
					t.Fatal(err)
				}
				res, err := d.Do(ctx, Action{Kind: tt.act, MessageID: id})
				if !errors.Is(err, tt.want) || res.Published {
					t.Fatalf("Do = %+v, %v; want %v and not published", res, err, tt.want)
				}
				if _, ok := d.View().Messages[id]; ok {
					t.Error("the view still shows the expunged message")
				}
				return
			}
			if _, err := d2.Do(ctx, Action{Kind: ActMove, MessageID: id, Folder: "Elsewhere"}); err != nil {
				t.Fatal(err)
			}
			if tt.back {
				if _, err := d2.Do(ctx, Action{Kind: ActMove, MessageID: id, Folder: "INBOX"}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := d.Do(ctx, Action{Kind: tt.act, MessageID: id})
			if tt.want != nil {
				if !errors.Is(err, tt.want) || res.Published {
					t.Fatalf("Do = %+v, %v; want %v and not published", res, err, tt.want)
				}
				if _, ok := d.View().Messages[id]; ok {
					t.Error("the view still shows the message gone from INBOX")
				}
				if got := env.truth(t).Messages[id]; got.Folder != "Elsewhere" || got.Flags != 0 {
					t.Errorf("server has %+v, want it untouched in Elsewhere", got)
				}
				return
			}
			if err != nil || !res.Published {
				t.Fatalf("Do = %+v, %v; want published", res, err)
			}
			got := env.truth(t).Messages[id]
			if tt.inTrash {
				if got.Folder != "Trash" {
					t.Errorf("server has %+v, want it in Trash", got)
				}
			} else if got.Folder != "INBOX" || got.Flags&tt.flags != tt.flags {
				t.Errorf("server has %+v, want INBOX with %v", got, tt.flags)
			}
			if err := inOrder(rec.names(), "UID STORE", "UID FETCH", "UID STORE"); err != nil && !tt.inTrash {
				t.Errorf("no resync after the lost STORE: %v", err)
			}
		})
	}
}

// TestIMAPOtherSessionsChangeDuringSync: another session flags message 1
// while a PC on IDLE syncs INBOX for a new message, just before the fetch
// of the new message's headers (which names UID 2 only) reaches the server.
// The server announces the change in its answer to that fetch, not in the
// IDLE that follows: the PC must act on it there and end up showing the
// flag with no other change to wake it. Before, the change went to the
// header fetch's callback, which skips other UIDs, and the PC showed
// message 1 unflagged for good (flags-not-synced in
// internal/engine's TestSemanticsIMAPRepeatedRunsConverge). Run for each
// IMAP client.
func TestIMAPOtherSessionsChangeDuringSync(t *testing.T) {
	forEachIMAPClient(t, func(t *testing.T, env *imapEnv) {
		first := env.deliver(t, 1000)
		other := env.inbox(t)
		proxy := startProxy(t, &injectProxy{target: env.addrs.IMAP,
			match: regexp.MustCompile(`(?i)UID FETCH 2 .*HEADER\.FIELDS`),
			before: func() {
				if err := other.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
					t.Error(err)
				}
			}})
		o := env.options(KindPC, &imapRecorder{}, func(p *Profile) {
			// No folders round: its INBOX resync would hide a lost change.
			p.Connections, p.FetchImmediate, p.StatusInterval = 1, false, 1000*time.Hour
		})
		o.IMAP.Addr = proxy.ln.Addr().String()
		d := startDevice(t, o)
		waitView(t, d, "the first message", hasAll(first))
		second := env.deliver(t, 1000)
		waitView(t, d, "the second message", hasAll(second))
		if !proxy.injected() {
			t.Fatal("the other session never flagged message 1 during the header fetch; the test tests nothing")
		}
		waitView(t, d, "message 1 flagged", msgIs(first, view.FolderInbox, view.Flagged))
	})
}
