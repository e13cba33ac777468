package serverstate

import (
	"context"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// testRecorder keeps login attempts as "protocol:outcome", counts
// commands by "protocol COMMAND" and by "protocol COMMAND:outcome".
type testRecorder struct {
	clients.DiscardRecorder
	mu     sync.Mutex
	logins []string
	cmds   map[string]int
}

func (r *testRecorder) Login(protocol string, o transport.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logins = append(r.logins, protocol+":"+string(o))
}

func (r *testRecorder) Command(ev clients.CommandEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmds == nil {
		r.cmds = map[string]int{}
	}
	r.cmds[ev.Protocol+" "+ev.Command]++
	r.cmds[ev.Protocol+" "+ev.Command+":"+string(ev.Outcome)]++
}

func (r *testRecorder) count(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmds[k]
}

// TestIMAPReaderLoginOutcomes checks the state reader counts each login
// attempt once with the outcome of its cause.
func TestIMAPReaderLoginOutcomes(t *testing.T) {
	addrs, cliTLS := mailservertest.Start(t, mailservertest.Numbered(1)...)
	closed := faketest.RefusedAddr(t)
	tests := []struct {
		name string
		ep   transport.Endpoint
		pass string
		want transport.Outcome
	}{
		{"ok", transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS}, "pw", transport.OutcomeOK},
		{"wrong password", transport.Endpoint{Addr: addrs.IMAP}, "wrong", transport.OutcomeAuth},
		{"closed port", transport.Endpoint{Addr: closed}, "pw", transport.OutcomeRefused},
		{"untrusted certificate", transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, "pw", transport.OutcomeTLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &testRecorder{}
			tr := &IMAPReader{Endpoint: tc.ep, Password: func(string) string { return tc.pass }, Recorder: rec, Timeout: 5 * time.Second}
			if tc.want == transport.OutcomeOK {
				tr.TLS = cliTLS
			}
			_, err := tr.UserState(context.Background(), "user1")
			if (err == nil) != (tc.want == transport.OutcomeOK) {
				t.Fatalf("err %v", err)
			}
			if want := []string{"imap:" + string(tc.want)}; !reflect.DeepEqual(rec.logins, want) {
				t.Errorf("logins %v, want %v", rec.logins, want)
			}
		})
	}
}

// TestIMAPReaderNoGreeting reads a user on a server that accepts and never
// greets: the read fails within its timeout, as a timeout, and its error
// says no greeting came within it. It said "connection closed before
// greeting (use of closed network connection)" before: the read's own
// deadline closed the connection under the wait, and the login counted as
// an error.
func TestIMAPReaderNoGreeting(t *testing.T) {
	srv := faketest.Start(t, faketest.Options{ConnTimeout: time.Minute}, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	rec := &testRecorder{}
	tr := &IMAPReader{Endpoint: transport.Endpoint{Addr: srv.Addr}, Password: func(string) string { return "pw" }, Recorder: rec, Timeout: 300 * time.Millisecond}
	_, err := tr.UserState(context.Background(), "user1")
	// The error names the server and the step once.
	if err == nil || !strings.HasPrefix(err.Error(), "auditor imap "+srv.Addr+": greeting: no greeting within 300ms") || strings.Contains(err.Error(), "closed") {
		t.Errorf("err %v, want no greeting within 300ms", err)
	} else {
		t.Log(err)
	}
	if want := []string{"imap:timeout"}; !reflect.DeepEqual(rec.logins, want) {
		t.Errorf("logins %v, want %v", rec.logins, want)
	}
}
