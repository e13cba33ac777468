package serverstate

import (
	"bufio"
	"context"
	"io"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// namespaceCommand matches a client's NAMESPACE command line; its tag is
// the first group.
var namespaceCommand = regexp.MustCompile(`(?i)^(\S+) NAMESPACE\r?\n$`)

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// refuseNamespace relays IMAP between clients and the server at backend
// (plain text), but answers every NAMESPACE itself with the tagged reply
// ("NO ...", "BAD ..."), never passing it on: a server that offers
// NAMESPACE and refuses it. Connections are faketest's: bounded, and
// ended with the test.
func refuseNamespace(t *testing.T, backend, reply string) string {
	t.Helper()
	return faketest.Start(t, faketest.Options{}, func(c net.Conn) {
		s, err := net.DialTimeout("tcp", backend, 5*time.Second)
		if err != nil {
			return
		}
		_ = s.SetDeadline(time.Now().Add(faketest.DefaultConnTimeout))
		toClient := lockedWriter{mu: &sync.Mutex{}, w: c}
		done := make(chan struct{})
		go func() { // server → client
			defer close(done)
			_, _ = io.Copy(toClient, s)
			_ = c.Close()
		}()
		defer func() { _ = s.Close(); <-done }()
		r := bufio.NewReader(c)
		for { // client → server, NAMESPACE answered here
			line, err := r.ReadString('\n')
			if m := namespaceCommand.FindStringSubmatch(line); m != nil {
				// The client waits for this reply: the server has
				// nothing in flight to interleave with it.
				_, _ = io.WriteString(toClient, m[1]+" "+reply+"\r\n")
			} else if _, werr := io.WriteString(s, line); werr != nil {
				return
			}
			if err != nil {
				return
			}
		}
	}).Addr
}

// TestNamespaceRefused: a server that offers NAMESPACE and refuses it
// (NO, BAD) fails neither the auditor's read of a user nor the preflight's
// look: both go on without foreign prefixes, as the devices do, the
// reader with the refused NAMESPACE recorded with its outcome and the
// look with the user's NamespaceRefused set. Before, the read failed
// ("namespace: NO ...") and the look stopped short at NAMESPACE.
func TestNamespaceRefused(t *testing.T) {
	for _, tc := range []struct {
		reply   string
		outcome transport.Outcome
	}{
		{"NO [UNAVAILABLE] namespaces are resting", transport.OutcomeNo},
		{"BAD unknown command", transport.OutcomeBad},
	} {
		t.Run(string(tc.outcome), func(t *testing.T) {
			addrs, _ := mailservertest.Start(t, mailservertest.Numbered(1)...)
			lmtpSend(t, addrs.LMTP, "user1@"+mailservertest.Domain, 0)
			lmtpSend(t, addrs.LMTP, "user1+Archive@"+mailservertest.Domain, 1)
			addr := refuseNamespace(t, addrs.IMAP, tc.reply)
			ep := transport.Endpoint{Addr: addr, TLS: transport.TLSNone}

			rec := &testRecorder{}
			reader := &IMAPReader{Endpoint: ep, Password: func(string) string { return "pw" }, Recorder: rec, Timeout: 20 * time.Second}
			got, err := reader.UserState(context.Background(), "user1")
			if err != nil {
				t.Errorf("read: %v", err)
			} else if len(got.Messages) != 2 {
				t.Errorf("read %d messages, want 2: %v", len(got.Messages), got.Messages)
			}
			if n := rec.count("imap NAMESPACE:" + string(tc.outcome)); n != 1 {
				t.Errorf("NAMESPACE recorded %d times as %s, want once: %v", n, tc.outcome, rec.cmds)
			}

			p := &Preflight{Users: testUsers(1), IMAP: &ep}
			found, err := p.Check(context.Background())
			if err != nil {
				t.Fatalf("preflight: %v", err)
			}
			if found.Incomplete != "" || len(found.Users) != 1 {
				t.Fatalf("look %+v, want user1 looked at", found)
			}
			if u := found.Users[0]; !u.NamespaceRefused || u.Messages() != 2 || u.Listed < 2 {
				t.Errorf("user1 %+v, want NAMESPACE refused and 2 messages in 2 folders", u)
			}
		})
	}
}
