package clients

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
)

// shapeRecorder is a c2Recorder that is also a transport.ShapeMeter: it
// keeps, for each command of one connection at a time, how many writes
// the network shaping held back since the command before, and the delays
// the shaping reported.
type shapeRecorder struct {
	c2Recorder
	smu     sync.Mutex
	pending int      // shaped writes since the last command
	per     []string // "CMD×n": a command and the shaped writes before its end
	delays  map[time.Duration]int
}

func (r *shapeRecorder) Command(ev CommandEvent) {
	r.c2Recorder.Command(ev)
	r.smu.Lock()
	defer r.smu.Unlock()
	r.per = append(r.per, fmt.Sprintf("%s×%d", ev.Command, r.pending))
	r.pending = 0
}

func (r *shapeRecorder) ShapedWrite(_ string, d time.Duration) {
	r.smu.Lock()
	defer r.smu.Unlock()
	r.pending++
	if r.delays == nil {
		r.delays = make(map[time.Duration]int)
	}
	r.delays[d]++
}

var _ transport.ShapeMeter = (*shapeRecorder)(nil)

// TestSMTPSubmitterShaped: a submission on a shaped network
// (SMTPOptions.Network, the sending device's profile's) to the embedded
// server holds back every command's writes by the latency, as the
// device's IMAP and POP3 connections are: each command but CONNECT (the
// greeting, which the client writes nothing for) ends after a write the
// shaping held back the latency — one, and DATA two: the command, and the
// message data in one write (transport.Conn.Cork), not one a 4 KiB
// piece; STARTTLS its EHLO, its command and the TLS handshake's.
// Unshaped, nothing is held back.
func TestSMTPSubmitterShaped(t *testing.T) {
	const latency = 2 * time.Millisecond
	tests := []struct {
		name string
		tls  transport.TLSMode
		nw   transport.Network
		want string // each command with the writes held back before its end
	}{
		{"unshaped", transport.TLSStartTLS, transport.Network{},
			"CONNECT×0 STARTTLS×0 EHLO×0 AUTH×0 MAIL×0 RCPT×0 DATA×0 QUIT×0"},
		{"latency", transport.TLSNone, transport.Network{Latency: latency},
			"CONNECT×0 EHLO×1 AUTH×1 MAIL×1 RCPT×1 DATA×2 QUIT×1"},
		{"latency starttls", transport.TLSStartTLS, transport.Network{Latency: latency, DisconnectEvery: time.Hour},
			"CONNECT×0 STARTTLS×n EHLO×1 AUTH×1 MAIL×1 RCPT×1 DATA×2 QUIT×1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmbedded(t)
			rec := &shapeRecorder{}
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: e.addrs.SMTP, TLS: tc.tls}, SMTPOptions{
				Username: "alice", Password: "secret", TLS: e.cliTLS, Recorder: rec, Timeout: 5 * time.Second,
				Network: tc.nw, Clock: c2Clock()})
			g := mailgen.Generator{Domain: "example.com"}
			// 20 kB: five 4 KiB pieces of go-smtp's.
			m := g.New(rand.New(rand.NewPCG(1, 1)), "alice@example.com", []string{"bob@example.com"}, 20_000, true, time.Now())
			if err := sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com"}, m.Raw); err != nil {
				t.Fatalf("submit: %v", err)
			}
			if st, err := e.srv.UserState("bob"); err != nil || len(st.Messages) != 1 {
				t.Fatalf("bob has %v (%v), want the message", st.IDs(), err)
			}
			rec.smu.Lock()
			defer rec.smu.Unlock()
			got := slices.Clone(rec.per)
			for i, c := range got {
				// The TLS handshake's flights are crypto/tls's: at least one.
				if c != "STARTTLS×0" && strings.HasPrefix(c, "STARTTLS×") && tc.nw.Latency > 0 {
					got[i] = "STARTTLS×n"
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("shaped writes per command %v, want %s", rec.per, tc.want)
			}
			for d := range rec.delays {
				if d != tc.nw.Latency {
					t.Errorf("a write held back %v, want the latency %v (delays %v)", d, tc.nw.Latency, rec.delays)
				}
			}
		})
	}
}

// TestSMTPSubmitterDropped: a submission on a network that drops its
// connection (Network.DisconnectEvery) under a command the server has not
// answered yet fails with transport.ErrDropped; the command, and the login
// when it had not succeeded, count as dropped, not as the server's
// failure; nothing is sent after the drop (no QUIT, which would only count
// a second dropped command), as after a server's hang-up.
func TestSMTPSubmitterDropped(t *testing.T) {
	tests := []struct {
		stall  string // the command the server leaves unanswered ("." the end of the data)
		want   string // the commands recorded
		logins []transport.Outcome
	}{
		{"EHLO", "CONNECT:ok EHLO:dropped", []transport.Outcome{transport.OutcomeDropped}},
		{"AUTH", "CONNECT:ok EHLO:ok AUTH:dropped", []transport.Outcome{transport.OutcomeDropped}},
		{"MAIL", "CONNECT:ok EHLO:ok AUTH:ok MAIL:dropped", []transport.Outcome{transport.OutcomeOK}},
		{"RCPT", "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:dropped", []transport.Outcome{transport.OutcomeOK}},
		{"DATA", "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok DATA:dropped", []transport.Outcome{transport.OutcomeOK}},
		{".", "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok DATA:dropped", []transport.Outcome{transport.OutcomeOK}},
	}
	for _, tt := range tests {
		t.Run(tt.stall, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := serveLoopback(t, ln, func(c net.Conn) {
				r := bufio.NewReader(c)
				fmt.Fprintf(c, "220 fake\r\n")
				stall := func() { _, _ = r.ReadString(0) } // until the client's end
				for range 100 {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
					if verb == tt.stall {
						stall()
						return
					}
					switch verb {
					case "EHLO":
						fmt.Fprintf(c, "250-fake\r\n250 AUTH PLAIN\r\n")
					case "AUTH":
						fmt.Fprintf(c, "235 ok\r\n")
					case "DATA":
						fmt.Fprintf(c, "354 go on\r\n")
						for range 1000 {
							if l, err := r.ReadString('\n'); err != nil || l == ".\r\n" {
								break
							}
						}
						if tt.stall == "." {
							stall()
							return
						}
						fmt.Fprintf(c, "250 ok\r\n")
					default:
						fmt.Fprintf(c, "250 ok\r\n")
					}
				}
			})
			rec := &c2Recorder{}
			// A drop 6 s of simulated time after the connection opens:
			// 100 ms of wall time at 60×, while the server keeps the
			// command waiting for 10 s.
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr}, SMTPOptions{Username: "alice", Password: "x",
				Recorder: rec, Timeout: 5 * time.Second,
				Network: transport.Network{DisconnectEvery: 6 * time.Second}, Clock: c2Clock()})
			err = sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com"}, []byte("Subject: x\r\n\r\nx\r\n"))
			if !errors.Is(err, transport.ErrDropped) || transport.OutcomeOf(err) != transport.OutcomeDropped {
				t.Errorf("submission: %v, want it dropped", err)
			}
			if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq(tt.want)) {
				t.Errorf("commands %v, want %v", got, c2Seq(tt.want))
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if !reflect.DeepEqual(rec.logins, tt.logins) {
				t.Errorf("logins %v, want %v", rec.logins, tt.logins)
			}
			if n := rec.conns["smtp"]; n != 0 {
				t.Errorf("%d connections left open", n)
			}
		})
	}
}
