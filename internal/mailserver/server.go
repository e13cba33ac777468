// Package mailserver is mailsim's embedded mail server: one in-memory store
// behind IMAP (go-imap/v2 imapserver), POP3, SMTP submission and LMTP
// (go-smtp) frontends, so that a change made over one protocol is seen over
// every other, as on a real provider's server.
//
// A Server is created with New, given users with AddUser and started with
// Listen; Close stops it and waits for every goroutine it started.
package mailserver

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/view"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Domain is the mail domain: local recipients are user@Domain (a bare
	// "user" is accepted too). Default "example.com".
	Domain string
	// Recorder receives the server-side load. Default: discard.
	Recorder Recorder
	// Logger receives diagnostics. Default: discard.
	Logger *slog.Logger
	// TLS enables STARTTLS on every protocol and the implicit-TLS listeners
	// (IMAPS, POP3S). Default nil: plain text only.
	TLS *tls.Config
	// MaxLineLength bounds a POP3 or SMTP/LMTP command line in bytes (IMAP
	// commands are bounded by the IMAP library to 50 KiB). Default 64 KiB.
	MaxLineLength int
	// MaxMessageSize bounds one message in bytes (IMAP APPEND literal, SMTP
	// and LMTP DATA). Default 64 MiB.
	MaxMessageSize int64
	// MaxConnsPerUser bounds the authenticated sessions one user may have
	// open at once over all protocols. Default 2000.
	MaxConnsPerUser int
	// MaxMailboxes bounds the mailboxes of one user. Default 1000.
	MaxMailboxes int
	// MaxRecipients bounds the recipients of one SMTP/LMTP transaction.
	// Default 100.
	MaxRecipients int
	// IdleTimeout is how long a POP3 or SMTP/LMTP connection may stay
	// silent before the server closes it (RFC 1939 asks for at least 10
	// minutes). IMAP uses the library's timeouts (30 minutes when idle).
	// Default 10 minutes.
	IdleTimeout time.Duration
	// UIDValidityNow is the clock UIDVALIDITY values are drawn from: a
	// mailbox gets the Unix time of its creation, or one more than the
	// previous mailbox when that is not smaller (as Dovecot does), so a
	// server started again later never reuses the values, nor POP3 UIDLs,
	// of its previous run. Default time.Now.
	UIDValidityNow func() time.Time
	// MaxCommandsPerSecond limits the commands the server starts per second
	// over all connections and protocols (IMAP, POP3, SMTP submission and
	// LMTP: deliveries count, each of their commands takes a token). It is
	// a token bucket holding one second's worth of commands (at least one):
	// a command past it waits, before the server works on it, in a
	// first-come first-served queue of at most one command per connection,
	// so latency climbs past the limit as on an overloaded server. The wait
	// counts in the command's recorded duration. Close ends every wait; a
	// client that hangs up while its command waits is noticed only when the
	// token comes (the server does not read the connection meanwhile).
	// Commands sent over TLS are limited (and recorded) as over plain
	// text: implicit TLS (IMAPS, POP3S), POP3's STLS (the session reads
	// above TLS) and STARTTLS, which the IMAP guard (mutf7.go) and the
	// SMTP/LMTP meter (meter_smtp.go) answer themselves, decrypting below
	// the meter (starttls.go). Default 0: no limit. See Server.LimiterStats.
	MaxCommandsPerSecond float64

	// now is the clock of the command rate limit; nil means time.Now.
	// Tests set it.
	now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Domain == "" {
		o.Domain = "example.com"
	}
	if o.Recorder == nil {
		o.Recorder = nopRecorder{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = 64 << 10
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 64 << 20
	}
	if o.MaxMessageSize > 1<<32-1 {
		o.MaxMessageSize = 1<<32 - 1 // IMAP APPENDLIMIT is a 32-bit number
	}
	if o.MaxConnsPerUser <= 0 {
		o.MaxConnsPerUser = 2000
	}
	if o.MaxMailboxes <= 0 {
		o.MaxMailboxes = 1000
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 100
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	if o.UIDValidityNow == nil {
		o.UIDValidityNow = time.Now
	}
	return o
}

// ListenConfig says where each frontend listens. An empty address leaves
// that frontend off; "127.0.0.1:0" picks a free port.
type ListenConfig struct {
	IMAP, POP3, SMTP, LMTP string
	// IMAPS and POP3S are implicit-TLS listeners; they need Options.TLS.
	IMAPS, POP3S string
}

// Addrs are the actual host:port of each started frontend ("" if off).
type Addrs struct {
	IMAP, POP3, SMTP, LMTP, IMAPS, POP3S string
}

// FolderUsage is the stored mail of one folder role, over all users.
type FolderUsage struct {
	// Role is one of inbox, sent, drafts, trash, junk, archive, other.
	Role string
	// Messages is the number of stored messages.
	Messages int
	// Bytes is their total size.
	Bytes int64
}

// Server is the embedded mail server. Its methods are safe for concurrent
// use.
type Server struct {
	opts  Options
	store *store
	rec   Recorder
	log   *slog.Logger
	limit *limiter // nil: no limit

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners []net.Listener
	conns     map[*trackedConn]struct{}
	wg        sync.WaitGroup
}

// New returns a Server with no users that listens nowhere yet.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:   opts,
		store:  newStore(opts.MaxMailboxes, opts.UIDValidityNow),
		rec:    opts.Recorder,
		log:    opts.Logger,
		limit:  newLimiter(opts.MaxCommandsPerSecond, opts.now),
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[*trackedConn]struct{}),
	}
}

// AddUser creates a user with the mailboxes INBOX, Drafts, Sent, Trash,
// Junk and Archive (the last five with their special-use attributes).
// Names are case-insensitive and must be non-empty without '@', '+' or
// white space.
func (s *Server) AddUser(name, password string) error {
	if name == "" || strings.ContainsAny(name, "@+ \t\r\n\"\\") || len(name) > 64 {
		return fmt.Errorf("mailserver: add user %q: invalid name", name)
	}
	if err := s.store.addUser(name, password); err != nil {
		return fmt.Errorf("mailserver: add user %q: %w", name, err)
	}
	return nil
}

// authenticate checks a login name (bare or user@Domain) and password.
func (s *Server) authenticate(login, password string) (*user, bool) {
	name, ok := s.localPart(login)
	if !ok {
		return nil, false
	}
	u := s.store.user(name)
	if u == nil || subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) != 1 {
		return nil, false
	}
	return u, true
}

// localPart returns the local part of addr if addr is bare or in Domain.
func (s *Server) localPart(addr string) (string, bool) {
	local, domain, found := strings.Cut(addr, "@")
	if found && !strings.EqualFold(domain, s.opts.Domain) {
		return "", false
	}
	return local, local != ""
}

// openSession counts one more authenticated session of u; it fails when
// the user is at MaxConnsPerUser. Every successful call needs one
// closeSession.
func (s *Server) openSession(u *user) bool {
	if int(u.sessions.Add(1)) > s.opts.MaxConnsPerUser {
		u.sessions.Add(-1)
		return false
	}
	return true
}

func (s *Server) closeSession(u *user) { u.sessions.Add(-1) }

// UserState returns the server's truth for one user: every message of every
// mailbox, keyed by Message-ID, with its folder and tracked flags. Messages
// without a Message-ID are left out. Of several copies of one Message-ID
// it shows the one view.Prefer picks, as the devices do.
func (s *Server) UserState(name string) (view.Snapshot, error) {
	u := s.store.user(name)
	if u == nil {
		return view.Snapshot{}, fmt.Errorf("mailserver: user state %q: %w", name, errNoSuchUser)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	trash := ""
	for n, mb := range u.mailboxes {
		if mb.attr == imap.MailboxAttrTrash && (trash == "" || n < trash) {
			trash = n
		}
	}
	msgs := view.Pick(trash, 0, func(add func(string, view.Copy, view.Flags)) {
		for n, mb := range u.mailboxes {
			for _, m := range mb.msgs {
				if m.messageID == "" {
					continue
				}
				var f view.Flags
				for _, fl := range m.flags {
					f |= view.ParseFlag(string(fl))
				}
				add(m.messageID, view.Copy{Folder: n, UID: uint32(m.uid)}, f)
			}
		}
	})
	return view.Snapshot{Messages: msgs}, nil
}

// Usage returns the stored messages and bytes over all users by folder
// role, one entry per role in a fixed order. It reads counters kept up to
// date on every change, so it is cheap.
func (s *Server) Usage() []FolderUsage {
	out := make([]FolderUsage, 0, numRoles)
	for r := role(0); r < numRoles; r++ {
		out = append(out, FolderUsage{
			Role:     r.String(),
			Messages: int(s.store.usage[r].messages.Load()),
			Bytes:    s.store.usage[r].bytes.Load(),
		})
	}
	return out
}

// LimiterStats returns the counters of the command rate limit
// (Options.MaxCommandsPerSecond); all zero without a limit.
func (s *Server) LimiterStats() LimiterStats { return s.limit.stats() }

// External returns how many messages were accepted for recipients outside
// Domain (counted once per recipient, not stored).
func (s *Server) External() int64 { return s.store.external.Load() }

// Listen starts the frontends named in cfg, each serving in its own
// goroutines, and returns at once with their addresses. On error nothing
// stays open.
func (s *Server) Listen(cfg ListenConfig) (Addrs, error) {
	var addrs Addrs
	if (cfg.IMAPS != "" || cfg.POP3S != "") && s.opts.TLS == nil {
		return addrs, errors.New("mailserver: listen: implicit TLS needs Options.TLS")
	}
	type plan struct {
		addr  string
		out   *string
		proto string
		tls   bool
		serve func(net.Listener)
	}
	plans := []plan{
		{cfg.IMAP, &addrs.IMAP, ProtoIMAP, false, s.serveIMAP},
		{cfg.IMAPS, &addrs.IMAPS, ProtoIMAP, true, s.serveIMAP},
		{cfg.POP3, &addrs.POP3, ProtoPOP3, false, s.servePOP3},
		{cfg.POP3S, &addrs.POP3S, ProtoPOP3, true, s.servePOP3},
		{cfg.SMTP, &addrs.SMTP, ProtoSMTP, false, s.serveSMTP(false)},
		{cfg.LMTP, &addrs.LMTP, ProtoLMTP, false, s.serveSMTP(true)},
	}
	var opened []net.Listener
	var starts []func()
	for _, p := range plans {
		if p.addr == "" {
			continue
		}
		raw, err := net.Listen("tcp", p.addr)
		if err != nil {
			for _, l := range opened {
				l.Close()
			}
			return Addrs{}, fmt.Errorf("mailserver: listen %s %s: %w", p.proto, p.addr, err)
		}
		opened = append(opened, raw)
		*p.out = raw.Addr().String()
		var ln net.Listener = &trackedListener{Listener: raw, srv: s, proto: p.proto}
		if p.tls {
			ln = tls.NewListener(ln, s.opts.TLS)
		}
		serve := p.serve
		starts = append(starts, func() { serve(ln) })
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		for _, l := range opened {
			l.Close()
		}
		return Addrs{}, errors.New("mailserver: listen: server closed")
	}
	s.listeners = append(s.listeners, opened...)
	s.wg.Add(len(starts))
	s.mu.Unlock()
	for _, start := range starts {
		go func() {
			defer s.wg.Done()
			start()
		}()
	}
	return addrs, nil
}

// Close stops every listener, ends every session and waits until every
// goroutine the server started has returned. Further calls do nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	var err error
	for _, l := range s.listeners {
		if cerr := l.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
	}
	for c := range s.conns {
		c.interrupt()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("mailserver: close: %w", err)
	}
	return nil
}

// slogPrintf adapts a slog.Logger to the Printf loggers of the protocol
// libraries, at debug level: they report every vanished client.
type slogPrintf struct {
	log   *slog.Logger
	proto string
}

func (l slogPrintf) Printf(format string, v ...interface{}) {
	l.log.Debug(fmt.Sprintf(format, v...), "protocol", l.proto)
}

func (l slogPrintf) Println(v ...interface{}) {
	l.log.Debug(fmt.Sprint(v...), "protocol", l.proto)
}
