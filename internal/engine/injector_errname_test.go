package engine

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// TestInjectorErrorNamesServerOnce: a failed LMTP/SMTP session setup's
// error names the server once, however the setup failed. A greeting that
// never came read "lmtp ADDR: lmtp ADDR: greeting: no greeting within
// 300ms" before: transport's error named it and the injector again.
func TestInjectorErrorNamesServerOnce(t *testing.T) {
	tests := []struct {
		name  string
		serve func(c net.Conn, r *bufio.Reader) // nil: a closed port
		want  string                            // after "lmtp ADDR: "
	}{
		{"closed port", nil, "dial tcp"},
		{"no greeting", func(c net.Conn, r *bufio.Reader) { _, _ = r.ReadString(0) }, "greeting: no greeting within 300ms"},
		{"closed before the greeting", func(c net.Conn, r *bufio.Reader) {}, "greeting"},
		{"greeting refused", func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "554 5.3.2 go away\r\n")
			_, _ = r.ReadString(0)
		}, "554"},
		{"garbage greeting", func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "hello there\r\n")
			_, _ = r.ReadString(0)
		}, "greeting"},
		{"LHLO refused", func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "220 fake\r\n")
			_, _ = r.ReadString('\n')
			fmt.Fprintf(c, "554 5.7.1 go away\r\n")
			_, _ = r.ReadString(0)
		}, "554"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := scenarios.Delivery{Protocol: scenarios.DeliverLMTP, TLS: transport.TLSNone}
			if tt.serve == nil {
				dl.Addr = faketest.RefusedAddr(t)
			} else {
				dl.Addr = startFakeLMTP(t, tt.serve)
			}
			e, _ := newTestInjector(t, dl)
			e.inj.timeout = 10 * time.Second
			if tt.name == "no greeting" {
				e.inj.timeout = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sc, err := e.inj.dialSession(ctx)
			if err == nil {
				sc.close()
				t.Fatal("the session opened")
			}
			prefix := "lmtp " + dl.Addr + ": "
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || len(regexp.MustCompile(`(lmtp|smtp|imap|pop3) `+regexp.QuoteMeta(dl.Addr)+`: `).FindAllString(msg, -1)) != 1 || !strings.Contains(msg, tt.want) {
				t.Errorf("err %q, want %q, the server named once, then %q", msg, prefix, tt.want)
			}
		})
	}
}
