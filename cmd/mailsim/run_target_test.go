package main

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/scenarios"
)

// TestOpenEmbeddedRateLimit checks that the scenario's server: block
// reaches the embedded server: its commands go through the limit (and are
// counted there) only when the scenario sets one.
func TestOpenEmbeddedRateLimit(t *testing.T) {
	const base = "version: 1\nusers: {count: 1}\ngroups: [{name: g, devices: [pc-imap]}]\nbehaviors: {b: {}}\n"
	tests := []struct {
		name    string
		src     string
		granted int64
	}{
		{"no limit", base, 0},
		{"limit", base + "server: {max_commands_per_second: 50}\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := scenarios.Parse("s.yaml", []byte(tt.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tg, err := openEmbedded(plan, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer tg.close()
			c, err := net.DialTimeout("tcp", tg.endpoints.IMAP.Addr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for _, cmd := range []string{"", "a1 NOOP", "a2 LOGOUT"} { // "": the greeting
				if cmd != "" {
					if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
						t.Fatal(err)
					}
				}
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("after %q: %v", cmd, err)
					}
					if cmd == "" || strings.HasPrefix(line, cmd[:3]) {
						break
					}
				}
			}
			if got := tg.embedded.LimiterStats().Granted; got != tt.granted {
				t.Errorf("%d commands went through the limit, want %d", got, tt.granted)
			}
		})
	}
}
