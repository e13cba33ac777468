package serverstate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

func TestSampleUsers(t *testing.T) {
	tests := []struct {
		n, k int
		want []int
	}{
		{0, 5, nil},
		{1, 5, []int{0}},
		{2, 5, []int{0, 1}},
		{5, 5, []int{0, 1, 2, 3, 4}},
		{10, 5, []int{0, 2, 4, 6, 9}},
		{1000, 5, []int{0, 249, 499, 749, 999}},
		{7, 1, []int{0}},
	}
	for _, tc := range tests {
		if got := sampleUsers(tc.n, tc.k); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("sampleUsers(%d, %d) = %v, want %v", tc.n, tc.k, got, tc.want)
		}
	}
}

// testUsers are n users user1…userN with password pw.
func testUsers(n int) []User {
	out := make([]User, n)
	for i := range out {
		out[i] = User{Username: fmt.Sprintf("user%d", i+1), Password: "pw"}
	}
	return out
}

// TestPreflightSamplesUsers checks the preflight logs in a sample of users
// across the population and names the missing ones.
func TestPreflightSamplesUsers(t *testing.T) {
	tests := []struct {
		name    string
		protos  []clients.Protocol
		missing []int
		want    string // "" no error, else the refused list
	}{
		{"imap all present", []clients.Protocol{clients.IMAP, clients.POP3}, []int{2, 8}, ""}, // not sampled
		{"imap sampled missing", []clients.Protocol{clients.IMAP}, []int{3, 10}, "2 of 5 sampled users: user3, user10"},
		{"pop3 sampled missing", []clients.Protocol{clients.POP3}, []int{1, 5, 7}, "3 of 5 sampled users: user1, user5, user7"},
		{"first user missing only", []clients.Protocol{clients.IMAP}, []int{1}, "login refused for user1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addrs, cliTLS := mailservertest.Start(t, mailservertest.Numbered(10, tc.missing...)...)
			p := embeddedPreflight(addrs, cliTLS, 10, tc.protos...)
			p.Delivery, p.LMTP = &transport.Endpoint{Addr: addrs.LMTP}, true
			_, err := p.Check(context.Background())
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrLoginRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrLoginRefused naming %q", err, tc.want)
			}
			if errors.Is(err, ErrUnreachable) {
				t.Errorf("err %v also says unreachable", err)
			}
		})
	}
}

// embeddedPreflight is the preflight of n users (testUsers) of the
// embedded server at addrs over protos, with STARTTLS.
func embeddedPreflight(addrs mailserver.Addrs, cliTLS *tls.Config, n int, protos ...clients.Protocol) *Preflight {
	p := &Preflight{TLS: cliTLS, Users: testUsers(n)}
	for _, proto := range protos {
		switch proto {
		case clients.IMAP:
			p.IMAP = &transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS}
		case clients.POP3:
			p.POP3 = &transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSStartTLS}
		}
	}
	return p
}

// resetter proxies connections to target, but resets the first resets
// connections at once. It counts the connections it accepted.
func resetter(t *testing.T, target string, resets int32) (addr string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = &atomic.Int32{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n := accepted.Add(1); n <= resets {
				_ = c.(*net.TCPConn).SetLinger(0)
				_ = c.Close()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String(), accepted
}

// TestPreflightRetries checks a reset connection is tried again, a bounded
// number of times, and that failures name their outcome.
func TestPreflightRetries(t *testing.T) {
	addrs, cliTLS := mailservertest.Start(t, mailservertest.Numbered(1)...)
	imapAt := func(ep transport.Endpoint, tlsConf *tls.Config) *Preflight {
		return &Preflight{IMAP: &ep, TLS: tlsConf, Users: testUsers(1)}
	}

	t.Run("first connection reset", func(t *testing.T) {
		addr, accepted := resetter(t, addrs.IMAP, 1)
		if _, err := imapAt(transport.Endpoint{Addr: addr}, nil).Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := accepted.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
	t.Run("always reset", func(t *testing.T) {
		addr, accepted := resetter(t, addrs.IMAP, 1000)
		_, err := imapAt(transport.Endpoint{Addr: addr}, nil).Check(context.Background())
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err %v, want ErrUnreachable", err)
		}
		if n := accepted.Load(); n != preflightTries {
			t.Errorf("%d connections, want %d", n, preflightTries)
		}
	})
	closedAddr := faketest.RefusedAddr(t)
	for _, tc := range []struct {
		name string
		ep   transport.Endpoint
		tls  *tls.Config
		want string
	}{
		{"closed port", transport.Endpoint{Addr: closedAddr}, nil, "(refused)"},
		{"untrusted certificate", transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, nil, "(tls)"},
		{"trusted certificate", transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, cliTLS, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := imapAt(tc.ep, tc.tls).Check(context.Background())
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrUnreachable with %s", err, tc.want)
			}
		})
	}
}

// TestCheckSampleSlowedAfterRefusal: logins that time out after the server
// refused one are told as held back by the server (Dovecot's auth
// penalty), not as a server out of reach; before any refusal a timeout is
// still the server's.
func TestCheckSampleSlowedAfterRefusal(t *testing.T) {
	users := testUsers(5)
	timeout := unreachable("imap", "127.0.0.1:1", fmt.Errorf("read: %w", os.ErrDeadlineExceeded))
	refused := fmt.Errorf("imap: %w for x", ErrLoginRefused)
	for _, tt := range []struct {
		name    string
		first   error
		results map[string]error
		want    []string
		not     string
	}{
		{"after the first user's refusal", refused, map[string]error{users[1].Username: refused},
			[]string{"login refused for 2 of 5", "logins not answered within 10s for " + users[2].Username + ", " + users[3].Username + ", " + users[4].Username}, "server unreachable"},
		{"no refusal", nil, map[string]error{users[1].Username: nil, users[2].Username: nil, users[3].Username: nil},
			[]string{"server unreachable (timeout)"}, "not answered"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSample(context.Background(), users, tt.first, func(user, _ string) error {
				if r, ok := tt.results[user]; ok {
					return r
				}
				return timeout
			})
			msg := fmt.Sprint(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, tt.not) {
				t.Errorf("error has %q:\n%s", tt.not, msg)
			}
		})
	}
}
