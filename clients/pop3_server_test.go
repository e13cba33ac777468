package clients

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPOP3 is a small RFC 1939 server for the tests of the POP3 devices
// until the embedded server speaks POP3: one mailbox, real sockets,
// dot-stuffing on output, deletions at QUIT.
type testPOP3 struct {
	t    testing.TB
	ln   net.Listener
	user string
	pass string
	// noSASL hides SASL PLAIN from CAPA (USER/PASS only).
	noSASL bool

	mu     sync.Mutex
	msgs   []testPOP3Msg
	nextID int
	logins int
	log    []string // commands received, verb only
	wg     sync.WaitGroup
}

type testPOP3Msg struct {
	uidl string
	raw  []byte
}

func newTestPOP3(t testing.TB, user, pass string) *testPOP3 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testPOP3{t: t, ln: ln, user: user, pass: pass}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *testPOP3) addr() string { return s.ln.Addr().String() }

func (s *testPOP3) deliver(raw []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	u := fmt.Sprintf("%08x%08x", s.nextID, 42)
	s.msgs = append(s.msgs, testPOP3Msg{uidl: u, raw: raw})
	return u
}

func (s *testPOP3) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *testPOP3) loginCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func (s *testPOP3) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.session(c)
		}()
	}
}

func (s *testPOP3) session(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(format string, args ...any) {
		fmt.Fprintf(w, format+"\r\n", args...)
		w.Flush()
	}
	reply("+OK test pop3 ready")
	authed := false
	userArg := ""
	var box []testPOP3Msg
	deleted := map[int]bool{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(strings.TrimSpace(line))
		if len(f) == 0 {
			reply("-ERR empty")
			continue
		}
		verb := strings.ToUpper(f[0])
		s.mu.Lock()
		s.log = append(s.log, verb)
		s.mu.Unlock()
		num := func() (int, bool) {
			if len(f) < 2 {
				return 0, false
			}
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 1 || n > len(box) || deleted[n] {
				return 0, false
			}
			return n, true
		}
		login := func(u, p string) {
			s.mu.Lock()
			s.logins++
			s.mu.Unlock()
			if u != s.user || p != s.pass {
				reply("-ERR [AUTH] authentication failed")
				return
			}
			authed = true
			s.mu.Lock()
			box = append([]testPOP3Msg(nil), s.msgs...)
			s.mu.Unlock()
			reply("+OK logged in")
		}
		switch {
		case verb == "CAPA":
			reply("+OK")
			reply("TOP")
			reply("UIDL")
			reply("USER")
			if !s.noSASL {
				reply("SASL PLAIN")
			}
			reply(".")
		case verb == "QUIT":
			if authed {
				s.mu.Lock()
				var keep []testPOP3Msg
				gone := map[string]bool{}
				for i, m := range box {
					if deleted[i+1] {
						gone[m.uidl] = true
					}
				}
				for _, m := range s.msgs {
					if !gone[m.uidl] {
						keep = append(keep, m)
					}
				}
				s.msgs = keep
				s.mu.Unlock()
			}
			reply("+OK bye")
			return
		case verb == "NOOP":
			reply("+OK")
		case !authed && verb == "USER" && len(f) == 2:
			userArg = f[1]
			reply("+OK")
		case !authed && verb == "PASS" && len(f) == 2:
			login(userArg, f[1])
		case !authed && verb == "AUTH" && len(f) == 3 && strings.EqualFold(f[1], "PLAIN") && !s.noSASL:
			b, err := base64.StdEncoding.DecodeString(f[2])
			parts := strings.Split(string(b), "\x00")
			if err != nil || len(parts) != 3 {
				reply("-ERR bad auth")
				continue
			}
			login(parts[1], parts[2])
		case !authed:
			reply("-ERR not authenticated")
		case verb == "STAT":
			n, size := 0, 0
			for i, m := range box {
				if !deleted[i+1] {
					n++
					size += len(m.raw)
				}
			}
			reply("+OK %d %d", n, size)
		case verb == "LIST" || verb == "UIDL":
			reply("+OK")
			for i, m := range box {
				if deleted[i+1] {
					continue
				}
				if verb == "LIST" {
					reply("%d %d", i+1, len(m.raw))
				} else {
					reply("%d %s", i+1, m.uidl)
				}
			}
			reply(".")
		case verb == "RETR" || verb == "TOP":
			n, ok := num()
			if !ok {
				reply("-ERR no such message")
				continue
			}
			reply("+OK")
			raw := box[n-1].raw
			if verb == "TOP" {
				if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
					raw = raw[:i+4]
				}
			}
			for _, l := range bytes.SplitAfter(raw, []byte("\r\n")) {
				if len(l) == 0 {
					continue
				}
				if l[0] == '.' {
					w.WriteByte('.')
				}
				w.Write(l)
			}
			if !bytes.HasSuffix(raw, []byte("\r\n")) {
				w.WriteString("\r\n")
			}
			reply(".")
		case verb == "DELE":
			n, ok := num()
			if !ok {
				reply("-ERR no such message")
				continue
			}
			deleted[n] = true
			reply("+OK deleted")
		case verb == "RSET":
			deleted = map[int]bool{}
			reply("+OK")
		default:
			reply("-ERR unknown command")
		}
	}
}
