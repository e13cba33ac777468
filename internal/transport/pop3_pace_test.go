package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
)

// TestPaceBound checks the deadline of a multi-line POP3 reply's reads:
// the timeout after now while the reply keeps POP3MinRate on average,
// the reply's start plus the timeout plus its bytes' time at that pace
// (plus the network's hold) once it falls behind.
func TestPaceBound(t *testing.T) {
	start := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	const timeout = 30 * time.Second
	tests := []struct {
		name  string
		after time.Duration // now - start
		total int64
		held  time.Duration
		want  time.Duration // the deadline - start
		cut   bool
	}{
		{"fast reply", time.Second, 64 << 20, 0, time.Second + timeout, false},
		{"at the pace", 100 * time.Second, 100 * POP3MinRate, 0, 100*time.Second + timeout, false},
		{"drip", 100 * time.Second, 10 * POP3MinRate, 0, 10*time.Second + timeout, true},
		{"drip held by the network", 100 * time.Second, 10 * POP3MinRate, 90 * time.Second, 100*time.Second + timeout, false},
		{"nothing yet", 5 * time.Second, 0, 0, timeout, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := paceBound{start: start, timeout: timeout}
			got := b.next(start.Add(tc.after), tc.total, tc.held)
			if got.Sub(start) != tc.want || b.cut != tc.cut {
				t.Errorf("deadline start+%v (cut %v), want start+%v (cut %v)", got.Sub(start), b.cut, tc.want, tc.cut)
			}
		})
	}
}

// TestPOP3SlowDrip: a server that answers RETR with a line of 1 KB every
// 200 ms, well inside the connection's timeout of 1.2 s, but at 5 KB/s,
// fails the command with a timeout soon after the reply's start plus the
// timeout (POP3MinRate), saying why; before, the deadline moved on with
// every second of lines and the reply of 4 s ended in success
// ("Multi: <nil>"), as one of an hour would have.
func TestPOP3SlowDrip(t *testing.T) {
	const lines = 20
	line := strings.Repeat("x", 1000)
	addr := faketest.Start(t, faketest.Options{}, func(c net.Conn) {
		_, _ = c.Write([]byte("+OK fake\r\n"))
		br := bufio.NewReader(c)
		if _, err := br.ReadString('\n'); err != nil {
			return
		}
		_, _ = c.Write([]byte("+OK\r\n"))
		tick := time.NewTicker(200 * time.Millisecond) // the server's pace: the fault
		defer tick.Stop()
		for i := range lines {
			<-tick.C
			if _, err := fmt.Fprintf(c, "%d %s\r\n", i, line); err != nil {
				return
			}
		}
		_, _ = c.Write([]byte(".\r\n"))
	}).Addr
	conn, err := Dial(context.Background(), Config{Protocol: "pop3", Endpoint: Endpoint{Addr: addr}, Timeout: 1200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	p, err := OpenPOP3(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	err = p.Multi("RETR", "RETR 1", func([]byte) error { got++; return nil })
	if !errors.Is(err, os.ErrDeadlineExceeded) || NetOutcome(err) != OutcomeTimeout {
		t.Fatalf("Multi: %v (outcome %v), want a timeout", err, NetOutcome(err))
	}
	if !strings.Contains(err.Error(), "slower than") {
		t.Errorf("error %q does not say the reply was too slow", err)
	}
	if got >= lines {
		t.Errorf("%d lines read, the reply was read to its end", got)
	}
}
