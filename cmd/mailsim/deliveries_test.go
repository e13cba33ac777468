package main

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailserver"
)

// brokenLMTP is an in-process LMTP server on 127.0.0.1:0 that answers
// every RCPT with rcptReply. With closeAfterFirst it stops listening after
// its first connection (mailsim's pre-run check), so that every delivery
// of the run finds the port closed. Everything ends with the test.
func brokenLMTP(t *testing.T, rcptReply string, closeAfterFirst bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if closeAfterFirst {
				ln.Close()
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				r := bufio.NewReaderSize(c, 4096)
				fmt.Fprintf(c, "220 broken LMTP\r\n")
				for n := 0; n < 10000; n++ {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "LHLO"):
						fmt.Fprintf(c, "250 broken\r\n")
					case strings.HasPrefix(cmd, "RCPT"):
						fmt.Fprintf(c, "%s\r\n", rcptReply)
					case cmd == "QUIT":
						fmt.Fprintf(c, "221 bye\r\n")
						return
					default: // MAIL, RSET, NOOP
						fmt.Fprintf(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// realIMAP starts the embedded server with user1..user2 (password pass)
// and returns its address map.
func realIMAP(t *testing.T) mailserver.Addrs {
	t.Helper()
	srv := mailserver.New(mailserver.Options{})
	t.Cleanup(func() { srv.Close() })
	for _, u := range []string{"user1", "user2"} {
		if err := srv.AddUser(u, "pass"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// deliveryScenario runs two IMAP users for 2 s against TARGET, with inbound
// mail about every simulated 20 s; EXTRA is appended.
func deliveryScenario(target, extra string) string {
	return `
version: 1
name: deliveries
seed: 3
duration: 2s
time_scale: 60
settle: 0s
target:
` + target + `
users: {count: 2, username: "user{n}", password: pass}
groups: [{name: g, share: 100%, devices: [pc-imap], behavior: b}]
behaviors:
  b:
    inbound: {interval: 20s, size: {min: 1KiB, max: 2KiB}}
` + extra
}

// TestRunDeliveryFailures runs whole scenarios whose deliveries fail (an
// LMTP that answers 451 to every RCPT, one that refuses connections after
// the pre-run check): the report counts attempted and failed deliveries by
// reason, delivery thresholds evaluate, and the run exits 1 with the
// validity reason even without a threshold, unless validity_checks: false.
func TestRunDeliveryFailures(t *testing.T) {
	t.Parallel()
	addrs := realIMAP(t)
	imap := fmt.Sprintf("  imap: {addr: %q, tls: none}\n", addrs.IMAP)
	tests := []struct {
		name     string
		lmtp     string
		extra    string
		reason   string // the failure reason of every delivery
		code     int
		validity bool // the report's validity.ok
		summary  []string
	}{
		{"451 to every RCPT", brokenLMTP(t, "451 4.3.0 try again later", false), "", "4xx", exitThresholds, false,
			[]string{"validity: INVALID run", "were not delivered (4xx "}},
		{"connection refused", brokenLMTP(t, "250 ok", true), "", "refused", exitThresholds, false,
			[]string{"validity: INVALID run", "were not delivered (refused "}},
		{"550 with a threshold on deliveries", brokenLMTP(t, "550 5.1.1 no such user", false),
			"thresholds: [\"delivery_failed{reason=5xx} == 0\", \"delivery_failure_rate < 1%\"]\n", "5xx", exitThresholds, false,
			[]string{"FAIL  delivery_failed{reason=5xx} == 0", "FAIL  delivery_failure_rate < 1%"}},
		{"checks off", brokenLMTP(t, "451 4.3.0 try again later", false), "validity_checks: false\n", "4xx", exitOK, false,
			[]string{"validity: checks off (validity_checks: false)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeScenario(t, deliveryScenario(imap+fmt.Sprintf("  delivery: {protocol: lmtp, addr: %q}\n", tt.lmtp), tt.extra))
			js := filepath.Join(t.TempDir(), "r.json")
			res := mailsim("run", path, "--quiet", "--report", js)
			if res.code != tt.code {
				t.Fatalf("want exit %d, got %s", tt.code, res)
			}
			for _, w := range tt.summary {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("summary lacks %q:\n%s", w, res.stdout)
				}
			}
			r := readReport(t, js)
			attempted := num(t, r, "messages.delivery_attempted")
			if attempted == 0 {
				t.Fatalf("no delivery attempted:\n%s", res)
			}
			if failed := num(t, r, "messages.delivery_failed"); failed != attempted {
				t.Errorf("delivery_failed %v, want every attempted delivery (%v)", failed, attempted)
			}
			if n := num(t, r, "messages.delivery_failed_by_reason."+tt.reason); n != attempted {
				t.Errorf("delivery_failed_by_reason.%s = %v, want %v", tt.reason, n, attempted)
			}
			if n := num(t, r, "messages.delivered"); n != 0 {
				t.Errorf("messages.delivered = %v, want 0", n)
			}
			if ok, _ := field(r, "validity.ok"); ok != tt.validity {
				t.Errorf("validity.ok = %v, want %v", ok, tt.validity)
			}
			if problems, _ := field(r, "validity.problems"); !strings.Contains(fmt.Sprint(problems), "were not delivered") {
				t.Errorf("validity.problems = %v", problems)
			}
		})
	}
}

// TestRunIMAPAppendWithoutAddr runs with delivery imap-append and no
// address: the injector delivers through the IMAP endpoint, and an empty
// metrics_url means no exporter.
func TestRunIMAPAppendWithoutAddr(t *testing.T) {
	t.Parallel()
	addrs := realIMAP(t)
	target := fmt.Sprintf("  imap: {addr: %q, tls: none}\n  delivery: {protocol: imap-append}\n  metrics_url: \"\"\n", addrs.IMAP)
	path := writeScenario(t, deliveryScenario(target, "thresholds: [\"delivery_failed == 0\", \"login_failure_rate{protocol=imap} == 0\"]\n"))
	js := filepath.Join(t.TempDir(), "r.json")
	res := mailsim("run", path, "--quiet", "--report", js)
	if res.code != exitOK {
		t.Fatalf("want exit 0, got %s", res)
	}
	r := readReport(t, js)
	if a, d := num(t, r, "messages.delivery_attempted"), num(t, r, "messages.delivered"); a == 0 || d != a {
		t.Errorf("attempted %v, delivered %v; want every delivery made by APPEND", a, d)
	}
	if ok, _ := field(r, "validity.ok"); ok != true {
		t.Errorf("validity.ok = %v", ok)
	}
}
